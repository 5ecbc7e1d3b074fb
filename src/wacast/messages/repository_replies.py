"""The SQL of what people send besides replies' own rows: reactions, and the media of replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore
from wacast.models.messages import Message, MessageReaction, Reply


async def message_by_wamid(session: AsyncSession, project_id: uuid.UUID, wamid: str) -> uuid.UUID | None:
    return (await session.execute(select(Message.id).where(Message.project_id == project_id, Message.wamid == wamid))).scalar_one_or_none()


async def set_reaction(session: AsyncSession, *, project_id: uuid.UUID, contact_id: uuid.UUID, message_id: uuid.UUID | None,
                       reacted_wamid: str, emoji: str | None, wamid: str, at: datetime) -> bool:
    """The person's reaction to a message, replacing an earlier one (a later one wins: Meta may
    deliver them out of order); False when this reaction was applied before or is older."""
    inserted = await session.execute(insert_ignore(session, MessageReaction, ["contact_id", "reacted_wamid"]).values(
        id=uuid.uuid4(), project_id=project_id, contact_id=contact_id, message_id=message_id, reacted_wamid=reacted_wamid,
        emoji=emoji, wamid=wamid, reacted_at=at))
    if inserted.rowcount:
        return True
    changed = await session.execute(
        update(MessageReaction)
        .where(MessageReaction.contact_id == contact_id, MessageReaction.reacted_wamid == reacted_wamid,
               MessageReaction.wamid != wamid, MessageReaction.reacted_at <= at)
        .values(emoji=emoji, wamid=wamid, reacted_at=at, message_id=message_id)
    )
    return bool(changed.rowcount)


async def reactions_of(session: AsyncSession, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The standing reaction emoji on each of the messages (removed ones are absent)."""
    if not message_ids:
        return {}
    rows = await session.execute(select(MessageReaction.message_id, MessageReaction.emoji)
                                 .where(MessageReaction.message_id.in_(message_ids), MessageReaction.emoji.is_not(None)))
    return {message_id: emoji for message_id, emoji in rows.all()}


async def media_of_project(session: AsyncSession, project_id: uuid.UUID, media_id: str) -> dict[str, Any] | None:
    """What a reply of this project says of a media id (mime type, sha256, caption, filename):
    a media id is only ever served to the project whose contact sent it."""
    row = (await session.execute(
        select(Reply.type, Reply.content).where(Reply.project_id == project_id, Reply.media_id == media_id).limit(1)
    )).first()
    if row is None:
        return None
    content = row.content or {}
    return {"kind": row.type, **{k: content.get(k) for k in ("mime_type", "sha256", "caption", "filename")}}
