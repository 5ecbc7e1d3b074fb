"""Writing customer-webhook events: call `emit` inside the transaction of the change.

The event and one delivery row per matching active subscription are inserted with the
change itself, so an event exists if and only if its change committed. Nothing is written
when no subscription of the project wants the topic.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.cache import TTLCache
from wacast.kit.clock import utcnow
from wacast.webhooks import repository

TOPICS = (
    "message.status.updated",
    "message.sender.user",
    "message.received",
    "message.reaction",
    "message.clicked",
    "contact.created",
    "contact.tag.updated",
    "contact.opted_out",
    "contact.number_changed",
    "template.status.updated",
    "template.category_changed",
    "campaign.status.updated",
    "account.status.updated",
    "budget.warning",
    "budget.exceeded",
    "notification.created",
)


# session.info key of a transaction that reads each project's subscriptions once (see
# `remember_subscribers`).
SUBSCRIBERS_CACHE = "wacast.webhooks.subscribers"
_SHARED = "shared"  # its value for a transaction that uses the process's cache (below)

# Each project's subscriptions as the redirect's click batches read them: once per
# WACAST_CACHE_SECONDS rather than once per batch (a read was a tenth of a batch's CPU, four
# of its twenty round trips on SQLite). A change made through this process forgets it at once
# (`forget_subscribers`); one made by another process (the CLI, another `serve` worker) is
# seen within the TTL.
_shared: TTLCache[list[Any]] = TTLCache(ttl=2)


def configure_cache(ttl: float) -> None:
    _shared.ttl = ttl
    _shared.clear()


def forget_subscribers() -> None:
    _shared.clear()


def remember_subscribers(session: AsyncSession, *, across_transactions: bool = False) -> None:
    """For a transaction that emits many events and changes no subscription (the inbound event
    loop, the dispatcher's outcomes): each project's subscriptions are read once, not once per
    event. `across_transactions`: from the process's cache, for a path as hot as the redirect's
    batches, where a new subscription may miss the events of its first seconds."""
    session.info[SUBSCRIBERS_CACHE] = _SHARED if across_transactions else {}


async def _subscribers(session: AsyncSession, project_id: uuid.UUID, topic: str) -> list[uuid.UUID]:
    cache = session.info.get(SUBSCRIBERS_CACHE)
    if cache is None:
        rows = await repository.subscribers(session, project_id)
    elif cache is _SHARED:
        rows = _shared.get(project_id)
        if rows is None:
            rows = await repository.subscribers(session, project_id)
            _shared.put(project_id, rows)
    elif project_id in cache:
        rows = cache[project_id]
    else:
        rows = cache[project_id] = await repository.subscribers(session, project_id)
    return [r.id for r in rows if topic in (r.topics or []) or "*" in (r.topics or [])]


async def emit(session: AsyncSession, project_id: uuid.UUID, topic: str, data: dict[str, Any], *, now: datetime | None = None) -> uuid.UUID | None:
    """Record one event for the project's subscribers of `topic`; returns its id (None: no one listens)."""
    return (await emit_many(session, project_id, topic, [data], now=now) or [None])[0]


async def emit_many(session: AsyncSession, project_id: uuid.UUID, topic: str, items: list[dict[str, Any]], *, now: datetime | None = None) -> list[uuid.UUID]:
    """Several events of one topic at once (two statements whatever their number)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown webhook topic {topic}")
    if not items:
        return []
    subscribers = await _subscribers(session, project_id, topic)
    if not subscribers:
        return []
    now = now or utcnow()
    events = [{"id": uuid.uuid4(), "project_id": project_id, "topic": topic, "data": data, "created_at": now} for data in items]
    await repository.insert_events(session, events, [
        {"id": uuid.uuid4(), "event_id": e["id"], "subscription_id": s, "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created_at": now}
        for e in events for s in subscribers
    ])
    return [e["id"] for e in events]
