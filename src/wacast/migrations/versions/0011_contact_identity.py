"""contacts identified by phone, BSUID or username; former numbers after a number change

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A message may go to a BSUID ("US.13491208655302741918") instead of an E.164 number.
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('destination', existing_type=sa.String(length=20), type_=sa.String(length=100), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('destination', existing_type=sa.String(length=100), type_=sa.String(length=20), existing_nullable=False)
