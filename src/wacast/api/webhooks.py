"""REST API: /api/v1/webhooks: subscriptions, their delivery log, and a test send (full-scope keys)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from wacast.api.auth import ApiIdentity, require_full
from wacast.api.common import (
    NoBody,
    allow_fields,
    answer,
    body_object,
    doc,
    no_fields,
    page,
)
from wacast.db.requests import ReadSession, WriteSession
from wacast.webhooks import service
from wacast.webhooks.outbox import TOPICS

router = APIRouter(prefix="/api/v1", tags=["Webhooks"])

# The fields each body may have: any other is refused (422 naming it), never ignored.
SUBSCRIPTION_FIELDS = ("url", "topics", "secret", "description")
SUBSCRIPTION_CHANGES = (*SUBSCRIPTION_FIELDS, "active")

SUBSCRIPTION = {
    "id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "url": "https://crm.example.com/hooks/wacast",
    "topics": ["message.status.updated", "message.sender.user"], "description": "CRM", "active": True,
    "disabled_reason": None, "disabled_at": None, "failing_since": None, "secret": "whsec_3q2-...",
    "created_at": "2026-11-27T10:00:00Z", "updated_at": "2026-11-27T10:00:00Z",
}
DELIVERY = {
    "id": "d4c3b2a1-0f9e-4d8c-b7a6-5e4d3c2b1a09", "event_id": "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9",
    "topic": "message.status.updated", "event_created_at": "2026-11-27T10:00:03Z", "status": "delivered", "attempts": 2,
    "next_attempt_at": None, "last_status_code": 200, "last_error": None, "delivered_at": "2026-11-27T10:00:15Z",
    "log": [
        {"attempt": 1, "at": "2026-11-27T10:00:04Z", "status_code": 503, "latency_ms": 41, "response_excerpt": "down for maintenance", "error": "HTTP 503"},
        {"attempt": 2, "at": "2026-11-27T10:00:15Z", "status_code": 200, "latency_ms": 12, "response_excerpt": "ok", "error": None},
    ],
}


def _allow_private(request: Request) -> bool:
    return request.app.state.settings.allow_private_webhook_hosts


@router.post("/webhooks", status_code=201, summary=f"Subscribe a URL to events (topics: {', '.join(TOPICS)})",
             **doc({**SUBSCRIPTION, "secret": "whsec_3q2Fz...full secret, shown here and on GET by id"}, 400, 403, 422, status=201,
                   request_example={"url": "https://crm.example.com/hooks/wacast", "topics": ["message.status.updated", "message.sender.user"],
                                    "secret": "a-long-random-shared-secret", "description": "CRM"}, fields=SUBSCRIPTION_FIELDS))
async def create(request: Request, session: WriteSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    data = await body_object(request)
    allow_fields(data, SUBSCRIPTION_FIELDS)
    out = await service.create(
        session, identity.project_id, url=data.get("url"), topics=data.get("topics"), secret=data.get("secret"),
        description=data.get("description") or "", allow_private=_allow_private(request),
    )
    return answer(out, 201)


@router.get("/webhooks", summary="The project's webhook subscriptions (secrets shortened)", **doc({"data": [SUBSCRIPTION]}, 403))
async def list_all(session: ReadSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    return answer({"data": await service.list_all(session, identity.project_id)})


@router.get("/webhooks/{webhook_id}", summary="A subscription, with its secret and why it was disabled (if it was)",
            **doc(SUBSCRIPTION, 403, 404))
async def get(webhook_id: str, session: ReadSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    return answer(await service.get(session, identity.project_id, webhook_id))


@router.patch("/webhooks/{webhook_id}", summary="Change url, topics, secret, description; `active: true` re-enables a disabled one",
              **doc(SUBSCRIPTION, 400, 403, 404, 422, request_example={"topics": ["message.status.updated"], "active": True}, fields=SUBSCRIPTION_CHANGES))
async def update(webhook_id: str, request: Request, session: WriteSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    data = await body_object(request)
    allow_fields(data, SUBSCRIPTION_CHANGES)
    return answer(await service.update(session, identity.project_id, webhook_id, data, allow_private=_allow_private(request)))


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response, summary="Delete a subscription and its log",
               **doc(None, 403, 404, status=204, write=True))
async def delete(webhook_id: str, _: NoBody, session: WriteSession, identity: ApiIdentity = Depends(require_full)) -> Response:
    await service.delete_subscription(session, identity.project_id, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", summary="The delivery log: each event with every attempt (status code, latency, response excerpt)",
            **doc({"data": [DELIVERY], "next_cursor": None}, 403, 404, 422))
async def deliveries(
    webhook_id: str, session: ReadSession, identity: ApiIdentity = Depends(require_full),
    status: str | None = Query(None, description="pending, delivered or failed"), cursor: str | None = Query(None),
    limit: int = Query(50, description="1 to 200"),
) -> Any:
    return page(await service.deliveries(session, identity.project_id, webhook_id, status=status, cursor=cursor, limit=limit))


@router.post("/webhooks/{webhook_id}/test", summary="Send a signed `webhook.test` event now and report the receiver's answer",
             **doc({"delivered": True, "status_code": 200, "latency_ms": 14, "response_excerpt": "ok", "error": None,
                    "delivery_id": DELIVERY["id"]}, 403, 404, write=True))
async def test_send(
    webhook_id: str, request: Request, identity: ApiIdentity = Depends(require_full), _: None = Depends(no_fields),
) -> Any:
    # Its own transaction, not WriteSession: the test event must be committed before the
    # sender claims it and makes the network call, all inside this request.
    async with request.app.state.db.transaction() as session:
        delivery_id = await service.queue_test(session, identity.project_id, webhook_id)
    result = await request.app.state.webhooks.deliver_now(delivery_id)
    if result is None:  # claimed by a background sender in between: it is being sent
        return answer({"delivered": None, "delivery_id": str(delivery_id), "status_code": None, "latency_ms": None, "response_excerpt": None, "error": None})
    return answer({
        "delivered": result.ok, "status_code": result.status_code, "latency_ms": result.latency_ms,
        "response_excerpt": result.excerpt, "error": result.error, "delivery_id": str(delivery_id),
    })
