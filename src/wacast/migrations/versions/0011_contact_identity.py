"""contacts identified by phone, BSUID or username; former numbers after a number change

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A message may go to a BSUID ("US.13491208655302741918") instead of an E.164 number.
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('destination', existing_type=sa.String(length=20), type_=sa.String(length=100), existing_nullable=False)
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
        sa.Column('changed_at', wacast.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_contact_former_numbers_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_former_numbers_contact_id_contacts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'phone', name=op.f('pk_contact_former_numbers')),
    )
    op.create_index(op.f('ix_contact_former_numbers_contact_id'), 'contact_former_numbers', ['contact_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_contact_former_numbers_contact_id'), table_name='contact_former_numbers')
    op.drop_table('contact_former_numbers')
    # Contacts known only by BSUID have no number to keep: they go (with their history).
    op.execute("DELETE FROM contacts WHERE phone IS NULL")
    op.execute("DELETE FROM messages WHERE length(destination) > 20")
    with op.batch_alter_table('contacts') as batch:
        batch.drop_index('ix_contacts_project_username')
        batch.drop_constraint('uq_contacts_project_id_user_id', type_='unique')
        batch.drop_column('username')
        batch.drop_column('parent_user_id')
        batch.drop_column('user_id')
        batch.alter_column('phone', existing_type=sa.String(length=20), nullable=False)
    with op.batch_alter_table('messages') as batch:
        batch.alter_column('destination', existing_type=sa.String(length=100), type_=sa.String(length=20), existing_nullable=False)
