"""marketing consent: the contacts' consent state and history, erased contacts, the projects' consent settings

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wacast.db.base

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
UUID = sa.Uuid()
WHEN = wacast.db.base.UTCDateTime()


def upgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.add_column(sa.Column('marketing_consent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('consent_at', WHEN, nullable=True))
        batch.add_column(sa.Column('erased_at', WHEN, nullable=True))
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('require_marketing_consent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('consent_payloads', JSON, nullable=False, server_default='[]'))
    op.create_table(
        'contact_consents',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('project_id', UUID, nullable=False),
        sa.Column('contact_id', UUID, nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('method', sa.String(length=30), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=True),
        sa.Column('evidence', sa.Text(), nullable=True),
        sa.Column('given_at', WHEN, nullable=False),
        sa.Column('recorded_at', WHEN, nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_contact_consents_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_consents_contact_id_contacts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_consents')),
    )
    op.create_index('ix_contact_consents_contact', 'contact_consents', ['contact_id', 'id'])


def downgrade() -> None:
    op.drop_table('contact_consents')
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('consent_payloads')
        batch.drop_column('require_marketing_consent')
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('erased_at')
        batch.drop_column('consent_at')
        batch.drop_column('marketing_consent')
