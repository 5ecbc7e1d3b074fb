"""The SQL of the media cache (models/media.InboundMedia): read, keep, purge."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore
from wacast.models.media import InboundMedia


async def cached(session: AsyncSession, project_id: uuid.UUID, media_id: str) -> InboundMedia | None:
    return (await session.execute(
        select(InboundMedia).where(InboundMedia.project_id == project_id, InboundMedia.media_id == media_id)
    )).scalar_one_or_none()


async def keep(session: AsyncSession, *, project_id: uuid.UUID, media_id: str, mime_type: str, sha256: str,
               content: bytes, fetched_at: datetime) -> bool:
    """Cache the file; False when another request cached it first (the same bytes from Meta)."""
    inserted = await session.execute(insert_ignore(session, InboundMedia, ["project_id", "media_id"]).values(
        project_id=project_id, media_id=media_id, mime_type=mime_type, sha256=sha256, size=len(content),
        content=content, fetched_at=fetched_at))
    return bool(inserted.rowcount)


async def purge_fetched_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(InboundMedia).where(InboundMedia.fetched_at < cutoff))
    return result.rowcount or 0
