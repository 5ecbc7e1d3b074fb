"""Reading a message's fate: GET /api/v1/messages/{submitted_message_id}."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from wacast.api.auth import ApiIdentity, require_key
from wacast.kit.errors import NotFound
from wacast.messages import repository as repo
from wacast.messages.schemas import MessageOut, message_out
from wacast.api.common import page
from wacast.campaigns.analytics import find_campaign
from wacast.contacts import service as contacts
from wacast.kit.errors import WacastError
from wacast.models.campaigns import Campaign
from wacast.models.messages import Message
from wacast.models.messages import MessageStatus

router = APIRouter(prefix="/api/v1", tags=["Messages"])


@router.get(
    "/messages/{submitted_message_id}",
    response_model=MessageOut,
    summary="A message: status, wamid, error and its event history",
    responses={
        200: {"content": {"application/json": {"example": MessageOut.model_config["json_schema_extra"]["example"]}}},
        404: {"content": {"application/json": {"example": {"message": "Message not found", "code": "MESSAGE_NOT_FOUND"}}}},
    },
)
async def get_message(submitted_message_id: str, request: Request, identity: ApiIdentity = Depends(require_key)) -> Any:
    try:
        message_id = uuid.UUID(submitted_message_id)
    except ValueError:
        raise NotFound("Message not found", "MESSAGE_NOT_FOUND") from None
    async with request.app.state.db.sessionmaker() as session:
        found = await repo.get_with_events(session, identity.project_id, message_id)
        campaign_name = None
        if found and found[0].campaign_id:

            campaign = await session.get(Campaign, found[0].campaign_id)
            campaign_name = campaign.name if campaign else None
    if found is None:
        raise NotFound("Message not found", "MESSAGE_NOT_FOUND")
    return message_out(*found, campaign_name=campaign_name)


MESSAGE_ROW = {
    "submitted_message_id": "6f1c8a52-4a43-4c1e-9d35-5c0f0f4e2f7b", "status": "read", "wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJC",
    "destination": "+917428526285", "contact_id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11", "campaign": "order_update",
    "template": "order_update", "error": None, "created_at": "2026-11-27T10:00:00Z", "sent_at": "2026-11-27T10:00:01Z",
    "delivered_at": "2026-11-27T10:00:02Z", "read_at": "2026-11-27T10:03:00Z", "failed_at": None, "replied_at": None,
}


@router.get(
    "/messages",
    summary="List messages by campaign, contact or status, newest first (cursor pages)",
    responses={200: {"content": {"application/json": {"example": {"data": [MESSAGE_ROW], "next_cursor": None}}}},
               404: {"content": {"application/json": {"example": {"message": "Campaign not found", "code": "CAMPAIGN_NOT_FOUND"}}}}},
)
async def list_messages(
    request: Request,
    identity: ApiIdentity = Depends(require_key),
    campaign: str | None = None,
    contact: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    """A `send` key may read its project's messages too (integrations/docs)."""
    from sqlalchemy import and_, or_, select


    limit = contacts.page_limit(limit)
    stmt = select(Message, Campaign.name).outerjoin(Campaign, Campaign.id == Message.campaign_id).where(Message.project_id == identity.project_id)
    async with request.app.state.db.sessionmaker() as session:
        if campaign:
            stmt = stmt.where(Message.campaign_id == (await find_campaign(session, identity.project_id, campaign)).id)
        if contact:
            stmt = stmt.where(Message.contact_id == (await contacts.get(session, identity.project_id, contact)).id)
        if status:
            if status not in {s.value for s in MessageStatus}:
                raise WacastError("status must be queued, sent, delivered, read or failed", "VALIDATION_ERROR", {"field": "status"}, status_code=422)
            stmt = stmt.where(Message.status == status)
        if cursor:
            at, last_id = contacts.decode_cursor(cursor)
            stmt = stmt.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
        rows = (await session.execute(stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{
        "submitted_message_id": str(m.id), "status": m.status, "wamid": m.wamid, "destination": m.destination,
        "contact_id": str(m.contact_id), "campaign": name, "template": (m.payload or {}).get("template"),
        "error": {"code": m.error_code, "title": m.error_title} if m.error_code is not None or m.error_title else None,
        "created_at": m.created_at, "sent_at": m.sent_at, "delivered_at": m.delivered_at, "read_at": m.read_at,
        "failed_at": m.failed_at, "replied_at": m.replied_at,
    } for m, name in rows]
    last = rows[-1][0] if rows else None
    return page(contacts.Page(items, contacts.encode_cursor(last.created_at, last.id) if more and last else None))
