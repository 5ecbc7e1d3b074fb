"""Every query of broadcasts: the campaign rows, their audience (segment windows or CSV
recipients), their messages in the outbox, and the send policy. Each takes the session first."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import segments
from wacast.db.dialect import insert_ignore, is_postgres
from wacast.models.broadcasts import BroadcastRecipient, SendPolicy
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.messages import Message, MessageEvent, MessageStatus
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import statuses as template_statuses

CHUNK = 1000

# --- campaigns, their template and project -------------------------------------------------


async def name_taken(session: AsyncSession, project_id: uuid.UUID, name: str) -> bool:
    return (await session.execute(select(Campaign.id).where(Campaign.project_id == project_id, Campaign.name == name))).first() is not None


async def find(session: AsyncSession, project_id: uuid.UUID, ref: str, as_id: uuid.UUID | None, *, lock: bool = False) -> Campaign | None:
    """A campaign of the project by name, or by id when `ref` is one. With `lock`, the row is
    locked (PostgreSQL) and read afresh, whatever the session held."""
    clause = Campaign.name == ref if as_id is None else or_(Campaign.id == as_id, Campaign.name == ref)
    stmt = select(Campaign).where(Campaign.project_id == project_id, clause)
    if lock:
        stmt = stmt.execution_options(populate_existing=True)
        if is_postgres(session):
            stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().first()


async def list_broadcasts(session: AsyncSession, project_id: uuid.UUID) -> list[Campaign]:
    return list(
        (
            await session.execute(
                select(Campaign).where(Campaign.project_id == project_id, Campaign.type == "broadcast").order_by(Campaign.created_at.desc())
            )
        ).scalars()
    )


async def template(session: AsyncSession, template_id: uuid.UUID | None) -> Template | None:
    return await session.get(Template, template_id) if template_id else None


async def approved_templates(session: AsyncSession, project_id: uuid.UUID) -> list[Template]:
    return list(
        (
            await session.execute(select(Template).where(Template.project_id == project_id, Template.status.in_(template_statuses.SENDABLE)).order_by(Template.name))
        ).scalars()
    )


async def project(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def send_policy(session: AsyncSession, project_id: uuid.UUID) -> SendPolicy | None:
    return await session.get(SendPolicy, project_id)


# --- the audience --------------------------------------------------------------------------


async def upsert_csv_contacts(session: AsyncSession, project_id: uuid.UUID, rows: list[tuple[str, str, dict]], source: str, now: datetime) -> list[tuple[uuid.UUID, dict]]:
    """The contact of each (phone, name, values) row, created when new: (contact id, values)."""
    ids: dict[str, uuid.UUID] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        await session.execute(
            insert_ignore(session, Contact, ["project_id", "phone"]),
            [
                {"id": uuid.uuid4(), "project_id": project_id, "phone": p, "name": n, "source": source, "opted_in": True,
                 "blocked": False, "attributes": {}, "created_at": now, "updated_at": now}
                for p, n, _ in chunk
            ],
        )
        found = await session.execute(select(Contact.phone, Contact.id).where(Contact.project_id == project_id, Contact.phone.in_([p for p, _, _ in chunk])))
        ids.update(dict(found.all()))
    return [(ids[p], values) for p, _, values in rows]


async def add_recipients(session: AsyncSession, campaign_id: uuid.UUID, csv_rows: list[tuple[uuid.UUID, dict]]) -> None:
    """A CSV audience, in file order (position 1, 2, ...): the fan-out's checkpoint is a position."""
    rows = [{"campaign_id": campaign_id, "position": i, "contact_id": cid, "values": values} for i, (cid, values) in enumerate(csv_rows, 1)]
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(BroadcastRecipient), rows[start : start + CHUNK])


_AUDIENCE_COLUMNS = (Contact.id, Contact.phone, Contact.name, Contact.attributes)


async def csv_window(session: AsyncSession, campaign_id: uuid.UUID, after: int, limit: int) -> list[Any]:
    """The next `limit` CSV recipients after position `after`, with their values."""
    return list(
        (
            await session.execute(
                select(*_AUDIENCE_COLUMNS, BroadcastRecipient.values, BroadcastRecipient.position)
                .join(Contact, Contact.id == BroadcastRecipient.contact_id)
                .where(BroadcastRecipient.campaign_id == campaign_id, BroadcastRecipient.position > after)
                .order_by(BroadcastRecipient.position)
                .limit(limit)
            )
        ).all()
    )


