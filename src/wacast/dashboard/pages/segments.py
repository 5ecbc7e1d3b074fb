"""Segments: the list with live counts, and the builder that makes and edits them by pointing
and clicking (one row per condition, dropdowns filled from the project's own tags,
attributes, sources and campaigns, the count updating as the filter changes). Saved through
contacts/segments.py, as `POST /api/v1/segments` and `PATCH /api/v1/segments/{id}` save them;
the form's rows become the REST filter in dashboard/segment_form.py."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from wacast.contacts import segments
from wacast.dashboard import repository_segments as choices_repo
from wacast.dashboard import segment_form
from wacast.dashboard.forms import Form, fields, uuid_or_404
from wacast.dashboard.web import Ctx, DashboardRoute, Manager, need, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
AGENT = need("agent")

BuilderForm = fields(*segment_form.field_names())
ActionForm = fields()
CONDITION_PATH = re.compile(r"filter\.conditions\[(\d+)\]\.?")


def _builder(form: Form) -> segment_form.Builder:
    return segment_form.rows_from_form(lambda name: form.text(name), lambda name: form.values(name))


def _words(error: WacastError) -> str:
    """The parser's message with `filter.conditions[1].value` said as "condition 2: value"."""
    message = CONDITION_PATH.sub(lambda m: f"condition {int(m.group(1)) + 1}: ", error.message)
    return f"{message} ({error.code})"


async def _render_builder(ctx: Ctx, session: Any, builder: segment_form.Builder, *, segment_id: str | None = None,
                          error: str | None = None, counts: dict[str, int] | None = None) -> Response:
    return render(
        ctx, "segment_builder.html", status_code=400 if error else 200, page="segments", b=builder.with_blank(),
        segment_id=segment_id, error=error, counts=counts, choices=await choices_repo.builder_choices(session, ctx.project.id),
        fields=segment_form.FIELDS, operators=segment_form.OPERATORS, outcomes=segment_form.OUTCOMES,
    )


@router.get("/segments")
async def segments_page(request: Request, session: ReadSession, ctx: Ctx = Depends(AGENT)) -> Response:
    names = {c["id"]: c["name"] for c in (await choices_repo.builder_choices(session, ctx.project.id))["campaigns"]}
    zone = segments.project_zone(ctx.project.timezone)
    items = [
        (s, await segments.count(session, ctx.project.id, s.filter), segment_form.describe(s.filter, names, zone))
        for s in await segments.list_all(session, ctx.project.id)
    ]
    return render(ctx, "bcast_segments.html", page="segments", items=items)


@router.get("/segments/new")
async def segment_new(request: Request, ctx: Manager, session: ReadSession) -> Response:
    return await _render_builder(ctx, session, segment_form.Builder())


@router.post("/segments")
async def segment_create(request: Request, ctx: Manager, form: BuilderForm, session: WriteSession) -> Response:
    builder = _builder(form)
    try:
        segment = await segments.create(session, ctx.project.id, builder.name or None, segment_form.filter_of(builder))
        counts = await segments.count(session, ctx.project.id, segment.filter)
    except WacastError as error:
        # Shown on the builder with every row as it was typed (nothing was written).
        return await _render_builder(ctx, session, builder, error=_words(error))
    return redirect(ctx, "/segments", f"Segment {segment.name} saved: {counts['sendable']} contacts can be messaged.")


@router.post("/segments/count")
async def segment_count(request: Request, ctx: Manager, form: BuilderForm, session: ReadSession) -> Response:
    """The builder's live count: the rows as they are now, never saved. A row being filled in
    is the normal state of the builder, not a failed request: the answer is then 200 with
    `count` null and what is missing (shown under the count; saving it is refused with the
    same words), so the browser logs no failed request at every keystroke."""
    try:
        flt = await segments.normalize(session, ctx.project.id, segment_form.filter_of(_builder(form)))
    except WacastError as error:
        return JSONResponse({"count": None, "error": _words(error), "code": error.code})
    return JSONResponse({"count": await segments.count(session, ctx.project.id, flt)})


@router.get("/segments/{segment_id}/edit")
async def segment_edit(request: Request, segment_id: str, ctx: Manager, session: ReadSession) -> Response:
    segment = await segments.get(session, ctx.project.id, uuid_or_404(segment_id))
    zone = segments.project_zone(ctx.project.timezone)
    counts = await segments.count(session, ctx.project.id, segment.filter)
    return await _render_builder(ctx, session, segment_form.builder_of(segment.name, segment.filter, zone), segment_id=str(segment.id), counts=counts)


@router.post("/segments/{segment_id}")
async def segment_save(request: Request, segment_id: str, ctx: Manager, form: BuilderForm, session: WriteSession) -> Response:
    builder = _builder(form)
    try:
        segment = await segments.update(session, ctx.project.id, uuid_or_404(segment_id), builder.name, segment_form.filter_of(builder))
        counts = await segments.count(session, ctx.project.id, segment.filter)
    except WacastError as error:
        if error.code == "SEGMENT_NOT_FOUND":
            raise
        return await _render_builder(ctx, session, builder, segment_id=segment_id, error=_words(error))
    return redirect(ctx, "/segments", f"Segment {segment.name} saved: {counts['sendable']} contacts can be messaged.")


@router.post("/segments/{segment_id}/delete")
async def segment_delete(request: Request, segment_id: str, ctx: Manager, _: ActionForm, session: WriteSession) -> Response:
    segment = await segments.get(session, ctx.project.id, uuid_or_404(segment_id))
    await segments.delete(session, ctx.project.id, str(segment.id))
    return redirect(ctx, "/segments", f"Segment {segment.name} deleted.")


@router.get("/segments/{segment_id}/export.csv")
async def segment_export(request: Request, segment_id: str, session: ReadSession, ctx: Ctx = Depends(AGENT)) -> Response:
    segment = await segments.get(session, ctx.project.id, uuid_or_404(segment_id))
    return StreamingResponse(
        segments.export_csv(request.app.state.db, ctx.project.id, segment.filter), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="segment-{segment.id}.csv"'},
    )
