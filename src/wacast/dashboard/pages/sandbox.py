"""The sandbox inbox: what a sandbox project sent, and simulated replies (text, a quick-reply
tap, STOP) that go through the same inbound event processing as Meta's webhooks."""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.dashboard.forms import fields, uuid_or_404
from wacast.dashboard.web import Agent, DashboardRoute, Manager, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.messages.repository_inbound import store_inbound_event
from wacast.whatsapp.sandbox import sandbox_phone_number_id

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

REPLY_WORDS = {"button": "Quick-reply tap", "stop": "STOP"}
# The fields the reply forms post (sandbox.html): any other is refused.
ReplyForm = fields("kind", "text")


@router.get("/sandbox")
async def sandbox_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    items = await repo.inbox(session, ctx.project.id)
    for item in items:
        item["bubble"] = views.bubble(item["components"], item["parameter_format"], item["message"].payload.get("components") or [])
    return render(ctx, "sandbox.html", items=items)


def _inbound_message(kind: str, reply_text: str, destination: str, wamid: str) -> dict[str, Any]:
    """The message of Meta's webhook body for a reply from `destination` to the message `wamid`."""
    inbound: dict[str, Any] = {
        "from": destination.lstrip("+"),
        "id": "wamid.SANDBOXIN" + secrets.token_hex(12).upper(),
        "timestamp": str(int(time.time())),
        "context": {"from": "sandbox", "id": wamid},
    }
    if kind == "button":
        label = reply_text[:256] or "OK"
        inbound.update(type="button", button={"payload": label, "text": label})
    elif kind == "stop":
        inbound.update(type="text", text={"body": "STOP"})
    else:
        if not reply_text:
            raise WacastError("Write the reply text", "FIELD_REQUIRED", {"field": "text"})
        inbound.update(type="text", text={"body": reply_text[:4096]})
    return inbound


@router.post("/sandbox/{message_id}/simulate")
async def sandbox_simulate(request: Request, message_id: str, ctx: Manager, form: ReplyForm, session: WriteSession) -> Response:
    if not ctx.is_sandbox:
        raise WacastError("Simulated replies exist only for sandbox projects", "NOT_SANDBOX", status_code=409)
    kind, reply_text = form.text("kind", "text", strip=False), form.text("text")
    message = await repo.message(session, ctx.project.id, uuid_or_404(message_id))
    if message is None:
        raise NotFound("Message not found", "MESSAGE_NOT_FOUND")
    if not message.wamid:
        raise WacastError("This message has not been sent yet: wait for it to be sent, then reply", "MESSAGE_NOT_SENT", status_code=409)
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "sandbox", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "sandbox", "phone_number_id": sandbox_phone_number_id(str(ctx.project.id))},
            "contacts": [{"wa_id": message.destination.lstrip("+"), "profile": {"name": ""}}],
            "messages": [_inbound_message(kind, reply_text, message.destination, message.wamid)],
        }}]}],
    }
    await store_inbound_event(session, "sandbox", body, utcnow())
    response = redirect(ctx, "/sandbox", f"{REPLY_WORDS.get(kind, 'Reply')} from {message.destination} simulated; it shows here in a moment.")
    response.background = BackgroundTask(_wake, request)  # after the commit, so the event is there to find
    return response


async def _wake(request: Request) -> None:
    request.app.state.wake_inbound()  # on the loop, not a thread: the wake is an asyncio.Event
