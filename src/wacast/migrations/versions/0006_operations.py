"""operations: secrets at rest (encrypted access tokens), template sync time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A Fernet token is about 1.4 times its plaintext plus 80 bytes: TEXT holds any token.
    with op.batch_alter_table('projects') as batch:
        batch.alter_column('access_token', existing_type=sa.String(length=1024), type_=sa.Text(), existing_nullable=True)
        batch.add_column(sa.Column('templates_synced_at', wacast.db.base.UTCDateTime(), nullable=True))
    _encrypt_existing('projects', 'access_token')
    # The queue alone, for the scrape-time aggregate of /readyz and /metrics (the outbox keeps
    # every message ever sent; this index holds only the queued ones).
    op.create_index('ix_messages_queued', 'messages', ['project_id', 'created_at'],
                    postgresql_where=sa.text("status = 'queued'"), sqlite_where=sa.text("status = 'queued'"))


def _encrypt_existing(table: str, column: str) -> None:
    """Encrypt values stored in plaintext before this revision, with WACAST_SECRET_KEY."""
    from wacast.config import Settings
    from wacast.kit.crypto import SecretBox, is_encrypted

    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} <> ''")).all()
    pending = [(row[0], row[1]) for row in rows if not is_encrypted(row[1])]
    if not pending:
        return
    box = SecretBox(Settings().secret_keys)
    for row_id, value in pending:
        bind.execute(sa.text(f"UPDATE {table} SET {column} = :value WHERE id = :id"), {"value": box.encrypt(value), "id": row_id})


def downgrade() -> None:
    op.drop_index('ix_messages_queued', table_name='messages')
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('templates_synced_at')
        batch.alter_column('access_token', existing_type=sa.Text(), type_=sa.String(length=1024), existing_nullable=True)
