"""SQL for contact CSV imports (the stored file, its progress and its lease)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.contact_imports import ContactImport


async def insert(session: AsyncSession, job: ContactImport) -> None:
    session.add(job)
    await session.flush()


async def get(session: AsyncSession, import_id: uuid.UUID) -> ContactImport | None:
    return await session.get(ContactImport, import_id)


async def find(session: AsyncSession, project_id: uuid.UUID, import_id: uuid.UUID) -> ContactImport | None:
    stmt = select(ContactImport).where(ContactImport.project_id == project_id, ContactImport.id == import_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def recent(session: AsyncSession, project_id: uuid.UUID, limit: int) -> list[ContactImport]:
    stmt = select(ContactImport).where(ContactImport.project_id == project_id).order_by(ContactImport.created_at.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


async def claim(session: AsyncSession, import_id: uuid.UUID, now: datetime, lease: timedelta) -> bool:
    """Take the lease of a pending or running import whose lease ran out (or never was)."""
    result = await session.execute(
        update(ContactImport)
        .where(
            ContactImport.id == import_id,
            ContactImport.status.in_(("pending", "running")),
            or_(ContactImport.lease_until.is_(None), ContactImport.lease_until < now),
        )
        .values(status="running", lease_until=now + lease)
    )
    return bool(result.rowcount)
