"""Meta's webhooks at /webhooks/whatsapp: verify, store (deduplicated), acknowledge.

Processing happens afterwards in the inbound event loop (whatsapp/inbound.py): Meta only needs
a fast 200, and an event stored before the 200 is never lost. Bodies that arrive together
share one commit (whatsapp/intake.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from types import SimpleNamespace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse, read_body

router = APIRouter(tags=["Meta webhooks"])
PATH = "/webhooks/whatsapp"
MAX_WEBHOOK_BODY = 3 * 1024 * 1024  # Meta: payloads up to 3 MB


def signature_of(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.get("/webhooks/whatsapp", summary="Meta's verification handshake", response_class=PlainTextResponse)
async def verify(request: Request) -> Any:
    params = request.query_params
    expected = request.app.state.settings.meta_verify_token
    token = params.get("hub.verify_token", "")
    if params.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return PlainTextResponse(params.get("hub.challenge", ""))
    raise WacastError("Verify token does not match", "WEBHOOK_VERIFY_FAILED", status_code=403)


async def webhook_body(request: Request) -> bytes:
    """Streamed and cut at the limit, before the signature check (an unsigned body is never held
    whole), and before the write session opens (a slow sender never holds a transaction)."""
    return await read_body(request, MAX_WEBHOOK_BODY)


def parse_body(body: bytes) -> Any:
    """Meta's JSON. orjson refuses an escaped lone surrogate ("\\ud83d" cut from its pair), which
    JSON's grammar allows and a person's text can carry; refusing a signed body would have Meta
    retry it for days, and lose the events beside it. The standard parser reads it, and storing
    turns the surrogate into U+FFFD (kit/text.scrub_tree). Bytes that are not UTF-8 stay refused."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise WacastError("Webhook body is not valid JSON", "INVALID_JSON") from None


async def accept(state: Any, signature: str, body: bytes) -> dict[str, bool]:
    """Check the signature, parse, store (whatsapp/intake.py: one commit for the bodies that
    arrive together); answers once committed."""
    secret = state.settings.meta_app_secret
    if not secret or not signature or not hmac.compare_digest(signature.encode(), signature_of(secret, body).encode()):
        raise WacastError("Missing or invalid X-Hub-Signature-256", "WEBHOOK_SIGNATURE_INVALID", status_code=401)
    payload = parse_body(body)
    stored = await state.intake.store("meta", payload)
    return {"received": True, "duplicate": not stored}


@router.post("/webhooks/whatsapp", summary="Meta's event notifications (signed)")
async def receive(request: Request, body: Annotated[bytes, Depends(webhook_body)]) -> Any:
    """Answered by `WebhookFastPath` in the running app; this route documents it (and serves
    an app built without the fast path)."""
    return JSONResponse(await accept(request.app.state, request.headers.get("x-hub-signature-256", ""), body))


class WebhookFastPath:
    """POST /webhooks/whatsapp straight to `accept`, past the framework's routing and
    dependency injection. It is the busiest endpoint (three statuses for every message sent),
    and matching it against every route of the app cost more than storing the event. What wraps
    the app still applies: request id, logs and metrics (labelled with this route), the body
    limit, the text rule for paths and queries; errors answer with the same envelope."""

    ROUTE = SimpleNamespace(path=PATH)  # what /metrics and the request log read as the route

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            return await self.app(scope, receive, send)
        scope["route"] = self.ROUTE
        request = Request(scope, receive)
        try:
            body = await read_body(request, MAX_WEBHOOK_BODY)
            response = JSONResponse(await accept(scope["app"].state, request.headers.get("x-hub-signature-256", ""), body))
        except WacastError as error:
            response = JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)
        await response(scope, receive, send)
