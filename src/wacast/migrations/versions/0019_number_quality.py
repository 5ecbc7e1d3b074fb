"""guardrails: a template's category hold, a number's quality over time, the portfolio's limit

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What Meta last said of each business number (phone_number_quality_update).
    op.create_table(
        'number_qualities',
        sa.Column('display_phone_number', sa.String(length=21), nullable=False),
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('quality', sa.String(length=20), nullable=False),
        sa.Column('flagged', sa.Boolean(), nullable=False),
        sa.Column('current_limit', sa.String(length=30), nullable=True),
        sa.Column('last_event', sa.String(length=30), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('display_phone_number', name=op.f('pk_number_qualities')),
    )
    op.create_index(op.f('ix_number_qualities_waba_id'), 'number_qualities', ['waba_id'], unique=False)
    # Each event: the number's rating over time.
    op.create_table(
        'number_quality_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('display_phone_number', sa.String(length=21), nullable=False),
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=30), nullable=False),
        sa.Column('rating', sa.String(length=20), nullable=False),
        sa.Column('previous_rating', sa.String(length=20), nullable=True),
        sa.Column('current_limit', sa.String(length=30), nullable=True),
        sa.Column('old_limit', sa.String(length=30), nullable=True),
        sa.Column('portfolio_limit', sa.String(length=30), nullable=True),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_number_quality_events')),
    )
    op.create_index(op.f('ix_number_quality_events_display_phone_number'), 'number_quality_events',
                    ['display_phone_number'], unique=False)
    # The business portfolio's messaging limit, as reported through each WABA.
    op.create_table(
        'portfolio_limits',
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('tier', sa.String(length=30), nullable=False),
        sa.Column('daily_limit', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('waba_id', name=op.f('pk_portfolio_limits')),
    )
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('on_category_change', sa.String(length=10), nullable=False, server_default='hold'))
        batch.add_column(sa.Column('on_quality_drop', sa.String(length=10), nullable=False, server_default='slow'))
        batch.add_column(sa.Column('number_quality', sa.String(length=20), nullable=True))
    with op.batch_alter_table('templates') as batch:
        batch.add_column(sa.Column('category_hold', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('category_hold_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('templates') as batch:
        batch.drop_column('category_hold_at')
        batch.drop_column('category_hold')
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('number_quality')
        batch.drop_column('on_quality_drop')
        batch.drop_column('on_category_change')
    op.drop_table('portfolio_limits')
    op.drop_index(op.f('ix_number_quality_events_display_phone_number'), table_name='number_quality_events')
    op.drop_table('number_quality_events')
    op.drop_index(op.f('ix_number_qualities_waba_id'), table_name='number_qualities')
    op.drop_table('number_qualities')
