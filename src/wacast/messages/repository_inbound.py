"""SQL for stored provider events (Meta's webhook bodies, the sandbox's reports).

Every event is stored first, deduplicated by its content, and applied later by the inbound
event loop (whatsapp/inbound.py): a crash between the two loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore, is_postgres
from wacast.kit import text
from wacast.meta.types import dedupe_key
from wacast.models.messages import InboundEvent


async def store_inbound_event(
    session: AsyncSession, source: str, body: Any, now: datetime, *, process_after: datetime | None = None
) -> bool:
    """Store one provider event, due at `process_after` (now by default). False when the same
    body was stored before (Meta retries a webhook with the same body)."""
    return (await store_inbound_events(session, source, [(body, process_after or now)], now))[0]


async def store_inbound_events(session: AsyncSession, source: str, events: list[tuple[Any, datetime]], now: datetime) -> list[bool]:
    """Store many provider events, each (body, process_after), in one statement; for each,
    whether it is new (False: the same body was stored before, or earlier in this list).

    A NUL or a lone surrogate in a body is stored as U+FFFD (kit/text.scrub_tree): PostgreSQL
    cannot store them, and a signed event is never refused for its text."""
    if not events:
        return []
    rows = []
    for body, process_after in events:
        body = text.scrub_tree(body)
        rows.append({"source": source, "dedupe_key": dedupe_key(body), "body": body, "received_at": now, "process_after": process_after})
    # One compiled statement whatever the count (SQLAlchemy sends the rows as "insertmanyvalues"
    # batches and gathers what RETURNING gives: the keys that were new).
    table = InboundEvent.__table__
    stmt = insert_ignore(session, table, ["dedupe_key"]).returning(table.c.dedupe_key)
    connection = await session.connection()
    inserted = set((await connection.execute(stmt, rows)).scalars())
    new = []
    for row in rows:
        new.append(row["dedupe_key"] in inserted)
        inserted.discard(row["dedupe_key"])  # a second copy in the same list is a duplicate
    return new


async def claim_due_inbound_events(session: AsyncSession, now: datetime, limit: int) -> Sequence[InboundEvent]:
    """Unprocessed events that are due, oldest first. On PostgreSQL the rows stay locked (and
    skipped by other workers) until the transaction that applies them ends."""
    stmt = (
        select(InboundEvent)
        .where(InboundEvent.processed_at.is_(None), InboundEvent.process_after <= now)
        .order_by(InboundEvent.process_after, InboundEvent.id)
        .limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return (await session.execute(stmt)).scalars().all()


async def mark_inbound_processed(session: AsyncSession, done: list[tuple[int, str | None]], now: datetime) -> None:
    """Events applied: (id, note) each, in one executemany."""
    if not done:
        return
    table = InboundEvent.__table__
    connection = await session.connection()
    await connection.execute(
        update(table).where(table.c.id == bindparam("event_id")).values(processed_at=bindparam("at", type_=table.c.processed_at.type), note=bindparam("n")),
        [{"event_id": event_id, "at": now, "n": note} for event_id, note in done],
    )
