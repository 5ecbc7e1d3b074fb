"""dashboard: contact CSV imports (progress and per-row errors)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), 'postgresql')
UTC = wacast.db.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'contact_imports',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('created_by', sa.Uuid(), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('total_rows', sa.Integer(), nullable=False),
        sa.Column('processed_rows', sa.Integer(), nullable=False),
        sa.Column('created_count', sa.Integer(), nullable=False),
        sa.Column('updated_count', sa.Integer(), nullable=False),
        sa.Column('error_count', sa.Integer(), nullable=False),
        sa.Column('errors', JSON, nullable=False),
        sa.Column('created_tags', JSON, nullable=False),
        sa.Column('created_attributes', JSON, nullable=False),
        sa.Column('lease_until', UTC(), nullable=True),
        sa.Column('created_at', UTC(), nullable=False),
        sa.Column('finished_at', UTC(), nullable=True),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_contact_imports_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_contact_imports_created_by_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_imports')),
    )
    op.create_index(op.f('ix_contact_imports_project_id'), 'contact_imports', ['project_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_contact_imports_project_id'), table_name='contact_imports')
    op.drop_table('contact_imports')
