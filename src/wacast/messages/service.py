"""Reading messages: one message with its history, and pages of them (REST and the CLI)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.errors import WacastError
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.messages import repository, repository_clicks
from wacast.messages.schemas import MessageOut, message_out
from wacast.models.messages import MessageStatus


async def find_message(session: AsyncSession, message_id: uuid.UUID, *, project_id: uuid.UUID | None = None) -> MessageOut | None:
    """A message of `project_id` (of any project when None: the operator's CLI), with its events."""
    found = await repository.find_with_events(session, message_id, project_id=project_id)
    if found is None:
        return None
    message, events, campaign_name = found
    clicked = (await repository_clicks.clicked(session, [message.id])).get(message.id)
    return message_out(message, events, campaign_name=campaign_name, clicked=clicked)


async def list_messages(
    session: AsyncSession,
    project_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int | None = 50,
) -> Page:
    """A page of a project's messages, newest first, optionally of one campaign, contact or status."""
    limit = page_limit(limit)
    if status and status not in {s.value for s in MessageStatus}:
        raise WacastError("status must be queued, sent, delivered, read or failed", "VALIDATION_ERROR", {"field": "status"}, status_code=422)
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_page(
        session, project_id, campaign_id=campaign_id, contact_id=contact_id, status=status, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1][0] if rows else None
    clicked = await repository_clicks.clicked(session, [message.id for message, _ in rows])
    return Page([_row(message, name, clicked.get(message.id)) for message, name in rows],
                encode_cursor(last.created_at, last.id) if more and last else None)


def _row(m: Any, campaign_name: str | None, clicked: tuple[Any, int] | None = None) -> dict[str, Any]:
    return {
        "submitted_message_id": str(m.id), "status": m.status, "wamid": m.wamid, "destination": m.destination,
        "contact_id": str(m.contact_id), "campaign": campaign_name, "template": (m.payload or {}).get("template"),
        "error": {"code": m.error_code, "title": m.error_title} if m.error_code is not None or m.error_title else None,
        "created_at": m.created_at, "sent_at": m.sent_at, "delivered_at": m.delivered_at, "read_at": m.read_at,
        "failed_at": m.failed_at, "replied_at": m.replied_at,
        "clicked": {"first_clicked_at": clicked[0], "clicks": clicked[1]} if clicked else None,
    }
