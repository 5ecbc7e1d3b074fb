"""tracked links on the send path: a template's tracked URL buttons and their destinations;
api_keys.scope wide enough for `conversions`

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('templates') as batch:
        batch.add_column(sa.Column('tracked_buttons', JSON, nullable=True))
    with op.batch_alter_table('api_keys') as batch:
        batch.alter_column('scope', existing_type=sa.String(length=10), type_=sa.String(length=20), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.alter_column('scope', existing_type=sa.String(length=20), type_=sa.String(length=10), existing_nullable=False)
    with op.batch_alter_table('templates') as batch:
        batch.drop_column('tracked_buttons')
