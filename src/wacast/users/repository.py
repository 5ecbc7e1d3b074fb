"""SQL for dashboard users and their memberships of projects."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.users import Membership, User


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
