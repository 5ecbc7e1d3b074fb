"""Received media over REST: GET /api/v1/media/{media_id}, the same file the dashboard's
/media/{media_id} serves (whatsapp/media.py, docs/media.md), for the API key's project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from wacast.api.auth import ApiIdentity, require_full
from wacast.projects import service as projects
from wacast.whatsapp import media as inbound_media

router = APIRouter(prefix="/api/v1", tags=["Messages"])
FullKey = Annotated[ApiIdentity, Depends(require_full)]  # authenticated (and rate limited) before a session opens


@router.get(
    "/media/{media_id}",
    summary="A media file a contact sent (image, video, audio, document, sticker), fetched from Meta and cached",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes with its mime type", "content": {"image/jpeg": {}, "application/pdf": {}}},
        404: {"content": {"application/json": {"example": {"message": "Media not found", "code": "MEDIA_NOT_FOUND"}}}},
        409: {"content": {"application/json": {"example": {"message": "This project has no Meta connection (sandbox): received media cannot be fetched", "code": "MEDIA_UNAVAILABLE"}}}},
        410: {"content": {"application/json": {"example": {"message": "Meta no longer has this media (it keeps received media for a limited time)", "code": "MEDIA_EXPIRED"}}}},
        413: {"content": {"application/json": {"example": {"message": "The media file is larger than the limit of 16777216 bytes (WACAST_MEDIA_MAX_BYTES)", "code": "MEDIA_TOO_LARGE"}}}},
    },
)
async def get_media(media_id: str, identity: FullKey, request: Request) -> Response:
    async with request.app.state.db.read() as session:
        project = await projects.get(session, identity.project_id)
    file = await inbound_media.fetch_media(request.app.state.db, project, media_id, settings=request.app.state.settings)
    return Response(file.content, media_type=file.mime_type, headers=file.headers())
