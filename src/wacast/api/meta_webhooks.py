"""Meta's webhooks at /webhooks/whatsapp: verify, store (deduplicated), acknowledge.

Processing happens afterwards in the inbound event loop (whatsapp/inbound.py): Meta only needs
a fast 200, and an event stored before the 200 is never lost. Bodies that arrive together
share one commit (whatsapp/intake.py).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse, read_body

router = APIRouter(tags=["Meta webhooks"])
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


@router.post("/webhooks/whatsapp", summary="Meta's event notifications (signed)")
async def receive(request: Request, body: Annotated[bytes, Depends(webhook_body)]) -> Any:
    """Stored with the bodies of the requests arriving at the same time, in one commit
    (whatsapp/intake.py); the 200 comes after that commit."""
    settings = request.app.state.settings
    given = request.headers.get("x-hub-signature-256", "")
    if not settings.meta_app_secret or not given or not hmac.compare_digest(given.encode(), signature_of(settings.meta_app_secret, body).encode()):
        raise WacastError("Missing or invalid X-Hub-Signature-256", "WEBHOOK_SIGNATURE_INVALID", status_code=401)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise WacastError("Webhook body is not valid JSON", "INVALID_JSON") from None
    stored = await request.app.state.intake.store("meta", payload)
    return JSONResponse({"received": True, "duplicate": not stored})
