"""SQL for the outbox: insert, claim with a lease, record results, walk the status ladder."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore, is_postgres
from wacast.messages import status_ladder as ladder
from wacast.meta.errors import MARKETING_LIMIT_HELD
from wacast.models.campaigns import Campaign
from wacast.models.messages import Message, MessageEvent, MessageStatus, Reply
from wacast.webhooks import events as hooks


async def insert_queued(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    project_id: uuid.UUID,
    campaign_id: uuid.UUID | None,
    contact_id: uuid.UUID,
    template_id: uuid.UUID | None,
    destination: str,
    payload: dict[str, Any],
    now: datetime,
    held_reason: str | None = None,
    priority: int = 0,
) -> None:
    await insert_queued_many(session, [{
        "id": message_id, "project_id": project_id, "campaign_id": campaign_id, "contact_id": contact_id,
        "template_id": template_id, "destination": destination, "payload": payload, "held_reason": held_reason,
        "priority": priority,
    }], now)


async def add_event(session: AsyncSession, message_id: uuid.UUID, kind: str, at: datetime, detail: dict | None = None) -> None:
    await session.execute(insert(MessageEvent).values(message_id=message_id, kind=kind, occurred_at=at, detail=detail))


async def claim(
    session: AsyncSession, project_id: uuid.UUID, worker: str, now: datetime, lease: timedelta, limit: int
) -> list[Any]:
    """Take up to `limit` due messages of one project, leased to `worker` until now+lease.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets several dispatchers claim side by side; on
    SQLite the write transaction (BEGIN IMMEDIATE) serializes claims.
    """
    due = (
        select(Message.id)
        .where(
            Message.project_id == project_id,
            Message.status == MessageStatus.queued,
            Message.next_attempt_at <= now,
            or_(Message.locked_until.is_(None), Message.locked_until < now),
        )
        .order_by(Message.priority, Message.next_attempt_at)
        .limit(limit)
    )
    if is_postgres(session):
        due = due.with_for_update(skip_locked=True)
    stmt = (
        update(Message)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(locked_until=now + lease, locked_by=worker, attempts=Message.attempts + 1)
        .returning(
            Message.id, Message.destination, Message.payload, Message.template_id, Message.contact_id,
            Message.attempts, Message.created_at, Message.marketing_deferrals,
        )
    )
    rows = (await session.execute(stmt)).all()
    return sorted(rows, key=lambda r: r.created_at)


def _owned(message_id: uuid.UUID, worker: str):
    return and_(Message.id == message_id, Message.locked_by == worker, Message.status == MessageStatus.queued)


async def mark_sent_many(session: AsyncSession, sent: list[tuple[uuid.UUID, str]], now: datetime) -> None:
    """Record Meta's (or the sandbox's) acceptance of a batch, as two executemany statements
    (the dispatcher's hot path). A status webhook may already have moved a row on (it routes
    by biz_opaque_callback_data): then only the wamid is filled in."""
    if not sent:
        return
    table = Message.__table__
    stmt = (
        update(table)
        .where(table.c.id == bindparam("mid"))
        .values(
            wamid=func.coalesce(table.c.wamid, bindparam("w")),
            status=case((table.c.status == MessageStatus.queued.value, MessageStatus.sent.value), else_=table.c.status),
            sent_at=func.coalesce(table.c.sent_at, bindparam("now", type_=table.c.sent_at.type)),
            locked_until=None, locked_by=None, held_reason=None, error_code=None, error_title=None, error_detail=None,
        )
    )
    connection = await session.connection()
    # In id order, as the inbound loop locks them (lock_for_statuses): the two never deadlock.
    await connection.execute(stmt, [{"mid": mid, "w": wamid, "now": now} for mid, wamid in sorted(sent)])
    await connection.execute(
        insert(MessageEvent.__table__),
        [{"message_id": mid, "kind": "sent", "occurred_at": now, "detail": {"wamid": wamid}} for mid, wamid in sent],
    )

    await hooks.messages_status_many(session, [mid for mid, _ in sent], "sent", now)  # customer webhooks




async def release_held_for_project(session: AsyncSession, project_id: uuid.UUID, now: datetime) -> int:
    """After an operator cleared a halted sender: its held messages become due now."""
    result = await session.execute(
        update(Message)
        .where(Message.project_id == project_id, Message.status == MessageStatus.queued, Message.held_reason.is_not(None),
               Message.held_reason != MARKETING_LIMIT_HELD)  # Meta's marketing limit keeps its own time
        .values(next_attempt_at=now)
    )
    return result.rowcount or 0


async def held_summary(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[int, str | None]:
    """How many of a campaign's messages wait, held, and the most recent reason."""
    count = (
        await session.execute(
            select(func.count()).select_from(Message).where(
                Message.campaign_id == campaign_id, Message.status == MessageStatus.queued, Message.held_reason.is_not(None)
            )
        )
    ).scalar_one()
    reason = None
    if count:
        reason = (
            await session.execute(
                select(Message.held_reason)
                .where(Message.campaign_id == campaign_id, Message.status == MessageStatus.queued, Message.held_reason.is_not(None))
                .order_by(Message.next_attempt_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    return count, reason


async def status_counts(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(Message.status, func.count()).where(Message.campaign_id == campaign_id).group_by(Message.status)
    )
    return {status: n for status, n in rows.all()}


async def release(
    session: AsyncSession,
    message_id: uuid.UUID,
    worker: str,
    *,
    next_attempt_at: datetime,
    now: datetime,
    event: str,
    detail: dict | None,
    held_reason: str | None = None,
    refund_attempt: bool = False,
    deferred: bool = False,
) -> None:
    """Give a claimed message back to the queue, to be tried again at `next_attempt_at`
    (`deferred`: by Meta's marketing limit, counted in marketing_deferrals)."""
    values: dict[str, Any] = {
        "locked_until": None,
        "locked_by": None,
        "next_attempt_at": next_attempt_at,
        "held_reason": held_reason,
    }
    if detail and "code" in detail:
        values.update(error_code=detail.get("code"), error_title=detail.get("title"), error_detail=detail.get("details"))
    if refund_attempt:
        values["attempts"] = Message.attempts - 1
    if deferred:
        values["marketing_deferrals"] = Message.marketing_deferrals + 1
    result = await session.execute(update(Message).where(_owned(message_id, worker)).values(**values))
    if result.rowcount:
        await add_event(session, message_id, event, now, detail)


async def mark_failed(
    session: AsyncSession, message_id: uuid.UUID, worker: str | None, now: datetime, code: int | None, title: str, details: str | None
) -> bool:
    where = _owned(message_id, worker) if worker else and_(Message.id == message_id, Message.status == MessageStatus.queued)
    result = await session.execute(
        update(Message)
        .where(where)
        .values(
            status=MessageStatus.failed, failed_at=now, locked_until=None, locked_by=None, held_reason=None,
            error_code=code, error_title=title[:500], error_detail=details,
        )
    )
    if result.rowcount:
        await add_event(session, message_id, "failed", now, {"code": code, "title": title, "details": details})

        await hooks.messages_status_many(session, [message_id], "failed", now, {"code": code, "title": title})  # customer webhooks
    return bool(result.rowcount)


async def lock_for_statuses(session: AsyncSession, message_ids: list[uuid.UUID], wamids: list[str]) -> list[Any]:
    """The messages that status reports name (by submitted id or wamid), locked on PostgreSQL
    in id order: the dispatcher writes its batches in the same order, so the two never deadlock."""
    conditions = []
    if message_ids:
        conditions.append(Message.id.in_(set(message_ids)))
    if wamids:
        conditions.append(Message.wamid.in_(set(wamids)))
    if not conditions:
        return []
    stmt = (select(Message.id, Message.project_id, Message.status, Message.wamid, Message.contact_id)
            .where(or_(*conditions)).order_by(Message.id))
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).all())


async def event_kinds(session: AsyncSession, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """The status kinds each message already has on its timeline (a repeated report adds none)."""
    kinds: dict[uuid.UUID, set[str]] = {m: set() for m in message_ids}
    if message_ids:
        stmt = select(MessageEvent.message_id, MessageEvent.kind).where(
            MessageEvent.message_id.in_(message_ids), MessageEvent.kind.in_(ladder.KINDS)).distinct()
        for message_id, kind in (await session.execute(stmt)).all():
            kinds[message_id].add(kind)
    return kinds


async def write_folded(session: AsyncSession, changes: list[tuple[uuid.UUID, ladder.Folded]]) -> None:
    """Write the net effect of status reports (`status_ladder.fold`): one executemany update of
    the messages, one executemany insert of their timeline events, whatever their number."""
    table = Message.__table__
    rows = [(mid, f) for mid, f in changes if f.writes]
    if rows:
        when = {c: bindparam(c, type_=table.c[c].type) for c in ("sent_at", "delivered_at", "read_at", "failed_at")}
        stmt = update(table).where(table.c.id == bindparam("mid")).values(
            status=bindparam("new_status", type_=table.c.status.type),
            wamid=func.coalesce(table.c.wamid, bindparam("new_wamid", type_=table.c.wamid.type)),
            sent_at=func.coalesce(table.c.sent_at, when["sent_at"]),
            delivered_at=func.coalesce(table.c.delivered_at, when["delivered_at"]),
            read_at=func.coalesce(table.c.read_at, when["read_at"]),
            failed_at=func.coalesce(when["failed_at"], table.c.failed_at),
            error_code=case((bindparam("set_error", type_=Integer) == 1, bindparam("code", type_=table.c.error_code.type)), else_=table.c.error_code),
            error_title=case((bindparam("set_error", type_=Integer) == 1, bindparam("title", type_=table.c.error_title.type)), else_=table.c.error_title),
            error_detail=case((bindparam("set_error", type_=Integer) == 1, bindparam("details", type_=table.c.error_detail.type)), else_=table.c.error_detail),
            locked_until=case((bindparam("unlock", type_=Integer) == 1, None), else_=table.c.locked_until),
            locked_by=case((bindparam("unlock", type_=Integer) == 1, None), else_=table.c.locked_by),
            pricing_category=func.coalesce(bindparam("pricing", type_=table.c.pricing_category.type), table.c.pricing_category),
        )
        params = []
        for mid, f in rows:
            error = f.error or {}
            params.append({
                "mid": mid, "new_status": f.status, "new_wamid": f.wamid, **{c: f.first_at.get(c) for c in ("sent_at", "delivered_at", "read_at")},
                "failed_at": f.failed_at, "set_error": 1 if f.error else 0, "code": error.get("code"),
                "title": (error.get("title") or "")[:500] if f.error else None, "details": error.get("details"),
                "unlock": 1 if f.unlock else 0, "pricing": f.pricing_category,
            })
        connection = await session.connection()
        await connection.execute(stmt, sorted(params, key=lambda p: p["mid"]))
    events = [{"message_id": mid, "kind": s.report.kind, "occurred_at": s.report.at, "detail": ladder.event_detail(s.report)}
              for mid, f in changes for s in f.steps if s.event]
    if events:
        connection = await session.connection()
        await connection.execute(insert(MessageEvent.__table__), events)


async def mark_replied(session: AsyncSession, message_id: uuid.UUID, at: datetime) -> None:
    await session.execute(update(Message).where(Message.id == message_id, Message.replied_at.is_(None)).values(replied_at=at))
    await add_event(session, message_id, "replied", at)


async def latest_for_contact(session: AsyncSession, contact_id: uuid.UUID, wamid: str | None) -> uuid.UUID | None:
    if wamid:
        row = (await session.execute(select(Message.id).where(Message.wamid == wamid))).first()
        if row:
            return row[0]
    row = (
        await session.execute(
            select(Message.id)
            .where(Message.contact_id == contact_id, Message.status.in_(("sent", "delivered", "read")))
            .order_by(Message.created_at.desc())
            .limit(1)
        )
    ).first()
    return row[0] if row else None


async def insert_reply(
    session: AsyncSession, *, project_id: uuid.UUID, contact_id: uuid.UUID, wamid: str, message_id: uuid.UUID | None,
    kind: str, text: str | None, payload: str | None, at: datetime, content: dict | None = None, media_id: str | None = None,
) -> bool:
    """Store an inbound message; False when it was stored before (Meta delivered it twice)."""
    inserted = await session.execute(
        insert_ignore(session, Reply, ["wamid"]).values(
            id=uuid.uuid4(), project_id=project_id, contact_id=contact_id, wamid=wamid, message_id=message_id,
            type=kind[:30], text=(text or "")[:4096] or None, payload=(payload or "")[:500] or None, received_at=at,
            content=content or None, media_id=media_id,
        )
    )
    return bool(inserted.rowcount)


async def hand_back_claims(session: AsyncSession, worker: str) -> None:
    """A stopping worker's claimed but never started messages go back to the queue now, rather
    than after their lease; the claim's attempt is given back."""
    await session.execute(
        update(Message)
        .where(Message.locked_by == worker, Message.status == MessageStatus.queued)
        .values(locked_until=None, locked_by=None, attempts=Message.attempts - 1)
    )


async def find_with_events(
    session: AsyncSession, message_id: uuid.UUID, *, project_id: uuid.UUID | None = None
) -> tuple[Message, list[MessageEvent], str | None] | None:
    """A message (of `project_id`, or of any project), its events and its campaign's name."""
    stmt = select(Message, Campaign.name).outerjoin(Campaign, Campaign.id == Message.campaign_id).where(Message.id == message_id)
    if project_id is not None:
        stmt = stmt.where(Message.project_id == project_id)
    found = (await session.execute(stmt)).first()
    if found is None:
        return None
    message, campaign_name = found
    events = (
        await session.execute(select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))
    ).scalars().all()
    return message, list(events), campaign_name


async def list_page(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    status: str | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[tuple[Message, str | None]]:
    """Up to `limit` messages with their campaign's name, newest first, after the keyset `after`."""
    stmt = select(Message, Campaign.name).outerjoin(Campaign, Campaign.id == Message.campaign_id).where(Message.project_id == project_id)
    if campaign_id is not None:
        stmt = stmt.where(Message.campaign_id == campaign_id)
    if contact_id is not None:
        stmt = stmt.where(Message.contact_id == contact_id)
    if status:
        stmt = stmt.where(Message.status == status)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
    rows = await session.execute(stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit))
    return [(message, name) for message, name in rows.all()]


async def get_with_events(session: AsyncSession, project_id: uuid.UUID, message_id: uuid.UUID) -> tuple[Message, list[MessageEvent]] | None:
    message = (
        await session.execute(select(Message).where(Message.id == message_id, Message.project_id == project_id))
    ).scalar_one_or_none()
    if message is None:
        return None
    events = (
        await session.execute(
            select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)
        )
    ).scalars().all()
    return message, list(events)


async def insert_queued_many(session: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> None:
    """Queue messages: the one place a queued row is made (the campaign API, one by one or in
    its group commit, and the broadcast engine's fan-out). One executemany for the messages,
    one for their `queued` events. A row gives id, project_id, campaign_id, contact_id,
    template_id, destination and payload; it may give broadcast_id, priority, held_reason and
    next_attempt_at (a send held for quiet hours); the rest are the queued row's defaults."""
    if not rows:
        return
    conn = await session.connection()
    await conn.execute(insert(Message.__table__), [
        {"priority": 0, "held_reason": None, "next_attempt_at": now, **row,
         "status": MessageStatus.queued.value, "attempts": 0, "created_at": now}
        for row in rows
    ])
    await conn.execute(insert(MessageEvent.__table__), [
        {"message_id": row["id"], "kind": "queued", "occurred_at": now, "detail": None} for row in rows
    ])