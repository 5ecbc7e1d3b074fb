"""The use cases of notifications: `notify` (every domain that warns calls it) and the panel's
list, read, dismiss and count (REST, dashboard).

`notify` works in the caller's transaction (flush, never commit): the notification exists if
and only if the change that caused it committed; its customer webhook `notification.created`
and its emails (one per owner of the project, when SMTP is configured) are rows written with
it, sent later by the WebhookSender and the Mailer loops. Nothing that sends is held in memory.

Repeats: a warning identical to one of the last COLLAPSE_WITHIN (kind, severity, title, text
and link; policy.fingerprint), and not dismissed, is counted on that notification (`repeats`,
`last_at`) instead of making a new one: no second webhook, no second email.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text as text_rule
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.models.notifications import Notification, NotificationEmail
from wacast.notifications import policy
from wacast.notifications import repository as repo
from wacast.webhooks import events as hooks

TOPIC = "notification.created"


@dataclass
class Delivery:
    """What a process knows about delivering notifications (from its settings): whether emails
    are queued (WACAST_SMTP_HOST set) and the public URL that makes a dashboard link absolute."""

    email: bool = False
    public_url: str = ""


_delivery = Delivery()


def configure(settings: Any) -> None:
    """Called once by each process that may warn (the app's lifespan, runtime.build_loops)."""
    global _delivery
    _delivery = Delivery(email=bool(getattr(settings, "smtp_configured", False)), public_url=getattr(settings, "public_url", "") or "")


def delivery() -> Delivery:
    return _delivery


def as_dict(row: Notification, public_url: str = "") -> dict[str, Any]:
    return {
        "id": str(row.id), "kind": row.kind, "severity": row.severity, "title": row.title, "text": row.text,
        "link": row.link, "url": policy.absolute(row.link, public_url) if public_url else None, "data": row.data or {},
        "repeats": row.repeats, "created_at": row.created_at, "last_at": row.last_at,
        "read_at": row.read_at, "read_by": str(row.read_by) if row.read_by else None,
        "dismissed_at": row.dismissed_at, "dismissed_by": str(row.dismissed_by) if row.dismissed_by else None,
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def notify(
    session: AsyncSession, project_id: uuid.UUID, kind: str, severity: str, title: str, text: str,
    link: str | None = None, data: dict[str, Any] | None = None, *, now: datetime | None = None, email: bool | None = None,
) -> Notification:
    """Record one warning of the project: the panel's row, the customer webhook, the owners'
    emails (`email`: None follows the process's SMTP setting). Never refuses a warning for its
    words (they are cleaned, policy.py): it must not undo the change that caused it. Returns the
    notification (an earlier one when this is a repeat)."""
    now = now or utcnow()
    kind, severity = policy.kind(kind), policy.severity(severity)
    title = policy.line(title) or kind
    body = policy.paragraph(text)
    link = policy.link(link)
    fingerprint = policy.fingerprint(kind, severity, title, body, link)
    earlier = await repo.latest_repeat(session, project_id, fingerprint, now - policy.COLLAPSE_WITHIN)
    if earlier is not None:
        earlier.repeats += 1
        earlier.last_at = now
        await session.flush()
        return earlier
    row = Notification(
        id=uuid.uuid4(), project_id=project_id, kind=kind, severity=severity, title=title, text=body, link=link,
        data=text_rule.scrub_tree(data) if isinstance(data, dict) else None, fingerprint=fingerprint,
        repeats=1, created_at=now, last_at=now,
    )
    await repo.add(session, row)
    public_url = _delivery.public_url
    await hooks.emit_if_wanted(session, project_id, TOPIC, {"notification": {
        "id": str(row.id), "kind": kind, "severity": severity, "title": title, "text": body, "link": link,
        "url": policy.absolute(link, public_url), "data": row.data or {}, "created_at": _iso(now),
    }})
    if _delivery.email if email is None else email:
        await _queue_emails(session, row, public_url, now)
    return row


async def _queue_emails(session: AsyncSession, row: Notification, public_url: str, now: datetime) -> None:
    recipients = [a for a in dict.fromkeys(policy.address(e) for e in await repo.owners(session, row.project_id)) if a]
    if not recipients:
        return
    name = await repo.project_name(session, row.project_id)
    subject = policy.subject(name, row.title)
    body = policy.body(name, row.severity, row.title, row.text, policy.absolute(row.link, public_url))
    await repo.add_emails(session, [
        NotificationEmail(id=uuid.uuid4(), notification_id=row.id, project_id=row.project_id, to_address=to, subject=subject,
                          body=body, status="pending", attempts=0, next_attempt_at=now, created_at=now)
        for to in recipients
    ])


# --- the panel -------------------------------------------------------------------------------


def _kind_filter(kind: Any) -> str | None:
    if kind is None or kind == "":
        return None
    if not isinstance(kind, str) or not policy.KIND_PATTERN.fullmatch(kind):
        raise WacastError("kind must be a notification kind such as broadcast.paused", "VALIDATION_ERROR",
                          {"field": "kind", "known": sorted(policy.KINDS)}, status_code=422)
    return kind


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, *, kind: Any = None, unread: bool | None = None, dismissed: bool = False,
    cursor: str | None = None, limit: int | None = None,
) -> Page:
    """The project's notifications, newest first (dismissed ones only when asked)."""
    limit = page_limit(limit)
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.page(session, project_id, kind=_kind_filter(kind), unread=unread, dismissed=dismissed, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    public_url = _delivery.public_url
    return Page([as_dict(r, public_url) for r in rows], encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


async def _get(session: AsyncSession, project_id: uuid.UUID, notification_id: Any) -> Notification:
    try:
        nid = uuid.UUID(str(notification_id))
    except ValueError:
        nid = None
    row = await repo.find(session, project_id, nid) if nid is not None else None
    if row is None:
        raise NotFound("Notification not found", "NOTIFICATION_NOT_FOUND", {"id": str(notification_id)[:64]})
    return row


async def mark_read(session: AsyncSession, project_id: uuid.UUID, notification_id: Any, user_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Read (by the signed-in user; None from the API). Reading it again changes nothing."""
    row = await _get(session, project_id, notification_id)
    if row.read_at is None:
        row.read_at, row.read_by = utcnow(), user_id
        await session.flush()
    return as_dict(row, _delivery.public_url)


async def dismiss(session: AsyncSession, project_id: uuid.UUID, notification_id: Any, user_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Out of the panel (kept, listed with dismissed=true); dismissing also reads it."""
    row = await _get(session, project_id, notification_id)
    now = utcnow()
    if row.read_at is None:
        row.read_at, row.read_by = now, user_id
    if row.dismissed_at is None:
        row.dismissed_at, row.dismissed_by = now, user_id
    await session.flush()
    return as_dict(row, _delivery.public_url)


async def mark_all_read(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID | None = None, kind: Any = None) -> int:
    return await repo.mark_all_read(session, project_id, user_id, utcnow(), _kind_filter(kind))


async def unread_count(session: AsyncSession, project_id: uuid.UUID) -> int:
    return await repo.unread_count(session, project_id)


async def kinds(session: AsyncSession, project_id: uuid.UUID) -> list[tuple[str, str]]:
    """(kind, words) for the filter: the known kinds, and any other the project has."""
    present = await repo.kinds_present(session, project_id)
    return [(k, policy.KINDS.get(k, k)) for k in dict.fromkeys([*policy.KINDS, *present])]


async def emails(session: AsyncSession, notification_id: uuid.UUID) -> list[NotificationEmail]:
    return await repo.emails_of(session, notification_id)


async def purge_old(session: AsyncSession, days: int, now: datetime | None = None) -> int:
    """Forget notifications older than WACAST_NOTIFICATION_RETENTION_DAYS (0 keeps them)."""
    if days <= 0:
        return 0
    return await repo.purge_before(session, (now or utcnow()) - timedelta(days=days))
