"""A message's `clicked` outcome for the message view: its first counted tap on a tracked
link and how many (the link_clicks table that links/clicks.py writes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.links import LinkClick


async def clicked(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[datetime, int]]:
    """(first counted click, counted clicks) of each clicked message among `message_ids`."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(LinkClick.message_id, func.min(LinkClick.clicked_at), func.count())
        .where(LinkClick.message_id.in_(list(message_ids)), LinkClick.counted.is_(True)).group_by(LinkClick.message_id)
    )
    return {mid: (at, int(n)) for mid, at, n in rows.all()}
