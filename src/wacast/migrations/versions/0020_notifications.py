"""notifications: the warnings of a project (dashboard panel, customer webhook) and their email outbox

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-20
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wacast.db.base

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
UUID = sa.Uuid()
WHEN = wacast.db.base.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('link', sa.String(length=500), nullable=True),
        sa.Column('data', JSON, nullable=True),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('repeats', sa.Integer(), nullable=False),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('last_at', WHEN, nullable=False),
        sa.Column('read_at', WHEN, nullable=True),
        sa.Column('read_by', UUID, nullable=True),
        sa.Column('dismissed_at', WHEN, nullable=True),
        sa.Column('dismissed_by', UUID, nullable=True),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_notifications_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['read_by'], ['users.id'], name=op.f('fk_notifications_read_by_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['dismissed_by'], ['users.id'], name=op.f('fk_notifications_dismissed_by_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    op.create_index('ix_notifications_project_created', 'notifications', ['project_id', 'created_at'])
    op.create_index('ix_notifications_project_fingerprint', 'notifications', ['project_id', 'fingerprint', 'last_at'])
    op.create_table(
        'notification_emails',
        sa.Column('id', UUID, nullable=False),
        sa.Column('notification_id', UUID, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', WHEN, nullable=False),
        sa.Column('locked_until', WHEN, nullable=True),
        sa.Column('last_error', sa.String(length=1000), nullable=True),
        sa.Column('created_at', WHEN, nullable=False),
        sa.Column('sent_at', WHEN, nullable=True),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_notification_emails_notification_id_notifications'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_notification_emails_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_emails')),
    )
    op.create_index('ix_notification_emails_due', 'notification_emails', ['status', 'next_attempt_at'])
    op.create_index(op.f('ix_notification_emails_notification_id'), 'notification_emails', ['notification_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_notification_emails_notification_id'), table_name='notification_emails')
    op.drop_index('ix_notification_emails_due', table_name='notification_emails')
    op.drop_table('notification_emails')
    op.drop_index('ix_notifications_project_fingerprint', table_name='notifications')
    op.drop_index('ix_notifications_project_created', table_name='notifications')
    op.drop_table('notifications')
