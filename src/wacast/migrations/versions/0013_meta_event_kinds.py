"""template rejection details and webhook fields counted by kind

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    # Meta's template events kept whole (whatsapp/template_events.py, templates/statuses.py).
    with op.batch_alter_table('templates') as batch:
        batch.add_column(sa.Column('rejection_info', JSON, nullable=True))
        batch.add_column(sa.Column('status_event', sa.String(length=30), nullable=True))
        batch.add_column(sa.Column('status_detail', sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column('status_changed_at', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('previous_category', sa.String(length=30), nullable=True))
        batch.add_column(sa.Column('category_notice', JSON, nullable=True))
        batch.add_column(sa.Column('previous_quality', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('components_update', JSON, nullable=True))
    # Every webhook field Meta sends, counted (whatsapp/event_kinds.py): one row per field.
    op.create_table(
        'meta_event_kinds',
        sa.Column('field', sa.String(length=100), nullable=False),
        sa.Column('handled', sa.Boolean(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_seen_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('field', name=op.f('pk_meta_event_kinds')),
    )


def downgrade() -> None:
    op.drop_table('meta_event_kinds')
    with op.batch_alter_table('templates') as batch:
        for column in ('components_update', 'previous_quality', 'category_notice', 'previous_category',
                       'status_changed_at', 'status_detail', 'status_event', 'rejection_info'):
            batch.drop_column(column)
