"""broadcasts: segments, send policies, CSV recipients, broadcast columns on campaigns and messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql')
UTC = wacast.db.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'segments',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('filter', JSON, nullable=False),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('updated_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_segments_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
        sa.UniqueConstraint('project_id', 'name', name=op.f('uq_segments_project_id_name')),
    )
    op.create_table(
        'send_policies',
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('quiet_start', sa.String(length=5), nullable=True),
        sa.Column('quiet_end', sa.String(length=5), nullable=True),
        sa.Column('frequency_cap_count', sa.Integer(), nullable=True),
        sa.Column('frequency_cap_days', sa.Integer(), nullable=True),
        sa.Column('messaging_tier', sa.Integer(), nullable=True),
        sa.Column('updated_at', UTC(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_send_policies_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', name=op.f('pk_send_policies')),
    )
    op.create_table(
        'broadcast_recipients',
        sa.Column('campaign_id', sa.Uuid(), nullable=False),
        sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('contact_id', sa.Uuid(), nullable=False),
        sa.Column('values', JSON, nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_broadcast_recipients_campaign_id_campaigns'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_broadcast_recipients_contact_id_contacts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('campaign_id', 'position', name=op.f('pk_broadcast_recipients')),
    )
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('segment_id', sa.Uuid(), nullable=True))
        batch.add_column(sa.Column('broadcast', JSON, nullable=True))
        batch.add_column(sa.Column('send_at', UTC(), nullable=True))
        batch.add_column(sa.Column('checkpoint', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('total_count', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('queued_count', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('skipped_count', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('skip_reasons', JSON, nullable=True))
        batch.add_column(sa.Column('status_reason', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('started_at', UTC(), nullable=True))
        batch.add_column(sa.Column('fanout_done_at', UTC(), nullable=True))
        batch.add_column(sa.Column('finished_at', UTC(), nullable=True))
        batch.add_column(sa.Column('lease_holder', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('lease_until', UTC(), nullable=True))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('broadcast_id', sa.Uuid(), nullable=True))
        batch.create_index('uq_messages_broadcast_contact', ['broadcast_id', 'contact_id'], unique=True)
    op.create_index('ix_contacts_project_keyset', 'contacts', ['project_id', 'id'])


def downgrade() -> None:
    op.drop_index('ix_contacts_project_keyset', table_name='contacts')
    with op.batch_alter_table('messages') as batch:
        batch.drop_index('uq_messages_broadcast_contact')
        batch.drop_column('broadcast_id')
    with op.batch_alter_table('campaigns') as batch:
        for column in ('lease_until', 'lease_holder', 'finished_at', 'fanout_done_at', 'started_at', 'status_reason',
                       'skip_reasons', 'skipped_count', 'queued_count', 'total_count', 'checkpoint', 'send_at',
                       'broadcast', 'segment_id'):
            batch.drop_column(column)
    op.drop_table('broadcast_recipients')
    op.drop_table('send_policies')
    op.drop_table('segments')
