"""Meta's marketing rules before sending: a project's marketing_region_policy, a message's
marketing_deferrals (issue 17, part 3)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('marketing_region_policy', sa.String(length=10), nullable=False, server_default='refuse'))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('marketing_deferrals', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('marketing_deferrals')
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('marketing_region_policy')
