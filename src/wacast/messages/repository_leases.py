"""SQL for the dispatchers' coordination: worker heartbeats and sender-number leases.

One worker serves a sender number at a time (its lease), so that number's rate limits are
exact; leases are shared fairly between the live workers (messages/dispatcher.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore
from wacast.models.projects import SenderLease, Worker


async def heartbeat(session: AsyncSession, worker_id: str, started_at: datetime, now: datetime, lease_for: timedelta) -> int:
    """Forget workers silent for two lease periods, beat our own heart; the live worker count."""
    await session.execute(delete(Worker).where(Worker.heartbeat_at < now - lease_for * 2))
    await session.execute(insert_ignore(session, Worker, ["id"]).values(id=worker_id, started_at=started_at, heartbeat_at=now))
    await session.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now))
    return (await session.execute(select(func.count()).select_from(Worker).where(Worker.heartbeat_at >= now - lease_for))).scalar_one()


async def leases_by_project(session: AsyncSession) -> dict[uuid.UUID, SenderLease]:
    return {row.project_id: row for row in (await session.execute(select(SenderLease))).scalars().all()}


async def extend(session: AsyncSession, project_id: uuid.UUID, worker_id: str, until: datetime) -> None:
    """Keep our lease on a number until `until`."""
    await session.execute(
        update(SenderLease).where(SenderLease.project_id == project_id, SenderLease.holder == worker_id).values(expires_at=until)
    )


async def give_back(session: AsyncSession, project_id: uuid.UUID, worker_id: str, free_at: datetime) -> None:
    """Hand a number back; nobody may take it before `free_at` (our last sends' quiet period)."""
    await session.execute(
        update(SenderLease)
        .where(SenderLease.project_id == project_id, SenderLease.holder == worker_id)
        .values(holder="", expires_at=free_at)
    )


async def take(session: AsyncSession, project_id: uuid.UUID, worker_id: str, now: datetime, until: datetime, *, exists: bool) -> bool:
    """Take a number nobody holds (no lease yet, or an expired one); True when it is ours."""
    if not exists:
        result = await session.execute(
            insert_ignore(session, SenderLease, ["project_id"]).values(project_id=project_id, holder=worker_id, expires_at=until)
        )
    else:
        result = await session.execute(
            update(SenderLease)
            .where(SenderLease.project_id == project_id, or_(SenderLease.expires_at < now, SenderLease.holder == worker_id))
            .values(holder=worker_id, expires_at=until)
        )
    return bool(result.rowcount)


async def sign_off(session: AsyncSession, worker_id: str) -> None:
    """A stopping worker: drop whatever leases it still holds and its heartbeat."""
    await session.execute(delete(SenderLease).where(SenderLease.holder == worker_id))
    await session.execute(delete(Worker).where(Worker.id == worker_id))
