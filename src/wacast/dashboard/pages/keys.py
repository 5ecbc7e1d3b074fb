"""API keys (owners): the list, a new key (its secret shown once), revoking."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.api_keys import service as api_keys_service
from wacast.dashboard.forms import fields, uuid_or_404
from wacast.dashboard.web import DashboardRoute, Owner, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import NotFound, WacastError

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

# The fields each form posts (keys.html): any other is refused.
NewKeyForm = fields("name", "scope")
RevokeForm = fields()


@router.get("/keys")
async def keys_page(request: Request, ctx: Owner, session: ReadSession) -> Response:
    keys = await api_keys_service.list_keys(session, ctx.project.id)
    return render(ctx, "keys.html", keys=keys, new_key=None)


@router.post("/keys")
async def key_create(request: Request, ctx: Owner, form: NewKeyForm, session: WriteSession) -> Response:
    name = form.text("name")[:100]
    scope = form.text("scope", "full", strip=False)
    if scope not in api_keys_service.SCOPES:
        raise WacastError("scope must be send or full", "FIELD_INVALID", {"field": "scope"})
    key, plain = await api_keys_service.create_key(session, ctx.project.id, scope, name or "dashboard key")
    keys = await api_keys_service.list_keys(session, ctx.project.id)
    response = render(ctx, "keys.html", keys=keys, new_key=plain, new_key_name=key.name)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/keys/{key_id}/revoke")
async def key_revoke(request: Request, key_id: str, ctx: Owner, _: RevokeForm, session: WriteSession) -> Response:
    if not await api_keys_service.revoke(session, ctx.project.id, uuid_or_404(key_id)):
        raise NotFound("Key not found or already revoked", "KEY_NOT_FOUND")
    return redirect(ctx, "/keys", "Key revoked: requests with it now get 401.")
