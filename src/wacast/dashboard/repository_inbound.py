"""Read models of what a contact sent, for the contact page: its replies with their typed
content (meta/inbound.py), and its reactions, per message of the timeline and the ones on
messages the timeline does not show."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.messages import MessageReaction, Reply


async def contact_replies(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, limit: int = 100) -> list[Reply]:
    """The contact's latest inbound messages, newest first, with their content and media id."""
    return list((await session.execute(
        select(Reply).where(Reply.project_id == project_id, Reply.contact_id == contact_id)
        .order_by(Reply.received_at.desc(), Reply.id).limit(limit)
    )).scalars().all())


async def contact_reactions(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID,
                            limit: int = 200) -> Sequence[MessageReaction]:
    """The contact's standing reactions (taken-back ones left out), newest first."""
    return (await session.execute(
        select(MessageReaction).where(MessageReaction.project_id == project_id, MessageReaction.contact_id == contact_id,
                                      MessageReaction.emoji.is_not(None))
        .order_by(MessageReaction.reacted_at.desc()).limit(limit)
    )).scalars().all()


def reactions_by_message(reactions: Sequence[MessageReaction]) -> dict[uuid.UUID, MessageReaction]:
    """The reaction on each of our messages (by message id)."""
    return {r.message_id: r for r in reactions if r.message_id is not None}
