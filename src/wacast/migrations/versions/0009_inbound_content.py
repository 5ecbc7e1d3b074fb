"""inbound messages kept with their typed content, reactions apart from replies

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wacast.db.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('replies') as batch:
        batch.add_column(sa.Column('content', JSON, nullable=True))
        batch.add_column(sa.Column('media_id', sa.String(length=200), nullable=True))
    op.create_index('ix_replies_media', 'replies', ['project_id', 'media_id'])
    op.create_table(
        'message_reactions',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('contact_id', sa.Uuid(), nullable=False),
        sa.Column('message_id', sa.Uuid(), nullable=True),
        sa.Column('reacted_wamid', sa.String(length=200), nullable=False),
        sa.Column('emoji', sa.String(length=32), nullable=True),
        sa.Column('wamid', sa.String(length=200), nullable=False),
        sa.Column('reacted_at', wacast.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_message_reactions_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_message_reactions_contact_id_contacts'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_reactions_message_id_messages'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_reactions')),
        sa.UniqueConstraint('contact_id', 'reacted_wamid', name=op.f('uq_message_reactions_contact_id_reacted_wamid')),
    )
    op.create_index('ix_message_reactions_message', 'message_reactions', ['message_id'])


def downgrade() -> None:
    op.drop_table('message_reactions')
    op.drop_index('ix_replies_media', table_name='replies')
    with op.batch_alter_table('replies') as batch:
        batch.drop_column('media_id')
        batch.drop_column('content')
