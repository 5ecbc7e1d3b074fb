"""The queries of projects. Each function takes the session first; none commits."""

from __future__ import annotations

import uuid

from sqlalchemy import select
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
