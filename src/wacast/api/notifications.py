"""REST API: /api/v1/notifications: the project's warnings (the dashboard's panel), and marking one read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from wacast.api.auth import ApiIdentity, require_full
from wacast.api.common import NoBody, answer, doc, page, parse_bool
from wacast.db.requests import ReadSession, WriteSession
from wacast.notifications import service

router = APIRouter(prefix="/api/v1", tags=["Notifications"])

NOTIFICATION = {
    "id": "0b9f6a4e-8d3c-4c1e-9a7b-2f5e6d7c8b9a", "kind": "broadcast.paused", "severity": "warning",
    "title": "Broadcast diwali-offer paused", "text": "wacast auto-paused: 26 of the last 50 sends failed (threshold 50%). ...",
    "link": "/broadcasts/5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170", "url": "https://wacast.example.com/broadcasts/5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170",
    "data": {"campaign_id": "5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170", "name": "diwali-offer"}, "repeats": 1,
    "created_at": "2026-11-27T10:00:00Z", "last_at": "2026-11-27T10:00:00Z", "read_at": None, "read_by": None,
    "dismissed_at": None, "dismissed_by": None,
}


@router.get("/notifications", summary="The project's notifications (warnings), newest first",
            **doc({"data": [NOTIFICATION], "next_cursor": None}, 403, 422))
async def list_notifications(
    session: ReadSession, identity: ApiIdentity = Depends(require_full),
    kind: str | None = Query(None, description="only this kind (account.hold, broadcast.paused, template.status, ...)"),
    unread: str | None = Query(None, description="true: only unread; false: only read"),
    dismissed: str | None = Query(None, description="true: dismissed ones too"),
    cursor: str | None = Query(None), limit: int = Query(50, description="1 to 200"),
) -> Any:
    return page(await service.list_page(
        session, identity.project_id, kind=kind, unread=parse_bool(unread, "unread"),
        dismissed=bool(parse_bool(dismissed, "dismissed")), cursor=cursor, limit=limit))


@router.post("/notifications/{notification_id}/read", summary="Mark a notification read (again: no change)",
             **doc(NOTIFICATION, 403, 404, write=True))
async def read(notification_id: str, _: NoBody, session: WriteSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    return answer(await service.mark_read(session, identity.project_id, notification_id))
