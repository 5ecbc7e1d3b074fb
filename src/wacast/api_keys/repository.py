"""SQL for API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.api_keys import ApiKey


async def insert(session: AsyncSession, key: ApiKey) -> None:
    session.add(key)
    await session.flush()


async def identity_by_hash(session: AsyncSession, key_hash: str) -> Any:
    """(id, project_id, scope, rate_limit, rate_burst) of the live key with this hash, or None."""
    stmt = select(ApiKey.id, ApiKey.project_id, ApiKey.scope, ApiKey.rate_limit, ApiKey.rate_burst).where(
        ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None)
    )
    return (await session.execute(stmt)).first()


async def set_last_used(session: AsyncSession, key_id: uuid.UUID, at: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


async def revoke(session: AsyncSession, project_id: uuid.UUID, key_id: uuid.UUID, at: datetime) -> bool:
    result = await session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.project_id == project_id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    )
    return result.rowcount > 0


async def for_project(session: AsyncSession, project_id: uuid.UUID) -> list[ApiKey]:
    """The project's keys: live ones first, newest first."""
    stmt = select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    return list((await session.execute(stmt)).scalars().all())
