"""billing: rate cards and their rates, each message's pricing, broadcast estimates, budgets

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

UUID = sa.Uuid()
WHEN = wacast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        'rate_cards',
        sa.Column('id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('effective_from', WHEN, nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_rate_cards_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rate_cards')),
        sa.UniqueConstraint('project_id', 'version', name=op.f('uq_rate_cards_project_id_version')),
    )
    op.create_index('ix_rate_cards_effective', 'rate_cards', ['project_id', 'effective_from'])
    op.create_table(
        'rate_card_rates',
        sa.Column('rate_card_id', UUID, nullable=False),
        sa.Column('category', sa.String(length=40), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('price_micros', sa.BigInteger(), nullable=False),
        sa.Column('region', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['rate_card_id'], ['rate_cards.id'], name=op.f('fk_rate_card_rates_rate_card_id_rate_cards'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('rate_card_id', 'category', 'country', name=op.f('pk_rate_card_rates')),
    )
    op.create_table(
        'message_pricing',
        sa.Column('message_id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('campaign_id', UUID, nullable=True),
        sa.Column('broadcast_id', UUID, nullable=True),
        sa.Column('category', sa.String(length=40), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=True),
        sa.Column('pricing_model', sa.String(length=20), nullable=True),
        sa.Column('billable_flag', sa.Boolean(), nullable=True),
        sa.Column('billable', sa.Boolean(), nullable=False),
        sa.Column('country', sa.String(length=2), nullable=False),
        sa.Column('priced_at', WHEN, nullable=False),
        sa.Column('recorded_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_pricing_message_id_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_message_pricing_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', name=op.f('pk_message_pricing')),
    )
    op.create_index('ix_message_pricing_project', 'message_pricing', ['project_id', 'priced_at'])
    op.create_index('ix_message_pricing_campaign', 'message_pricing', ['campaign_id', 'priced_at'])
    op.create_index('ix_message_pricing_broadcast', 'message_pricing', ['broadcast_id'])
    op.create_table(
        'broadcast_spend',
        sa.Column('campaign_id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('messages', sa.Integer(), nullable=False),
        sa.Column('amount_micros', sa.BigInteger(), nullable=False),
        sa.Column('unpriced', sa.Integer(), nullable=False),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_broadcast_spend_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_broadcast_spend_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', name=op.f('pk_broadcast_spend')),
    )
    op.create_table(
        'budgets',
        sa.Column('id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('scope', sa.String(length=60), nullable=False),
        sa.Column('campaign_id', UUID, nullable=True),
        sa.Column('amount_micros', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('warned_period', sa.String(length=20), nullable=True),
        sa.Column('exceeded_period', sa.String(length=20), nullable=True),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_budgets_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_budgets_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_budgets')),
        sa.UniqueConstraint('project_id', 'scope', name=op.f('uq_budgets_project_id_scope')),
    )


def downgrade() -> None:
    op.drop_table('budgets')
    op.drop_table('broadcast_spend')
    op.drop_table('message_pricing')
    op.drop_table('rate_card_rates')
    op.drop_table('rate_cards')
