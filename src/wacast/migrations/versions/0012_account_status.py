"""account_update events: restrictions and ban states per WABA

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    # What Meta last said of each WhatsApp Business Account (whatsapp/account_policy.py).
    op.create_table(
        'account_statuses',
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('restrictions', JSON, nullable=False),
        sa.Column('ban_state', sa.String(length=30), nullable=True),
        sa.Column('ban_date', sa.String(length=100), nullable=True),
        sa.Column('ban_since', sa.DateTime(), nullable=True),
        sa.Column('lifecycle', sa.String(length=30), nullable=True),
        sa.Column('lifecycle_since', sa.DateTime(), nullable=True),
        sa.Column('violation_type', sa.String(length=60), nullable=True),
        sa.Column('violation_at', sa.DateTime(), nullable=True),
        sa.Column('last_event', sa.String(length=60), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('waba_id', name=op.f('pk_account_statuses')),
    )
    # Every account_update event received, informational ones included.
    op.create_table(
        'account_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=60), nullable=False),
        sa.Column('known', sa.Boolean(), nullable=False),
        sa.Column('effect', sa.String(length=30), nullable=False),
        sa.Column('summary', sa.String(length=500), nullable=False),
        sa.Column('phone_number', sa.String(length=21), nullable=True),
        sa.Column('detail', JSON, nullable=True),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_events')),
    )
    op.create_index(op.f('ix_account_events_waba_id'), 'account_events', ['waba_id'], unique=False)
    # What of it holds a project's sends (the dispatcher reads it with the lease refresh).
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('account_hold', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('account_hold_until', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('account_hold_until')
        batch.drop_column('account_hold')
    op.drop_index(op.f('ix_account_events_waba_id'), table_name='account_events')
    op.drop_table('account_events')
    op.drop_table('account_statuses')
