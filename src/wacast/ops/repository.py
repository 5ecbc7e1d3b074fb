"""SQL for operations: the scrape-time picture of queues, senders, dispatchers and backlogs,
what `wacast doctor` reads, and the rows `wacast secrets rotate` re-encrypts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Text, and_, case, func, select, text, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.messages import InboundEvent, Message
from wacast.models.projects import Project, SenderLease, Worker
from wacast.models.templates import Template
from wacast.models.webhooks import WebhookDelivery, WebhookSubscription


async def ping(session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))


async def senders(session: AsyncSession, now: datetime) -> list[Any]:
    """Every project (sender number) with its queue, its lease and why it may not send:
    one query, the queue aggregated per project over the outbox's dispatch index."""
    queued = (
        select(
            Message.project_id.label("project_id"),
            func.count().label("queued"),
            func.sum(case((and_(Message.held_reason.is_(None), Message.next_attempt_at <= now), 1), else_=0)).label("due"),
            func.sum(case((Message.held_reason.is_not(None), 1), else_=0)).label("held"),
            func.sum(case((Message.locked_until > now, 1), else_=0)).label("in_flight"),
            func.min(Message.created_at).label("oldest"),
            func.min(case((and_(Message.held_reason.is_(None), Message.next_attempt_at <= now), Message.next_attempt_at), else_=None)).label("oldest_due"),
            func.max(Message.held_reason).label("held_reason"),
        )
        # A literal, not a parameter: PostgreSQL then uses the partial index ix_messages_queued.
        .where(text("messages.status = 'queued'"))
        .group_by(Message.project_id)
        .subquery()
    )
    stmt = (
        select(
            Project.id, Project.name, Project.sender_number, Project.phone_number_id, Project.halted_reason,
            Project.messages_per_second, Project.waba_id, Project.account_hold, Project.account_hold_until,
            and_(Project.phone_number_id.is_not(None), Project.access_token.is_not(None)).label("cloud"),
            func.coalesce(queued.c.queued, 0).label("queued"), func.coalesce(queued.c.due, 0).label("due"),
            func.coalesce(queued.c.held, 0).label("held"), func.coalesce(queued.c.in_flight, 0).label("in_flight"),
            queued.c.oldest, queued.c.oldest_due, queued.c.held_reason, SenderLease.holder, SenderLease.expires_at,
        )
        .outerjoin(queued, queued.c.project_id == Project.id)
        .outerjoin(SenderLease, SenderLease.project_id == Project.id)
        .order_by(Project.name)
    )
    return list((await session.execute(stmt)).all())


async def workers(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(Worker.id, Worker.started_at, Worker.heartbeat_at).order_by(Worker.started_at))).all())


async def inbound_backlog(session: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    row = (
        await session.execute(
            select(func.count(), func.min(InboundEvent.received_at)).where(
                InboundEvent.processed_at.is_(None), InboundEvent.process_after <= now
            )
        )
    ).one()
    return int(row[0] or 0), row[1]


async def project_name(session: AsyncSession, project_id: Any) -> str | None:
    return (await session.execute(select(Project.name).where(Project.id == project_id))).scalar_one_or_none()


async def outbound_webhooks(session: AsyncSession, now: datetime) -> tuple[int, datetime | None, int, int]:
    """Customer webhooks: pending deliveries, the oldest one's creation, subscriptions failing
    and subscriptions wacast turned off."""

    pending = (
        await session.execute(select(func.count(), func.min(WebhookDelivery.created_at)).where(WebhookDelivery.status == "pending"))
    ).one()
    failing = (
        await session.execute(
            select(
                func.sum(case((and_(WebhookSubscription.active.is_(True), WebhookSubscription.failing_since.is_not(None)), 1), else_=0)),
                func.sum(case((WebhookSubscription.disabled_at.is_not(None), 1), else_=0)),
            )
        )
    ).one()
    return int(pending[0] or 0), pending[1], int(failing[0] or 0), int(failing[1] or 0)


# --- wacast doctor ---------------------------------------------------------------------------


async def project_by_name(session: AsyncSession, name: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.name == name))).scalar_one_or_none()


async def live_workers(session: AsyncSession, fresh_since: datetime) -> int:
    """Dispatchers whose heartbeat is newer than `fresh_since`."""
    return (await session.execute(select(func.count()).select_from(Worker).where(Worker.heartbeat_at >= fresh_since))).scalar_one()


async def template_counts(session: AsyncSession, project_id: Any) -> dict[str, int]:
    """The project's templates counted by status."""
    return dict((await session.execute(
        select(Template.status, func.count()).where(Template.project_id == project_id).group_by(Template.status))).all())


# --- wacast secrets rotate -------------------------------------------------------------------


async def stored_values(session: AsyncSession, table: Any, column: Any, after: Any, limit: int) -> list[Any]:
    """(primary key, stored text) of the rows with a value in `column`, in key order after `after`."""
    pk = next(iter(table.primary_key.columns))
    stmt = select(pk, type_coerce(column, Text)).where(column.is_not(None)).order_by(pk).limit(limit)
    if after is not None:
        stmt = stmt.where(pk > after)
    return list((await session.execute(stmt)).all())


async def store_value(session: AsyncSession, table: Any, column: Any, row_id: Any, stored: str) -> None:
    """Write `stored` as it is (already encrypted: no second encryption by the column type)."""
    pk = next(iter(table.primary_key.columns))
    await session.execute(update(table).where(pk == row_id).values({column.name: type_coerce(stored, Text)}))
