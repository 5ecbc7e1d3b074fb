"""The SQL of what people send besides the insert of a reply (messages/repository.insert_reply):
the message a reply answers, reactions, and the media of replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore
from wacast.models.messages import Message, MessageReaction, Reply

ANSWERABLE = ("sent", "delivered", "read")


async def message_by_wamid(session: AsyncSession, project_id: uuid.UUID, wamid: str) -> uuid.UUID | None:
    """The project's message with this wamid (ours), if any."""
    return (await session.execute(select(Message.id).where(Message.project_id == project_id, Message.wamid == wamid))).scalar_one_or_none()


async def answered_message(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, context_wamid: str | None) -> uuid.UUID | None:
    """The message a reply answers: the one it quotes (`context.id`, a message of this project
    to this contact), else the contact's latest message that went out."""
    if context_wamid:
        quoted = (await session.execute(select(Message.id).where(
            Message.project_id == project_id, Message.contact_id == contact_id, Message.wamid == context_wamid))).scalar_one_or_none()
        if quoted is not None:
            return quoted
    return (await session.execute(
        select(Message.id).where(Message.project_id == project_id, Message.contact_id == contact_id, Message.status.in_(ANSWERABLE))
        .order_by(Message.created_at.desc()).limit(1)
    )).scalar_one_or_none()


async def set_reaction(session: AsyncSession, *, project_id: uuid.UUID, contact_id: uuid.UUID, message_id: uuid.UUID | None,
                       reacted_wamid: str, emoji: str | None, wamid: str, at: datetime) -> bool:
    """The person's reaction to a message, replacing an earlier one (the later one wins: Meta may
    deliver them out of order); False when this reaction was applied before or is older than
    the one kept."""
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


async def media_of_project(session: AsyncSession, project_id: uuid.UUID, media_id: str) -> dict[str, Any] | None:
    """What a reply of this project says of a media id: {kind, mime_type, sha256, caption,
    filename} (the latest such reply); None when no reply of this project carries it: a media
    id is only ever served to the project whose contact sent it."""
    row = (await session.execute(
        select(Reply.type, Reply.content).where(Reply.project_id == project_id, Reply.media_id == media_id)
        .order_by(Reply.received_at.desc()).limit(1)
    )).first()
    if row is None:
        return None
    content = row.content if isinstance(row.content, dict) else {}
    return {"kind": row.type, **{k: content.get(k) for k in ("mime_type", "sha256", "caption", "filename")}}
