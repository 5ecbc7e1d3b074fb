from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from wacast.meta.errors import meaning
from wacast.models.messages import Message, MessageEvent


class MessageError(BaseModel):
    code: int | None
    title: str | None
    details: str | None
    meaning: str
    what_to_do: str


class MessageEventOut(BaseModel):
    status: str
    at: datetime
    detail: dict[str, Any] | None = None


class MessageClicked(BaseModel):
    """The message's `clicked` outcome, beside the status ladder: a person tapped one of its
    tracked links (link-preview fetchers, bots and repeats within seconds do not count)."""

    first_clicked_at: datetime
    clicks: int


class MessageOut(BaseModel):
    submitted_message_id: str
    status: str
    wamid: str | None
    destination: str
    campaign: str | None
    template: str
    attempts: int
    held_reason: str | None
    error: MessageError | None
    pricing_category: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    clicked: MessageClicked | None = None
    events: list[MessageEventOut]

    model_config = {
        "json_schema_extra": {
            "example": {
                "submitted_message_id": "6f1c8a52-4a43-4c1e-9d35-5c0f0f4e2f7b",
                "status": "read",
                "wamid": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA",
                "destination": "+917428526285",
                "campaign": "order_update",
                "template": "order_update",
                "attempts": 1,
                "held_reason": None,
                "error": None,
                "pricing_category": "utility",
                "created_at": "2026-11-27T10:00:00Z",
                "sent_at": "2026-11-27T10:00:00Z",
                "delivered_at": "2026-11-27T10:00:01Z",
                "read_at": "2026-11-27T10:00:03Z",
                "failed_at": None,
                "replied_at": None,
                "clicked": {"first_clicked_at": "2026-11-27T10:00:09Z", "clicks": 2},
                "events": [{"status": "queued", "at": "2026-11-27T10:00:00Z", "detail": None}],
            }
        }
    }


def message_out(message: Message, events: list[MessageEvent], campaign_name: str | None,
                clicked: tuple[datetime, int] | None = None) -> MessageOut:
    error = None
    if message.error_code is not None or message.error_title:
        what, todo = meaning(message.error_code)
        error = MessageError(code=message.error_code, title=message.error_title, details=message.error_detail, meaning=what, what_to_do=todo)
    return MessageOut(
        submitted_message_id=str(message.id), status=message.status, wamid=message.wamid,
        destination=message.destination, campaign=campaign_name, template=message.payload.get("template", ""),
        attempts=message.attempts, held_reason=message.held_reason, error=error,
        pricing_category=message.pricing_category, created_at=message.created_at, sent_at=message.sent_at,
        delivered_at=message.delivered_at, read_at=message.read_at, failed_at=message.failed_at,
        replied_at=message.replied_at,
        clicked=MessageClicked(first_clicked_at=clicked[0], clicks=clicked[1]) if clicked else None,
        events=[MessageEventOut(status=e.kind, at=e.occurred_at, detail=e.detail) for e in events],
    )
