"""Received media: GET /media/{media_id} serves a file a contact sent to the current project,
fetched from Meta through wacast and cached (whatsapp/media.py, docs/media.md). Agents and up;
a media id of another project is not found, like one nobody sent."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard.web import Agent, DashboardRoute, finish
from wacast.whatsapp import media as inbound_media

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/media/{media_id}")
async def media_file(media_id: str, request: Request, ctx: Agent) -> Response:
    file = await inbound_media.fetch_media(request.app.state.db, ctx.project, media_id, settings=request.app.state.settings)
    return finish(ctx, Response(file.content, media_type=file.mime_type, headers=file.headers()))