async def contact_window(session: AsyncSession, project_id: uuid.UUID, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    """The ids of the project's next `limit` contacts after `after`, read from the (project_id, id) index."""
    window = select(Contact.id).where(Contact.project_id == project_id)
    if after is not None:
        window = window.where(Contact.id > after)
    return list((await session.execute(window.order_by(Contact.id).limit(limit))).scalars())


async def segment_members_between(session: AsyncSession, project_id: uuid.UUID, flt: dict[str, Any], first: uuid.UUID, last: uuid.UUID) -> list[Any]:
    """The sendable members of a segment among the contacts with ids from `first` to `last`."""
    stmt = select(*_AUDIENCE_COLUMNS).where(
        segments.members(project_id, flt), segments.sendable(), Contact.id >= first, Contact.id <= last,
    )
    return list((await session.execute(stmt.order_by(Contact.id))).all())


async def sendable_ids(session: AsyncSession, contact_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not contact_ids:
        return set()
    return set((await session.execute(select(Contact.id).where(Contact.id.in_(contact_ids), segments.sendable()))).scalars())


# --- the fan-out ---------------------------------------------------------------------------


async def start_due_schedules(session: AsyncSession, now: datetime) -> list[Campaign]:
    """Scheduled broadcasts whose time has come, locked (PostgreSQL: other engines skip them);
    the caller moves them to running."""
    stmt = select(Campaign).where(Campaign.type == "broadcast", Campaign.status == "scheduled", Campaign.send_at <= now)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars())


async def due_for_fan_out(session: AsyncSession, now: datetime, worker_id: str) -> list[uuid.UUID]:
    """Running broadcasts with contacts left to queue, whose lease is free or ours."""
    return list(
        (
            await session.execute(
                select(Campaign.id).where(
                    Campaign.type == "broadcast", Campaign.status == "running", Campaign.fanout_done_at.is_(None),
                    or_(Campaign.lease_until.is_(None), Campaign.lease_until < now, Campaign.lease_holder == worker_id),
                )
            )
        ).scalars()
    )


async def any_running(session: AsyncSession) -> bool:
    return (await session.execute(select(Campaign.id).where(Campaign.type == "broadcast", Campaign.status == "running").limit(1))).first() is not None


async def any_quiet_hours(session: AsyncSession) -> bool:
    return (await session.execute(select(SendPolicy.project_id).where(SendPolicy.quiet_start.is_not(None)).limit(1))).first() is not None


async def take_lease(session: AsyncSession, campaign_id: uuid.UUID, worker_id: str, now: datetime, until: datetime) -> bool:
    result = await session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, or_(Campaign.lease_until.is_(None), Campaign.lease_until < now, Campaign.lease_holder == worker_id))
        .values(lease_holder=worker_id, lease_until=until)
    )
    return bool(result.rowcount)


async def release_lease(session: AsyncSession, campaign_id: uuid.UUID, worker_id: str) -> None:
    await session.execute(
        update(Campaign).where(Campaign.id == campaign_id, Campaign.lease_holder == worker_id).values(lease_holder=None, lease_until=None)
    )


