"""sandbox failures: a project's failure rule for the sandbox provider (rate, code, numbers, mode)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the project takes the WACAST_SANDBOX_FAIL_* default (whatsapp/sandbox_failures.py).
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('sandbox_failures', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('sandbox_failures')
