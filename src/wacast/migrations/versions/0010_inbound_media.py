"""media of inbound messages fetched from Meta, cached per project

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbound_media',
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('media_id', sa.String(length=200), nullable=False),
        sa.Column('mime_type', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('fetched_at', wacast.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_inbound_media_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'media_id', name=op.f('pk_inbound_media')),
    )
    op.create_index('ix_inbound_media_fetched', 'inbound_media', ['fetched_at'])


def downgrade() -> None:
    op.drop_index('ix_inbound_media_fetched', table_name='inbound_media')
    op.drop_table('inbound_media')
