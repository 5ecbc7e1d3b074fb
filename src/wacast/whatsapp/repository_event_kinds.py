"""The queries of the webhook-field counts (table meta_event_kinds, models/meta_events.py):
one upsert per distinct field of a batch, and the totals; and the retention of the stored
webhook bodies themselves (inbound_events), whatever their field. Each function takes the session
first; none commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.messages import InboundEvent
from wacast.models.meta_events import MetaEventKind


async def add_counts(session: AsyncSession, rows: Iterable[tuple[str, bool, int]], now: datetime) -> None:
    """Add each (field, handled, n) to its row, made on first sight: one statement per field.
    `handled` is what this version of wacast does with the field (it replaces the stored one)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    table = MetaEventKind.__table__
    for field, handled, n in rows:
        stmt = dialect.insert(table).values(field=field, handled=handled, count=n, first_seen_at=now, last_seen_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["field"],
            set_={"count": table.c["count"] + stmt.excluded["count"], "handled": stmt.excluded.handled, "last_seen_at": stmt.excluded.last_seen_at},
        )
        await session.execute(stmt)


async def all_kinds(session: AsyncSession) -> list[MetaEventKind]:
    """Every field received so far, by name."""
    return list((await session.execute(select(MetaEventKind).order_by(MetaEventKind.field))).scalars().all())


async def purge_processed_inbound_events(session: AsyncSession, before: datetime, limit: int = 5000) -> int:
    """Forget up to `limit` stored webhook bodies processed before `before` (used or not: the
    counts above stay). Unprocessed ones are never removed. `before` must leave Meta's 7 days
    of retries behind, or a late retry would be applied again (dedupe_key is kept with the row)."""
    ids = select(InboundEvent.id).where(InboundEvent.processed_at.is_not(None), InboundEvent.processed_at < before).limit(limit)
    result = await session.execute(delete(InboundEvent).where(InboundEvent.id.in_(ids.scalar_subquery())))
    return result.rowcount or 0
