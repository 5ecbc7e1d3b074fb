"""Reading a message's fate: GET /api/v1/messages/{submitted_message_id}."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request

from wacast.api_keys.dependencies import ApiIdentity, require_key
from wacast.kit.errors import NotFound
from wacast.messages import repository as repo
from wacast.messages.schemas import MessageOut, message_out

router = APIRouter(prefix="/api/v1", tags=["Messages"])


@router.get(
    "/messages/{submitted_message_id}",
    response_model=MessageOut,
    summary="A message: status, wamid, error and its event history",
    responses={404: {"content": {"application/json": {"example": {"message": "Message not found", "code": "MESSAGE_NOT_FOUND"}}}}},
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
            from wacast.campaigns.models import Campaign

            campaign = await session.get(Campaign, found[0].campaign_id)
            campaign_name = campaign.name if campaign else None
    if found is None:
        raise NotFound("Message not found", "MESSAGE_NOT_FOUND")
    return message_out(*found, campaign_name=campaign_name)
