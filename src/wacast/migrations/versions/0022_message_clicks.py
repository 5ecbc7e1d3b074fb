"""message_clicks: each message's first counted click, the key that makes `message.clicked`
fire once per message whichever batch or server process records the tap

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

UUID = sa.Uuid()
WHEN = wacast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        'message_clicks',
        sa.Column('message_id', UUID, nullable=False),
        sa.Column('clicked_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_clicks_message_id_messages'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('message_id', name=op.f('pk_message_clicks')),
    )
    # The messages clicked before this table: their first counted click.
    op.execute("INSERT INTO message_clicks (message_id, clicked_at) SELECT message_id, MIN(clicked_at) FROM link_clicks"
               " WHERE counted AND message_id IS NOT NULL GROUP BY message_id")


def downgrade() -> None:
    op.drop_table('message_clicks')
