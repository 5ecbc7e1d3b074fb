"""The queries of projects. Each function takes the session first; none commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.projects import Project


async def get(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def by_name(session: AsyncSession, name: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.name == name))).scalar_one_or_none()


async def name_taken(session: AsyncSession, name: str) -> bool:
    return (await session.execute(select(Project.id).where(Project.name == name))).first() is not None


async def list_all(session: AsyncSession) -> list[Project]:
    return list((await session.execute(select(Project).order_by(Project.name))).scalars().all())


async def add(session: AsyncSession, project: Project) -> None:
    session.add(project)
    await session.flush()


# --- queries the dispatcher needs
# (and the inbound event loop, whatsapp/inbound.py)


async def all_projects(session: AsyncSession) -> Sequence[Project]:
    """Every project: the sender numbers the dispatchers share."""
    return (await session.execute(select(Project))).scalars().all()


async def set_halted(session: AsyncSession, project_id: uuid.UUID, reason: str) -> bool:
    """Meta refused the sender: nothing is sent for it until an operator clears the halt. True
    when this halts it now (it was not halted already for this reason)."""
    reason = reason[:500]
    result = await session.execute(update(Project).where(
        Project.id == project_id, or_(Project.halted_reason.is_(None), Project.halted_reason != reason)).values(halted_reason=reason))
    return bool(result.rowcount)



async def find_by_phone_number_id(session: AsyncSession, phone_number_id: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.phone_number_id == phone_number_id))).scalars().first()


async def ids_with_waba(session: AsyncSession, waba_id: str) -> list[uuid.UUID]:
    return list((await session.execute(select(Project.id).where(Project.waba_id == waba_id))).scalars().all())
