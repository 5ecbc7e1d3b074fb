"""integrations: customer webhooks (subscriptions, events, deliveries, attempts), idempotency keys, per-key rate limits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

import wacast.db.base

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    uuid = sa.Uuid(as_uuid=True)
    dt = wacast.db.base.UTCDateTime()
    json = wacast.db.base.JSONType
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", uuid, primary_key=True),
        sa.Column("project_id", uuid, sa.ForeignKey("projects.id", ondelete="CASCADE", name="fk_webhook_subscriptions_project_id_projects"), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("topics", json, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(1000)),
        sa.Column("disabled_at", dt),
        sa.Column("failing_since", dt),
        sa.Column("created_at", dt, nullable=False),
        sa.Column("updated_at", dt, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
    )
    op.create_index("ix_webhook_subscriptions_project_id", "webhook_subscriptions", ["project_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", uuid, primary_key=True),
        sa.Column("project_id", uuid, sa.ForeignKey("projects.id", ondelete="CASCADE", name="fk_webhook_events_project_id_projects"), nullable=False),
        sa.Column("topic", sa.String(50), nullable=False),
        sa.Column("data", json, nullable=False),
        sa.Column("created_at", dt, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
    )
    op.create_index("ix_webhook_events_project_id", "webhook_events", ["project_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", uuid, primary_key=True),
        sa.Column("event_id", uuid, sa.ForeignKey("webhook_events.id", ondelete="CASCADE", name="fk_webhook_deliveries_event_id_webhook_events"), nullable=False),
        sa.Column("subscription_id", uuid, sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE", name="fk_webhook_deliveries_subscription_id_webhook_subscriptions"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", dt, nullable=False),
        sa.Column("locked_until", dt),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.String(1000)),
        sa.Column("created_at", dt, nullable=False),
        sa.Column("delivered_at", dt),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("event_id", "subscription_id", name="uq_webhook_deliveries_event_id_subscription_id"),
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_subscription", "webhook_deliveries", ["subscription_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_id", uuid, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE", name="fk_webhook_attempts_delivery_id_webhook_deliveries"), nullable=False),
        sa.Column("subscription_id", uuid, sa.ForeignKey("webhook_subscriptions.id", ondelete="CASCADE", name="fk_webhook_attempts_subscription_id_webhook_subscriptions"), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("response_excerpt", sa.Text()),
        sa.Column("error", sa.String(1000)),
        sa.Column("at", dt, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
    op.create_index("ix_webhook_attempts_subscription", "webhook_attempts", ["subscription_id", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("locked_until", dt),
        sa.Column("response_status", sa.Integer()),
        sa.Column("response_headers", json),
        sa.Column("response_body", sa.Text()),
        sa.Column("created_at", dt, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_keys"),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("rate_limit", sa.Float()))
        batch.add_column(sa.Column("rate_burst", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("rate_burst")
        batch.drop_column("rate_limit")
    for table in ("idempotency_keys", "webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_subscriptions"):
        op.drop_table(table)
