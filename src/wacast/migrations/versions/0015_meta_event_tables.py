"""issue 15's tables: received media cached per project, contacts known by BSUID or username
with their former numbers, the WhatsApp Business Account's status and its holds

Revisions 0010-0012 were released as reserved, empty slots (0011 only widened
messages.destination), so a database already at 0014 would never run them again: what they
were reserved for is here, after 0014.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wacast.db.base

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
WHEN = wacast.db.base.UTCDateTime()


def upgrade() -> None:
    # Media of inbound messages, fetched from Meta through wacast (whatsapp/media.py).
    op.create_table(
        'inbound_media',
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('media_id', sa.String(length=200), nullable=False),
        sa.Column('mime_type', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('fetched_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_inbound_media_project_id_projects'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'media_id', name=op.f('pk_inbound_media')),
    )
    op.create_index('ix_inbound_media_fetched', 'inbound_media', ['fetched_at'])

    # A message may go to a BSUID ("US.13491208655302741918", up to 140 characters with a
    # parent's "ENT.") instead of an E.164 number.
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('destination', existing_type=sa.String(length=100), type_=sa.String(length=140), existing_nullable=False)
    # A person may be known by BSUID alone (a username, no phone number). UNIQUE(project_id,
    # phone) stays: both backends let many rows hold a NULL there.
    with op.batch_alter_table('contacts') as batch:
        batch.alter_column('phone', existing_type=sa.String(length=20), nullable=True)
        batch.add_column(sa.Column('user_id', sa.String(length=140), nullable=True))
        batch.add_column(sa.Column('parent_user_id', sa.String(length=140), nullable=True))
        batch.add_column(sa.Column('username', sa.String(length=100), nullable=True))
        batch.create_unique_constraint(batch.f('uq_contacts_project_id_user_id'), ['project_id', 'user_id'])
        batch.create_index('ix_contacts_project_username', ['project_id', 'username'], unique=False)
    # The numbers contacts had before a number change: sends to them are refused.
    op.create_table(
        'contact_former_numbers',
        sa.Column('project_id', sa.Uuid(), nullable=False),
        sa.Column('phone', sa.String(length=20), nullable=False),
        sa.Column('contact_id', sa.Uuid(), nullable=False),
        sa.Column('new_phone', sa.String(length=20), nullable=False),
        sa.Column('changed_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_contact_former_numbers_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_former_numbers_contact_id_contacts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'phone', name=op.f('pk_contact_former_numbers')),
    )
    op.create_index(op.f('ix_contact_former_numbers_contact_id'), 'contact_former_numbers', ['contact_id'], unique=False)

    # What Meta last said of each WhatsApp Business Account (whatsapp/account_policy.py).
    op.create_table(
        'account_statuses',
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('restrictions', JSON, nullable=False),
        sa.Column('ban_state', sa.String(length=30), nullable=True),
        sa.Column('ban_date', sa.String(length=100), nullable=True),
        sa.Column('ban_since', WHEN, nullable=True),
        sa.Column('lifecycle', sa.String(length=30), nullable=True),
        sa.Column('lifecycle_since', WHEN, nullable=True),
        sa.Column('violation_type', sa.String(length=60), nullable=True),
        sa.Column('violation_at', WHEN, nullable=True),
        sa.Column('last_event', sa.String(length=60), nullable=True),
        sa.Column('updated_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('waba_id', name=op.f('pk_account_statuses')),
    )
    # Every account_update event received, informational ones included.
    op.create_table(
        'account_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('waba_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=60), nullable=False),
        sa.Column('known', sa.Boolean(), nullable=False),
        sa.Column('effect', sa.String(length=30), nullable=False),
        sa.Column('summary', sa.String(length=500), nullable=False),
        sa.Column('phone_number', sa.String(length=21), nullable=True),
        sa.Column('detail', JSON, nullable=True),
        sa.Column('received_at', WHEN, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_events')),
    )
    op.create_index(op.f('ix_account_events_waba_id'), 'account_events', ['waba_id'], unique=False)
    # What of it holds a project's sends (the dispatcher reads it with the lease refresh).
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('account_hold', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('account_hold_until', WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('account_hold_until')
        batch.drop_column('account_hold')
    op.drop_index(op.f('ix_account_events_waba_id'), table_name='account_events')
    op.drop_table('account_events')
    op.drop_table('account_statuses')

    op.drop_index(op.f('ix_contact_former_numbers_contact_id'), table_name='contact_former_numbers')
    op.drop_table('contact_former_numbers')
    # Contacts known only by BSUID have no number to keep: they go (with their history).
    op.execute("DELETE FROM contacts WHERE phone IS NULL")
    op.execute("DELETE FROM messages WHERE length(destination) > 100")
    with op.batch_alter_table('contacts') as batch:
        batch.drop_index('ix_contacts_project_username')
        batch.drop_constraint('uq_contacts_project_id_user_id', type_='unique')
        batch.drop_column('username')
        batch.drop_column('parent_user_id')
        batch.drop_column('user_id')
        batch.alter_column('phone', existing_type=sa.String(length=20), nullable=False)
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('destination', existing_type=sa.String(length=140), type_=sa.String(length=100), existing_nullable=False)

    op.drop_index('ix_inbound_media_fetched', table_name='inbound_media')
    op.drop_table('inbound_media')
