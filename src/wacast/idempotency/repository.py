"""All SQL of Idempotency-Key: claim a key, read it, release it, store the response, purge."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore, is_postgres
from wacast.models.idempotency import IdempotencyKey


async def insert_claim(session: AsyncSession, scope: str, key: str, request_hash: str, locked_until: datetime, now: datetime) -> bool:
    """Claim (scope, key) as in flight; False when a row for it already exists."""
    inserted = await session.execute(
        insert_ignore(session, IdempotencyKey, ["scope", "key"]).values(
            scope=scope, key=key, request_hash=request_hash, state="in_flight", locked_until=locked_until, created_at=now,
        )
    )
    return bool(inserted.rowcount)


async def get_for_update(session: AsyncSession, scope: str, key: str) -> IdempotencyKey | None:
    """The key's row, locked on PostgreSQL so two requests with one key decide one at a time."""
    stmt = select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def release_in_flight(session: AsyncSession, scope: str, key: str) -> None:
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key, IdempotencyKey.state == "in_flight"))


async def store_response(session: AsyncSession, scope: str, key: str, status: int, headers: dict[str, Any], body: str) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        .values(state="done", locked_until=None, response_status=status, response_headers=headers, response_body=body)
    )


async def purge_created_before(session: AsyncSession, before: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= before))
    return result.rowcount or 0
