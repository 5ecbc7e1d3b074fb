"""The sandbox inbox: what a sandbox project sent (searched by number or text, a page at a
time), simulated replies (text, a quick-reply tap, STOP) that go through the same inbound
event processing as Meta's webhooks, and the project's failure rule (which sends fail with
which Meta code, refused at the send or reported by a failed status webhook), set through the
same use case as `wacast sandbox fail`."""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.dashboard.forms import fields, query_text, uuid_or_404
from wacast.dashboard.web import Agent, Ctx, DashboardRoute, Manager, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.messages.repository_inbound import store_inbound_event
from wacast.whatsapp import sandbox
from wacast.whatsapp import sandbox_failures as failures
from wacast.whatsapp.sandbox import sandbox_phone_number_id

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

REPLY_WORDS = {"button": "Quick-reply tap", "stop": "STOP"}
# The fields the reply forms post (sandbox.html): any other is refused.
ReplyForm = fields("kind", "text")


# The fields the failure rule form posts; `action` is the button: save, off or default.
FailureForm = fields("rate", "code", "numbers", "mode", "action")
PER_PAGE = 25  # a page of bubbles stays a few screens tall


def _default_rule(request: Request) -> failures.FailureRule:
    """The WACAST_SANDBOX_FAIL_* default (checked at start; off if it does not parse)."""
    try:
        return failures.from_settings(request.app.state.settings)
    except WacastError:
        return failures.OFF


def _rule_form(view: dict[str, Any]) -> dict[str, str]:
    """The rule in force as the form's fields show it."""
    rule = failures.FailureRule(view["rate"], view["code"], tuple((n, c) for n, c in view["numbers"]), view["mode"])
    return {"rate": f"{rule.rate:g}" if rule.rate else "", "code": str(rule.code), "numbers": rule.numbers_text(), "mode": rule.mode}


def _search(request: Request) -> dict[str, Any]:
    status = query_text(request, "status")
    page = query_text(request, "page")
    return {"q": query_text(request, "q").strip()[:200], "status": status if status in repo.INBOX_STATUSES else "",
            "page": int(page) if page.isdigit() and len(page) < 7 else 1}


async def _render_inbox(request: Request, ctx: Ctx, session: Any, *, typed: dict[str, str] | None = None,
                        rule_error: str | None = None, status_code: int = 200) -> Response:
    given = _search(request)
    inbox = await repo.inbox_page(session, ctx.project.id, q=given["q"], status=given["status"], page=given["page"], per_page=PER_PAGE)
    for item in inbox["items"]:
        item["bubble"] = views.bubble(item["components"], item["parameter_format"], item["message"].payload.get("components") or [])
    rule = await sandbox.failure_rule(session, ctx.project, _default_rule(request))
    query = {k: v for k, v in (("q", given["q"]), ("status", given["status"])) if v}
    return render(ctx, "sandbox.html", status_code=status_code, items=inbox["items"], inbox=inbox, given=given,
                  query=urlencode(query), filtered=bool(query), rule=rule, rule_form=typed or _rule_form(rule),
                  rule_error=rule_error, codes=failures.code_choices(), statuses=repo.INBOX_STATUSES)


@router.get("/sandbox")
async def sandbox_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    return await _render_inbox(request, ctx, session)


@router.post("/sandbox/failures")
async def sandbox_failures(request: Request, ctx: Manager, form: FailureForm, session: WriteSession) -> Response:
    if not ctx.is_sandbox:
        raise WacastError("Failure rules exist only for sandbox projects", "NOT_SANDBOX", status_code=409)
    action = form.text("action") or "save"
    typed = {name: form.text(name, multiline=name == "numbers") for name in ("rate", "code", "numbers", "mode")}
    given: dict[str, Any] | None
    if action == "default":
        given = None
    elif action == "off":
        given = {"rate": 0, "numbers": "", "mode": typed["mode"] or "sync"}
    else:
        given = {**typed, "code": typed["code"] or None}
    try:
        view = await sandbox.set_failure_rule(session, ctx.project, given, _default_rule(request))
    except WacastError as error:
        # Shown on the page with what was typed; the rule is checked whole before it is stored.
        return await _render_inbox(request, ctx, session, typed=typed, rule_error=f"{error.message} ({error.code})", status_code=400)
    said = {"default": "The project follows the default failure rule again", "off": "Failures are off for this project"}.get(
        action, "Failure rule saved")
    return redirect(ctx, "/sandbox#failure-rule", f"{said}: {view['description']}. Sends pick it up within a few seconds.")


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
