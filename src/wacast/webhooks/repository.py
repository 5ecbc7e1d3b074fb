"""All SQL of customer webhooks: subscriptions, the outbox (events and their deliveries), the
delivery log and its attempts. Each function takes the session first, flushes, never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import is_postgres
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.messages import Message
from wacast.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

# --- subscriptions ---------------------------------------------------------------------------


# Read for every batch of events (each redirect batch, each inbound batch): built once, as
# building the SELECT cost more CPU than running it.
_SUBSCRIBERS = select(WebhookSubscription.id, WebhookSubscription.topics).where(
    WebhookSubscription.project_id == bindparam("project_id"), WebhookSubscription.active.is_(True))


async def subscribers(session: AsyncSession, project_id: uuid.UUID) -> list[Any]:
    """(id, topics) of the project's active subscriptions."""
    return list((await session.execute(_SUBSCRIBERS, {"project_id": project_id})).all())


async def find_subscription(session: AsyncSession, project_id: uuid.UUID, sub_id: uuid.UUID) -> WebhookSubscription | None:
    return (
        await session.execute(select(WebhookSubscription).where(WebhookSubscription.project_id == project_id, WebhookSubscription.id == sub_id))
    ).scalar_one_or_none()


async def count_subscriptions(session: AsyncSession, project_id: uuid.UUID) -> int:
    return (await session.execute(select(func.count()).select_from(WebhookSubscription).where(WebhookSubscription.project_id == project_id))).scalar_one()


async def add_subscription(session: AsyncSession, sub: WebhookSubscription) -> None:
    session.add(sub)
    await session.flush()


async def list_subscriptions(session: AsyncSession, project_id: uuid.UUID) -> list[WebhookSubscription]:
    return list((
        await session.execute(select(WebhookSubscription).where(WebhookSubscription.project_id == project_id).order_by(WebhookSubscription.created_at))
    ).scalars().all())


async def delete_subscription(session: AsyncSession, sub_id: uuid.UUID) -> None:
    await session.execute(delete(WebhookSubscription).where(WebhookSubscription.id == sub_id))


# --- the outbox ------------------------------------------------------------------------------


async def insert_events(session: AsyncSession, events: list[dict[str, Any]], deliveries: list[dict[str, Any]]) -> None:
    """Events and their delivery rows, two statements whatever their number (Core, no ORM objects)."""
    conn = await session.connection()
    await conn.execute(insert(WebhookEvent.__table__), events)
    await conn.execute(insert(WebhookDelivery.__table__), deliveries)


async def add_event_with_delivery(session: AsyncSession, event: WebhookEvent, delivery: WebhookDelivery) -> None:
    session.add(event)
    await session.flush()  # the delivery row refers to the event
    session.add(delivery)
    await session.flush()


async def purge_events(session: AsyncSession, before: datetime) -> int:
    """Delete events created before `before` (their deliveries and attempts go with them)."""
    result = await session.execute(delete(WebhookEvent).where(WebhookEvent.created_at < before))
    return result.rowcount or 0


# --- the delivery log ------------------------------------------------------------------------


async def deliveries_page(
    session: AsyncSession, sub_id: uuid.UUID, *, status: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Any]:
    """(delivery, topic, event_at) rows of a subscription, newest first, keyset after `after`."""
    stmt = (
        select(WebhookDelivery, WebhookEvent.topic, WebhookEvent.created_at.label("event_at"))
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == sub_id)
    )
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(or_(WebhookDelivery.created_at < at, and_(WebhookDelivery.created_at == at, WebhookDelivery.id < last_id)))
    return list((await session.execute(stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit))).all())


async def attempts_of(session: AsyncSession, delivery_ids: list[uuid.UUID]) -> list[WebhookAttempt]:
    if not delivery_ids:
        return []
    return list((
        await session.execute(select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)).order_by(WebhookAttempt.id))
    ).scalars())


# --- the sender: claim, record ---------------------------------------------------------------


async def claim_due(session: AsyncSession, now: datetime, lease_until: datetime, limit: int, only: uuid.UUID | None = None) -> list[Any]:
    """Lease due pending deliveries (SKIP LOCKED on PostgreSQL, so several senders share the
    work) and count the attempt; returns (delivery id, attempts, event, subscription) rows."""
    stmt = (
        select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.subscription_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
            or_(WebhookSubscription.active.is_(True), WebhookEvent.topic == "webhook.test"),
        )
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    if only is not None:
        stmt = stmt.where(WebhookDelivery.id == only)
    if is_postgres(session):
        stmt = stmt.with_for_update(of=WebhookDelivery, skip_locked=True)
    claimed = (await session.execute(stmt)).all()
    if not claimed:
        return []
    ids = [r.id for r in claimed]
    await session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(locked_until=lease_until, attempts=WebhookDelivery.attempts + 1)
    )
    return list((
        await session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookEvent, WebhookSubscription)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id.in_(ids))
        )
    ).all())


async def insert_attempts(session: AsyncSession, attempts: list[dict[str, Any]]) -> None:
    await session.execute(insert(WebhookAttempt.__table__), attempts)


async def update_delivery(session: AsyncSession, delivery_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))


async def clear_failing(session: AsyncSession, sub_ids: set[uuid.UUID]) -> None:
    await session.execute(update(WebhookSubscription).where(WebhookSubscription.id.in_(sub_ids)).values(failing_since=None))


async def mark_failing(session: AsyncSession, sub_id: uuid.UUID, now: datetime) -> None:
    """Remember when the subscription started failing (kept if it already was)."""
    await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == sub_id)
        .values(failing_since=func.coalesce(WebhookSubscription.failing_since, now))
    )


async def disable_if_failing_since(session: AsyncSession, sub_id: uuid.UUID, cutoff: datetime, now: datetime, reason: str) -> None:
    """Turn the subscription off if it is active and has been failing since `cutoff` or before."""
    await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == sub_id, WebhookSubscription.active.is_(True), WebhookSubscription.failing_since <= cutoff)
        .values(active=False, disabled_at=now, updated_at=now, disabled_reason=reason)
    )


# --- what the event payloads read (webhooks/events.py): tables of other domains, read only


async def messages_with_campaign_names(session: AsyncSession, message_ids: list[uuid.UUID], project_ids: set[uuid.UUID]) -> list[Any]:
    stmt = (
        select(Message, Campaign.name).outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.id.in_(message_ids), Message.project_id.in_(project_ids))
    )
    return list((await session.execute(stmt)).all())


async def active_topics_by_project(session: AsyncSession) -> list[Any]:
    """(project_id, topics) of every active subscription."""
    stmt = select(WebhookSubscription.project_id, WebhookSubscription.topics).where(WebhookSubscription.active.is_(True))
    return list((await session.execute(stmt)).all())


async def contact(
    session: AsyncSession, *, contact_id: uuid.UUID | None = None, project_id: uuid.UUID | None = None, phone: str | None = None,
) -> Contact | None:
    """A contact by id, or by the project's phone number."""
    stmt = select(Contact)
    if project_id is not None:
        stmt = stmt.where(Contact.project_id == project_id)
    stmt = stmt.where(Contact.id == contact_id) if contact_id else stmt.where(Contact.phone == phone)
    return (await session.execute(stmt)).scalar_one_or_none()
