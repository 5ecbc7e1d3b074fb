"""clicks and conversions: tracked links, their clicks, conversions, a campaign's tracking settings

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wacast.db.base

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
UUID = sa.Uuid()
WHEN = wacast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        'tracked_links',
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('campaign_id', UUID, nullable=True),
        sa.Column('message_id', UUID, nullable=True),
        sa.Column('contact_id', UUID, nullable=True),
        sa.Column('button_index', sa.Integer(), nullable=True),
        sa.Column('destination', sa.Text(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_tracked_links_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_tracked_links_campaign_id_campaigns'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_tracked_links_message_id_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_tracked_links_contact_id_contacts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token', name=op.f('pk_tracked_links')),
    )
    op.create_index('ix_tracked_links_message', 'tracked_links', ['message_id'])
    op.create_table(
        'link_clicks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('token', sa.String(length=32), nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('campaign_id', UUID, nullable=True),
        sa.Column('message_id', UUID, nullable=True),
        sa.Column('contact_id', UUID, nullable=True),
        sa.Column('button_index', sa.Integer(), nullable=True),
        sa.Column('clicked_at', WHEN, nullable=False),
        sa.Column('client_class', sa.String(length=20), nullable=False),
        sa.Column('counted', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_link_clicks_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_link_clicks_campaign_id_campaigns'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_link_clicks_message_id_messages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_link_clicks_contact_id_contacts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_link_clicks')),
    )
    op.create_index('ix_link_clicks_message', 'link_clicks', ['message_id', 'counted'])
    op.create_index('ix_link_clicks_campaign', 'link_clicks', ['campaign_id', 'counted'])
    op.create_index('ix_link_clicks_token', 'link_clicks', ['token', 'clicked_at'])
    op.create_table(
        'conversions',
        sa.Column('id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('contact_id', UUID, nullable=True),
        sa.Column('message_id', UUID, nullable=True),
        sa.Column('campaign_id', UUID, nullable=True),
        sa.Column('touch', sa.String(length=20), nullable=False),
        sa.Column('goal', sa.String(length=100), nullable=False),
        sa.Column('value', sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=True),
        sa.Column('order_id', sa.String(length=200), nullable=True),
        sa.Column('occurred_at', WHEN, nullable=False),
        sa.Column('recorded_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_conversions_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_conversions_contact_id_contacts'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_conversions_message_id_messages'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_conversions_campaign_id_campaigns'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_conversions')),
        sa.UniqueConstraint('project_id', 'order_id', name=op.f('uq_conversions_project_id_order_id')),
    )
    op.create_index('ix_conversions_campaign', 'conversions', ['campaign_id', 'goal'])
    op.create_index('ix_conversions_message', 'conversions', ['message_id'])
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('tracking', JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('tracking')
    op.drop_table('conversions')
    op.drop_table('link_clicks')
    op.drop_table('tracked_links')
