"""Tracked links and conversions: `GET /r/{token}` (the public redirect of a tracked link) and
`POST /api/v1/conversions` (the business reports an order, a cart, any goal)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from wacast.api.auth import ApiIdentity, require_conversions
from wacast.api.common import allow_fields, answer, body_object, doc
from wacast.db.requests import WriteSession
from wacast.kit import metrics
from wacast.links import service
from wacast.links.clients import classify
from wacast.projects import repository as projects_repo
from wacast.templates.tracked import REDIRECT_PREFIX

router = APIRouter()

Conversions = Annotated[ApiIdentity, Depends(require_conversions)]
JsonObject = Annotated[dict[str, Any], Depends(body_object)]

NOT_FOUND_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Link not found</title></head><body style="font-family:system-ui,sans-serif;margin:3em;color:#333">
<h1 style="font-size:1.3em">This link is not known</h1><p>It may be mistyped or incomplete.</p></body></html>"""
# The redirect's answers are never cached (each tap must reach wacast) and never pass the
# token on to the destination in a Referer.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


REDIRECT_PATH = REDIRECT_PREFIX + "{token}"


async def follow_link(state: Any, method: str, user_agent: str, token: str) -> Response:
    """The answer to a tap on a tracked link: 302 to its stored destination once the click is
    committed (links/clicks.py), or the plain 404 page; never a redirect to an address wacast
    did not store."""
    followed = None
    if service.well_formed(token):
        followed = await state.clicks.follow(token, classify(method, user_agent, None))
    if followed is None:
        return HTMLResponse(NOT_FOUND_PAGE, status_code=404, headers=NO_STORE)
    return RedirectResponse(followed.destination, status_code=302, headers=NO_STORE)


@router.head(REDIRECT_PATH, include_in_schema=False)  # recorded (a link checker), never counted as a click
@router.get(REDIRECT_PATH, tags=["Links"], summary="Follow a tracked link: 302 to its stored destination (404 for an unknown token)",
            responses={302: {"description": "To the destination stored for this token, with the campaign's UTM parameters"},
                       404: {"description": "Unknown or malformed token (never a redirect)"}})
async def follow(token: str, request: Request) -> Response:
    """Answered by `RedirectFastPath` in the running app; this route documents it (and serves
    an app built without the fast path)."""
    return await follow_link(request.app.state, request.method, request.headers.get("user-agent", ""), token)


class RedirectFastPath:
    """GET and HEAD /r/{token} straight to `follow_link`, past the framework's routing. Every tap
    of every recipient lands here; matching the path against each of the app's routes cost more
    CPU than the click's share of its grouped commit (docs/benchmarks.md). What wraps the app
    still applies, as for the webhook's fast path: request id, access log and metrics (labelled
    with this route), the text rule for paths and queries."""

    ROUTE = SimpleNamespace(path=REDIRECT_PATH)  # what /metrics and the request log read as the route

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not scope["path"].startswith(REDIRECT_PREFIX):
            return await self.app(scope, receive, send)
        token = scope["path"][len(REDIRECT_PREFIX):]
        if not token or "/" in token:  # not a /r/{token} path: the app answers it (its 404)
            return await self.app(scope, receive, send)
        scope["route"] = self.ROUTE
        user_agent = ""
        for name, value in scope.get("headers") or ():
            if name == b"user-agent":
                user_agent = value.decode("latin-1")
                break
        response = await follow_link(scope["app"].state, scope["method"], user_agent, token)
        await response(scope, receive, send)


CONVERSION_EXAMPLE = {
    "id": "3f2b8c1e-4d5a-4e6f-9a7b-8c9d0e1f2a3b", "goal": "purchase", "value": "1499.0000", "currency": "INR", "order_id": "SHOP-10442",
    "occurred_at": "2026-12-07T10:15:00+00:00", "contact_id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11",
    "attributed": {"submitted_message_id": "8a1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "campaign_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
                   "campaign_name": "diwali_sale", "touch": "clicked"},
    "duplicate": False,
}


@router.post("/api/v1/conversions", status_code=201, tags=["Conversions"],
             summary="Record a conversion (an order, a cart, any goal) and attribute it to the message that earned it",
             **doc(CONVERSION_EXAMPLE, 400, 403, 404, 422, status=201, request_example={
                 "destination": "+917428526285", "goal": "purchase", "value": 1499, "currency": "INR", "order_id": "SHOP-10442",
                 "occurred_at": "2026-12-07T10:15:00+05:30",
             }, fields=service.CONVERSION_FIELDS, write=True,
             description="Recorded (201), or the conversion recorded before with the same order_id (200, duplicate: true)"))
async def record_conversion(identity: Conversions, data: JsonObject, session: WriteSession) -> Any:
    allow_fields(data, service.CONVERSION_FIELDS)
    project = await projects_repo.get(session, identity.project_id)
    recorded = await service.record_conversion(session, project, data)
    if not recorded.duplicate:
        metrics.conversion(recorded.conversion.touch)
    return answer(recorded.as_dict(), 200 if recorded.duplicate else 201)
