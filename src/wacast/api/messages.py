"""Reading a message's fate: GET /api/v1/messages/{submitted_message_id}."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from wacast.api.auth import ApiIdentity, require_key
from wacast.api.common import page
from wacast.campaigns.analytics import find_campaign
from wacast.contacts import service as contacts
from wacast.db.requests import ReadSession
from wacast.kit.errors import NotFound
from wacast.kit.pagination import page_limit
from wacast.messages import service as messages
from wacast.messages.schemas import MessageOut

router = APIRouter(prefix="/api/v1", tags=["Messages"])
Key = Annotated[ApiIdentity, Depends(require_key)]  # authenticated (and rate limited) before a session opens


@router.get(
    "/messages/{submitted_message_id}",
    response_model=MessageOut,
    summary="A message: status, wamid, error and its event history",
    responses={
        200: {"content": {"application/json": {"example": MessageOut.model_config["json_schema_extra"]["example"]}}},
        404: {"content": {"application/json": {"example": {"message": "Message not found", "code": "MESSAGE_NOT_FOUND"}}}},
    },
)
async def get_message(submitted_message_id: str, identity: Key, session: ReadSession) -> Any:
    try:
        message_id = uuid.UUID(submitted_message_id)
    except ValueError:
        raise NotFound("Message not found", "MESSAGE_NOT_FOUND") from None
    found = await messages.find_message(session, message_id, project_id=identity.project_id)
    if found is None:
        raise NotFound("Message not found", "MESSAGE_NOT_FOUND")
    return found


MESSAGE_ROW = {
    "submitted_message_id": "6f1c8a52-4a43-4c1e-9d35-5c0f0f4e2f7b", "status": "read", "wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJC",
    "destination": "+917428526285", "contact_id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11", "campaign": "order_update",
    "template": "order_update", "error": None, "created_at": "2026-11-27T10:00:00Z", "sent_at": "2026-11-27T10:00:01Z",
    "delivered_at": "2026-11-27T10:00:02Z", "read_at": "2026-11-27T10:03:00Z", "failed_at": None, "replied_at": None,
    "clicked": {"first_clicked_at": "2026-11-27T10:03:09Z", "clicks": 1},
}


@router.get(
    "/messages",
    summary="List messages by campaign, contact or status, newest first (cursor pages)",
    responses={200: {"content": {"application/json": {"example": {"data": [MESSAGE_ROW], "next_cursor": None}}}},
               404: {"content": {"application/json": {"example": {"message": "Campaign not found", "code": "CAMPAIGN_NOT_FOUND"}}}}},
)
async def list_messages(
    identity: Key,
    session: ReadSession,
    campaign: str | None = None,
    contact: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    """A `send` key may read its project's messages too (integrations/docs)."""
    limit = page_limit(limit)  # checked first, as before the campaign and contact lookups
    campaign_id = (await find_campaign(session, identity.project_id, campaign)).id if campaign else None
    contact_id = (await contacts.get(session, identity.project_id, contact)).id if contact else None
    return page(await messages.list_messages(
        session, identity.project_id, campaign_id=campaign_id, contact_id=contact_id, status=status, cursor=cursor, limit=limit,
    ))