async def lock_campaign(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign | None:
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def contacts_messaged_since(session: AsyncSession, project_id: uuid.UUID, since: datetime) -> int:
    """Unique contacts the project messaged since `since` (the messaging tier counts these)."""
    return (
        await session.execute(
            select(func.count(func.distinct(Message.contact_id))).where(Message.project_id == project_id, Message.created_at >= since)
        )
    ).scalar_one()


async def marketing_counts_since(session: AsyncSession, contact_ids: list[uuid.UUID], since: datetime) -> list[tuple[uuid.UUID, int]]:
    """(contact, marketing messages not failed since `since`) for the contacts that have any."""
    if not contact_ids:
        return []
    rows = await session.execute(
        select(Message.contact_id, func.count())
        .join(Template, Template.id == Message.template_id)
        .where(
            Message.contact_id.in_(contact_ids), Message.created_at >= since,
            Template.category == "MARKETING", Message.status != MessageStatus.failed,
        )
        .group_by(Message.contact_id)
    )
    return [(cid, n) for cid, n in rows.all()]


async def count_at_frequency_cap(session: AsyncSession, members: Any, sendable: Any, since: datetime, cap: int) -> int:
    """Sendable members (the `members` and `sendable` WHERE clauses over contacts) with `cap`
    or more marketing messages (not failed) since `since`: the estimate's frequency-cap skips."""
    recent = (
        select(func.count())
        .select_from(Message)
        .join(Template, Template.id == Message.template_id)
        .where(
            Message.contact_id == Contact.id, Message.created_at >= since,
            Template.category == "MARKETING", Message.status != MessageStatus.failed,
        )
        .scalar_subquery()
    )
    return int((await session.execute(select(func.count()).select_from(Contact).where(members, sendable, recent >= cap))).scalar_one())


async def phone_groups(session: AsyncSession, members: Any, sendable: Any, calling_codes: list[str], length: int) -> list[tuple[str, int]]:
    """Sendable members whose phone starts with +<one of calling_codes>, grouped by the phone's
    first `length` characters: (a phone of the group, how many) (the estimate's region skips,
    projects/marketing_rules.count_blocked)."""
    if not calling_codes:
        return []
    prefix = func.substr(Contact.phone, 1, length)
    stmt = (
        select(func.min(Contact.phone), func.count())
        .select_from(Contact)
        .where(members, sendable, Contact.phone.is_not(None), or_(*[Contact.phone.startswith(f"+{cc}") for cc in calling_codes]))
        .group_by(prefix)
    )
    return [(phone, int(n)) for phone, n in (await session.execute(stmt)).all()]


async def count_broadcast_to_since(session: AsyncSession, members: Any, sendable: Any, since: datetime) -> int:
    """Sendable members who got a message of any broadcast since `since` (a repeat warning)."""
    got = select(Message.id).where(Message.contact_id == Contact.id, Message.broadcast_id.is_not(None), Message.created_at >= since).exists()
    return int((await session.execute(select(func.count()).select_from(Contact).where(members, sendable, got))).scalar_one())


async def sample_member(session: AsyncSession, members: Any, sendable: Any) -> Contact | None:
    """One sendable member, for the preview of a message as it will look."""
    return (await session.execute(select(Contact).where(members, sendable).order_by(Contact.created_at.desc()).limit(1))).scalars().first()


async def already_queued(session: AsyncSession, broadcast_id: uuid.UUID, contact_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not contact_ids:
        return set()
    return set(
        (await session.execute(select(Message.contact_id).where(Message.broadcast_id == broadcast_id, Message.contact_id.in_(contact_ids)))).scalars()
    )




# --- quiet hours, watching, finishing ------------------------------------------------------


async def quiet_policies(session: AsyncSession) -> list[tuple[SendPolicy, Project]]:
    return [
        (policy, project)
        for policy, project in (
            await session.execute(select(SendPolicy, Project).join(Project, Project.id == SendPolicy.project_id).where(SendPolicy.quiet_start.is_not(None)))
        ).all()
    ]


def _unclaimed(now: datetime):
    return or_(Message.locked_until.is_(None), Message.locked_until < now)


async def hold_due_broadcast_messages(session: AsyncSession, project_id: uuid.UUID, until: datetime, reason: str, now: datetime) -> int:
    """Queued broadcast messages of the project due before `until` wait until then."""
    result = await session.execute(
        update(Message)
        .where(
            Message.project_id == project_id, Message.status == MessageStatus.queued, Message.next_attempt_at < until,
            Message.broadcast_id.is_not(None), _unclaimed(now),
        )
        .values(next_attempt_at=until, held_reason=reason)
    )
    return result.rowcount or 0


async def rehold_quiet_held(session: AsyncSession, project_id: uuid.UUID, prefix: str, until: datetime | None, reason: str | None, now: datetime) -> int:
    """The project's messages held by quiet hours (held_reason starting with `prefix`) wait
    until `until` with `reason` instead; with `until` None they are due now, held no more."""
    result = await session.execute(
        update(Message)
        .where(
            Message.project_id == project_id, Message.status == MessageStatus.queued,
            Message.held_reason.startswith(prefix, autoescape=True), _unclaimed(now),
        )
        .values(next_attempt_at=until or now, held_reason=reason)
    )
    return result.rowcount or 0


async def running_broadcasts(session: AsyncSession) -> list[Campaign]:
    return list((await session.execute(select(Campaign).where(Campaign.type == "broadcast", Campaign.status == "running"))).scalars())


async def recent_outcomes(session: AsyncSession, broadcast_id: uuid.UUID, window: int) -> tuple[int, int]:
    """(finished sends, failed sends) among the broadcast's last `window` finished sends."""
    finished_at = func.coalesce(Message.failed_at, Message.sent_at)
    recent = (
        select(Message.status)
        .where(Message.broadcast_id == broadcast_id, Message.status != MessageStatus.queued)
        .order_by(finished_at.desc())
        .limit(window)
        .subquery()
    )
    total, failed = (
        await session.execute(select(func.count(), func.coalesce(func.sum(case((recent.c.status == "failed", 1), else_=0)), 0)).select_from(recent))
    ).one()
    return int(total), int(failed)


async def has_queued(session: AsyncSession, broadcast_id: uuid.UUID) -> bool:
    return (
        await session.execute(select(Message.id).where(Message.broadcast_id == broadcast_id, Message.status == MessageStatus.queued).limit(1))
    ).first() is not None


# --- pause, resume, cancel, retry ----------------------------------------------------------


async def hold_queued(session: AsyncSession, broadcast_id: uuid.UUID, until: datetime, reason: str, now: datetime) -> int:
    """Queued messages not being sent right now wait until `until`, with `reason`."""
    result = await session.execute(
        update(Message)
        .where(Message.broadcast_id == broadcast_id, Message.status == MessageStatus.queued, _unclaimed(now))
        .values(next_attempt_at=until, held_reason=reason)
    )
    return result.rowcount or 0


async def release_held(session: AsyncSession, broadcast_id: uuid.UUID, held_reason: str, at: datetime, new_reason: str | None) -> int:
    """Messages held with `held_reason` are due at `at` (held again with `new_reason`, if any)."""
    result = await session.execute(
        update(Message)
        .where(Message.broadcast_id == broadcast_id, Message.status == MessageStatus.queued, Message.held_reason == held_reason)
        .values(next_attempt_at=at, held_reason=new_reason)
    )
    return result.rowcount or 0


async def withdraw_queued(session: AsyncSession, broadcast_id: uuid.UUID, now: datetime) -> int:
    """Delete the queued messages (and their events) not being sent right now."""
    ids = select(Message.id).where(Message.broadcast_id == broadcast_id, Message.status == MessageStatus.queued, _unclaimed(now))
    await session.execute(delete(MessageEvent).where(MessageEvent.message_id.in_(ids)))
    result = await session.execute(delete(Message).where(Message.id.in_(ids)))
    return result.rowcount or 0


async def failed_with_contacts(session: AsyncSession, broadcast_id: uuid.UUID) -> list[Any]:
    """(id, error_code, opted_in, blocked) of the broadcast's failed messages."""
    return list(
        (
            await session.execute(
                select(Message.id, Message.error_code, Contact.opted_in, Contact.blocked)
                .join(Contact, Contact.id == Message.contact_id)
                .where(Message.broadcast_id == broadcast_id, Message.status == MessageStatus.failed)
            )
        ).all()
    )


async def requeue_failed(session: AsyncSession, message_ids: Iterable[uuid.UUID], due: datetime, held_reason: str | None, now: datetime) -> None:
    """Failed messages are queued again from scratch (attempts, Meta's marketing-limit deferrals
    and error cleared), due at `due`."""
    ids = list(message_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(
            update(Message).where(Message.id.in_(chunk), Message.status == MessageStatus.failed).values(
                status=MessageStatus.queued, attempts=0, marketing_deferrals=0, failed_at=None, locked_until=None, locked_by=None,
                next_attempt_at=due, held_reason=held_reason, error_code=None, error_title=None, error_detail=None,
            )
        )
        await session.execute(insert(MessageEvent), [{"message_id": m, "kind": "retry", "occurred_at": now, "detail": {"reason": "retry-failed"}} for m in chunk])


# --- progress ------------------------------------------------------------------------------


async def status_counts_with_replies(session: AsyncSession, campaign_id: uuid.UUID) -> list[tuple[str, int, int]]:
    """(status, messages, of them replied) of a campaign's messages."""
    rows = await session.execute(
        select(Message.status, func.count(), func.count(Message.replied_at)).where(Message.campaign_id == campaign_id).group_by(Message.status)
    )
    return [(s, int(n), int(r)) for s, n, r in rows.all()]


async def held_by_reason(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, int]:
    """The campaign's queued messages that wait, by held_reason (most first)."""
    rows = (
        await session.execute(
            select(Message.held_reason, func.count())
            .where(Message.campaign_id == campaign_id, Message.status == "queued", Message.held_reason.is_not(None))
            .group_by(Message.held_reason)
            .order_by(func.count().desc())
        )
    ).all()
    return {reason: int(n) for reason, n in rows}
