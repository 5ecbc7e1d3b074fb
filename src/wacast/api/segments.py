"""/api/v1/segments: saved contact filters with live counts, member pages and CSV export."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from wacast.api.auth import ApiIdentity, require_key
from wacast.api.common import NoBody, allow_fields, body_doc
from wacast.contacts import segments
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import Forbidden, WacastError
from wacast.kit.http import json_body

router = APIRouter(prefix="/api/v1", tags=["Segments"])


async def require_full_key(identity: ApiIdentity = Depends(require_key)) -> ApiIdentity:
    if identity.scope != "full":
        raise Forbidden("This API key can only send; managing segments and broadcasts needs a full key", "KEY_SCOPE", {"scope": identity.scope})
    return identity


# The key is checked first, then the body read (the one JSON reader: lone surrogates and
# malformed JSON are a 400 INVALID_JSON), then the session opened.
FullKey = Annotated[ApiIdentity, Depends(require_full_key)]
Body = Annotated[Any, Depends(json_body)]

# The fields each body may have: any other is refused (422 naming it), never ignored.
SEGMENT_FIELDS = ("name", "filter")
COUNT_FIELDS = ("filter",)
FILTER_EXAMPLE = {"match": "all", "conditions": [
    {"field": "source", "op": "equals", "value": "Facebook forms"},
    {"field": "campaign", "campaign": "Diwali offer", "op": "received", "status": ["read"]},
]}


def segment_out(segment: segments.Segment, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(segment.id), "name": segment.name, "filter": segment.filter,
        "created_at": segment.created_at.isoformat(), "updated_at": segment.updated_at.isoformat(),
    }
    if counts is not None:
        out["count"] = counts
    return out


@router.post("/segments", status_code=201, summary="Create a segment from a filter (returns its live count)",
             **body_doc({"name": "FB read X", "filter": FILTER_EXAMPLE}, SEGMENT_FIELDS))
async def create_segment(identity: FullKey, body: Body, session: WriteSession) -> Any:
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    allow_fields(body, SEGMENT_FIELDS)
    segment = await segments.create(session, identity.project_id, body.get("name"), body.get("filter"))
    counts = await segments.count(session, identity.project_id, segment.filter)
    return segment_out(segment, counts)


@router.post("/segments/count", summary="Count the contacts a filter matches, without saving it",
             **body_doc({"filter": FILTER_EXAMPLE}, COUNT_FIELDS))
async def count_filter(identity: FullKey, body: Body, session: ReadSession) -> Any:
    allow_fields(body, COUNT_FIELDS)
    flt = body.get("filter") if isinstance(body, dict) else None
    normalized = await segments.normalize(session, identity.project_id, flt)
    return {"filter": normalized, "count": await segments.count(session, identity.project_id, normalized)}


@router.get("/segments", summary="All segments of the project")
async def list_segments(identity: FullKey, session: ReadSession) -> Any:
    return {"segments": [segment_out(s) for s in await segments.list_all(session, identity.project_id)]}


@router.get("/segments/{segment}", summary="A segment with its live count")
async def get_segment(segment: str, identity: FullKey, session: ReadSession) -> Any:
    found = await segments.get(session, identity.project_id, segment)
    return segment_out(found, await segments.count(session, identity.project_id, found.filter))


@router.get("/segments/{segment}/count", summary="The live count: matching, sendable, opted out, blocked")
async def segment_count(segment: str, identity: FullKey, session: ReadSession) -> Any:
    found = await segments.get(session, identity.project_id, segment)
    return await segments.count(session, identity.project_id, found.filter)


@router.get("/segments/{segment}/contacts", summary="A page of the segment's contacts (keyset: pass next_after as after)")
async def segment_contacts(
    segment: str, identity: FullKey, session: ReadSession,
    limit: int = Query(100, ge=1, le=1000), after: str | None = Query(None),
) -> Any:
    try:
        cursor = uuid.UUID(after) if after else None
    except ValueError:
        raise WacastError("after must be the next_after value of the previous page", "FIELD_INVALID", {"field": "after"}) from None
    found = await segments.get(session, identity.project_id, segment)
    rows = await segments.page(session, identity.project_id, found.filter, after=cursor, limit=limit)
    tags = await segments.tags_of(session, [r.id for r in rows])
    return {
        "contacts": [
            {
                "id": str(r.id), "phone": r.phone, "name": r.name, "source": r.source, "opted_in": r.opted_in,
                "blocked": r.blocked, "attributes": r.attributes or {}, "tags": sorted(tags.get(r.id, [])),
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ],
        "next_after": str(rows[-1].id) if len(rows) == limit else None,
    }


@router.get("/segments/{segment}/export", summary="The segment's contacts as CSV (streamed)")
async def export_segment(segment: str, request: Request, identity: FullKey, session: ReadSession) -> Any:
    found = await segments.get(session, identity.project_id, segment)
    filename = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in found.name) or "segment"
    # The CSV streams after this function returned: the exporter reads with its own sessions.
    return StreamingResponse(
        segments.export_csv(request.app.state.db, identity.project_id, found.filter),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


@router.patch("/segments/{segment}", summary="Rename a segment and/or change its filter (not while a broadcast uses it)",
              **body_doc({"name": "FB read X, no reply", "filter": FILTER_EXAMPLE}, SEGMENT_FIELDS))
async def update_segment(segment: str, identity: FullKey, body: Body, session: WriteSession) -> Any:
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    allow_fields(body, SEGMENT_FIELDS)
    if "name" in body and body["name"] is None:
        raise WacastError("name cannot be null", "FIELD_INVALID", {"field": "name"})
    if "filter" in body and body["filter"] is None:
        raise WacastError("filter cannot be null", "FIELD_INVALID", {"field": "filter"})
    updated = await segments.update(session, identity.project_id, segment, body.get("name"), body.get("filter"))
    return segment_out(updated, await segments.count(session, identity.project_id, updated.filter))


@router.delete("/segments/{segment}", status_code=204, response_class=Response, summary="Delete a segment (not while a broadcast uses it)")
async def delete_segment(segment: str, identity: FullKey, _: NoBody, session: WriteSession) -> Response:
    await segments.delete(session, identity.project_id, segment)
    return Response(status_code=204)
