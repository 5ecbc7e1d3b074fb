"""All SQL of notifications: the notifications, the owners they go to, the email outbox. The
session is the first argument; nothing here commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import is_postgres
from wacast.models.notifications import Notification, NotificationEmail
from wacast.models.projects import Project
from wacast.models.users import Membership, Role, User

# --- notifications ---------------------------------------------------------------------------


async def latest_repeat(session: AsyncSession, project_id: uuid.UUID, fingerprint: str, since: datetime) -> Notification | None:
    """The project's newest notification with this fingerprint seen since `since`, not dismissed."""
    stmt = (
        select(Notification)
        .where(Notification.project_id == project_id, Notification.fingerprint == fingerprint,
               Notification.last_at >= since, Notification.dismissed_at.is_(None))
        .order_by(Notification.last_at.desc()).limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add(session: AsyncSession, row: Notification) -> None:
    session.add(row)
    await session.flush()


async def find(session: AsyncSession, project_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    stmt = select(Notification).where(Notification.project_id == project_id, Notification.id == notification_id)
    return (await session.execute(stmt)).scalar_one_or_none()


def _filtered(stmt: Any, project_id: uuid.UUID, kind: str | None, unread: bool | None, dismissed: bool) -> Any:
    stmt = stmt.where(Notification.project_id == project_id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if unread is True:
        stmt = stmt.where(Notification.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(Notification.read_at.is_not(None))
    if not dismissed:
        stmt = stmt.where(Notification.dismissed_at.is_(None))
    return stmt


async def page(
    session: AsyncSession, project_id: uuid.UUID, *, kind: str | None, unread: bool | None, dismissed: bool,
    after: tuple[datetime, uuid.UUID] | None, limit: int,
) -> list[Notification]:
    """Newest first, keyset after `after` (created_at, id)."""
    stmt = _filtered(select(Notification), project_id, kind, unread, dismissed)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(or_(Notification.created_at < at, and_(Notification.created_at == at, Notification.id < last_id)))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def unread_count(session: AsyncSession, project_id: uuid.UUID) -> int:
    stmt = _filtered(select(func.count()).select_from(Notification), project_id, None, True, False)
    return (await session.execute(stmt)).scalar_one()


async def kinds_present(session: AsyncSession, project_id: uuid.UUID) -> list[str]:
    stmt = select(Notification.kind).where(Notification.project_id == project_id).distinct()
    return sorted((await session.execute(stmt)).scalars())


async def mark_all_read(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID | None, now: datetime, kind: str | None) -> int:
    stmt = update(Notification).where(Notification.project_id == project_id, Notification.read_at.is_(None))
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    result = await session.execute(stmt.values(read_at=now, read_by=user_id))
    return result.rowcount or 0


# --- who gets the emails ---------------------------------------------------------------------


async def owners(session: AsyncSession, project_id: uuid.UUID) -> list[str]:
    """The email addresses of the project's owners."""
    stmt = (
        select(User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id, Membership.role == Role.owner.value).order_by(User.email)
    )
    return list((await session.execute(stmt)).scalars())


async def project_name(session: AsyncSession, project_id: uuid.UUID) -> str:
    return (await session.execute(select(Project.name).where(Project.id == project_id))).scalar_one_or_none() or ""


# --- the email outbox ------------------------------------------------------------------------


async def add_emails(session: AsyncSession, rows: list[NotificationEmail]) -> None:
    session.add_all(rows)
    await session.flush()


async def claim_due(session: AsyncSession, now: datetime, lease_until: datetime, limit: int) -> list[NotificationEmail]:
    """Due pending emails, leased to this sender (SKIP LOCKED on PostgreSQL: several processes
    share the outbox; a dead one's lease runs out and the email is claimed again)."""
    stmt = (
        select(NotificationEmail.id)
        .where(NotificationEmail.status == "pending", NotificationEmail.next_attempt_at <= now,
               or_(NotificationEmail.locked_until.is_(None), NotificationEmail.locked_until < now))
        .order_by(NotificationEmail.next_attempt_at).limit(limit)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list((await session.execute(stmt)).scalars())
    if not ids:
        return []
    await session.execute(
        update(NotificationEmail).where(NotificationEmail.id.in_(ids))
        .values(locked_until=lease_until, attempts=NotificationEmail.attempts + 1)
    )
    rows = (await session.execute(
        select(NotificationEmail).where(NotificationEmail.id.in_(ids)).execution_options(populate_existing=True))).scalars()
    return list(rows)


async def update_email(session: AsyncSession, email_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(NotificationEmail).where(NotificationEmail.id == email_id).values(**values))


async def emails_of(session: AsyncSession, notification_id: uuid.UUID) -> list[NotificationEmail]:
    stmt = select(NotificationEmail).where(NotificationEmail.notification_id == notification_id).order_by(NotificationEmail.to_address)
    return list((await session.execute(stmt)).scalars())


async def purge_before(session: AsyncSession, cutoff: datetime) -> int:
    """Delete notifications whose latest repeat is older than `cutoff`, with their emails; one
    with an email still pending stays. Returns the notifications deleted."""
    pending = exists().where(NotificationEmail.notification_id == Notification.id, NotificationEmail.status == "pending")
    old = select(Notification.id).where(Notification.last_at < cutoff, ~pending)
    await session.execute(delete(NotificationEmail).where(NotificationEmail.notification_id.in_(old)))
    result = await session.execute(delete(Notification).where(Notification.last_at < cutoff, ~pending))
    return result.rowcount or 0
