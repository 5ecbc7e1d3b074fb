"""SQL for dashboard users, their memberships of projects and their signed-in sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.users import DashboardSession, Membership, User


async def by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def get(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def insert(session: AsyncSession, user: User) -> None:
    session.add(user)
    await session.flush()


async def membership(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
    stmt = select(Membership).where(Membership.project_id == project_id, Membership.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_membership(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    session.add(Membership(project_id=project_id, user_id=user_id, role=role))
    await session.flush()


async def remove_membership(session: AsyncSession, membership: Membership) -> None:
    await session.delete(membership)
    await session.flush()


async def members(session: AsyncSession, project_id: uuid.UUID) -> list[Any]:
    """(User, role) of every member of the project, by email."""
    stmt = select(User, Membership.role).join(Membership, Membership.user_id == User.id).where(Membership.project_id == project_id).order_by(User.email)
    return list((await session.execute(stmt)).all())


async def owner_count(session: AsyncSession, project_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Membership).where(Membership.project_id == project_id, Membership.role == "owner")
    return (await session.execute(stmt)).scalar_one()


async def insert_session(session: AsyncSession, row: DashboardSession) -> None:
    session.add(row)
    await session.flush()


async def session_and_user(session: AsyncSession, session_id: str) -> tuple[DashboardSession, User] | None:
    stmt = select(DashboardSession, User).join(User, User.id == DashboardSession.user_id).where(DashboardSession.id == session_id)
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def touch_session(session: AsyncSession, session_id: str, now: datetime, seen_before: datetime) -> int:
    """last_seen_at = now, unless another request did it since `seen_before` (one write a minute)."""
    stmt = (update(DashboardSession).where(DashboardSession.id == session_id, DashboardSession.last_seen_at < seen_before)
            .values(last_seen_at=now))
    return (await session.execute(stmt)).rowcount


async def delete_session(session: AsyncSession, session_id: str) -> int:
    return (await session.execute(delete(DashboardSession).where(DashboardSession.id == session_id))).rowcount


async def delete_sessions_of(session: AsyncSession, user_id: uuid.UUID, keep_id: str | None = None) -> int:
    stmt = delete(DashboardSession).where(DashboardSession.user_id == user_id)
    if keep_id is not None:
        stmt = stmt.where(DashboardSession.id != keep_id)
    return (await session.execute(stmt)).rowcount


async def sessions_of(session: AsyncSession, user_id: uuid.UUID, now: datetime, idle_cutoff: datetime) -> list[DashboardSession]:
    """The user's live sessions, the most recently used first."""
    stmt = (select(DashboardSession)
            .where(DashboardSession.user_id == user_id, DashboardSession.expires_at > now, DashboardSession.last_seen_at > idle_cutoff)
            .order_by(DashboardSession.last_seen_at.desc()))
    return list((await session.execute(stmt)).scalars().all())


async def delete_ended_sessions(session: AsyncSession, now: datetime, idle_cutoff: datetime) -> int:
    stmt = delete(DashboardSession).where(or_(DashboardSession.expires_at <= now, DashboardSession.last_seen_at <= idle_cutoff))
    return (await session.execute(stmt)).rowcount
