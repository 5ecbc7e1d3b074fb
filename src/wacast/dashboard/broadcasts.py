"""Dashboard pages of segments and broadcasts (engineer F; layout and plumbing from web.py):
/broadcasts (list with progress bars), /broadcasts/new, /broadcasts/{id} (progress, pause,
resume, cancel, retry failed), /segments (list with live counts, create, CSV export)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from wacast.campaigns import broadcast
from wacast.contacts import segments
from wacast.dashboard.web import Ctx, DashboardRoute, need, redirect, render
from wacast.kit.errors import NotFound, WacastError
from wacast.models.campaigns import Campaign
from wacast.models.templates import Template
from wacast.templates.params import analyze

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
AGENT, MANAGER = need("agent"), need("manager")

EXAMPLE_FILTER = json.dumps({"match": "all", "conditions": [
    {"field": "source", "op": "equals", "value": "Facebook forms"},
    {"field": "campaign", "campaign": "<campaign name>", "op": "received", "status": ["read"]},
]}, indent=2)


def _db(request: Request):  # noqa: ANN202
    return request.app.state.db


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.items()}


@router.get("/broadcasts")
async def broadcasts_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        rows = (
            await session.execute(
                select(Campaign).where(Campaign.project_id == ctx.project.id, Campaign.type == "broadcast").order_by(Campaign.created_at.desc())
            )
        ).scalars().all()
        items = [await broadcast.describe(session, c) for c in rows]
    return render(ctx, "bcast_list.html", page="broadcasts", items=items)


@router.get("/broadcasts/new")
async def broadcast_new(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).sessionmaker() as session:
        approved = (
            await session.execute(select(Template).where(Template.project_id == ctx.project.id, Template.status == "APPROVED").order_by(Template.name))
        ).scalars().all()
        segs = await segments.list_all(session, ctx.project.id)
    templates = [{"name": t.name, "language": t.language, "params": list(analyze(t.components, t.parameter_format).text_params),
                  "media": analyze(t.components, t.parameter_format).needs_media} for t in approved]
    return render(ctx, "bcast_new.html", page="broadcasts", templates=templates, segments=segs)


def _params(text: str) -> list[Any]:
    out: list[Any] = []
    for part in [p.strip() for p in text.split(",")] if text.strip() else []:
        if part.startswith("$") and "|" in part:
            attribute, fallback = part.split("|", 1)
            out.append({"attribute": attribute[1:].strip(), "fallback": fallback.strip()})
        else:
            out.append(part)
    return out


@router.post("/broadcasts")
async def broadcast_create(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    template = str(form.get("template", ""))
    name, _, language = template.partition("|")
    body: dict[str, Any] = {
        "name": str(form.get("name", "")), "template": name, "language": language or None, "segment": str(form.get("segment", "")),
        "params": _params(str(form.get("params", ""))), "send_at": str(form.get("send_at", "")).strip() or None,
    }
    if str(form.get("media_url", "")).strip():
        body["media"] = {"url": str(form["media_url"]).strip()}
    settings = request.app.state.settings
    async with _db(request).sessionmaker() as session:
        draft = await broadcast.prepare(session, ctx.project.id, body, csv_audience=False, defaults=settings)
        await session.rollback()
    if draft.plan.media is not None:
        await request.app.state.media.check(draft.plan.media.url, draft.needs.header_format, "media.url")
    async with _db(request).transaction() as session:
        draft = await broadcast.prepare(session, ctx.project.id, body, csv_audience=False, defaults=settings)
        campaign = await broadcast.create(session, ctx.project.id, draft)
        cid, status = campaign.id, campaign.status
    engine = getattr(request.app.state, "broadcasts", None)
    if engine is not None:
        engine.wake.set()
    note = "It is scheduled." if status == "scheduled" else "Sending has started."
    return redirect(ctx, f"/broadcasts/{cid}", f"Broadcast {body['name']} created. {note}")


async def _broadcast(session: Any, ctx: Ctx, campaign_id: str, lock: bool = False) -> Campaign:
    try:
        uuid.UUID(campaign_id)
    except ValueError:
        raise NotFound("Broadcast not found", "CAMPAIGN_NOT_FOUND") from None
    campaign = await broadcast.find(session, ctx.project.id, campaign_id, lock=lock)
    if campaign.type != "broadcast":
        raise NotFound("Broadcast not found", "CAMPAIGN_NOT_FOUND")
    return campaign


@router.get("/broadcasts/{campaign_id}")
async def broadcast_page(request: Request, campaign_id: str, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        data = await broadcast.describe(session, await _broadcast(session, ctx, campaign_id))
    return render(ctx, "bcast_detail.html", page="broadcasts", b=data)


@router.post("/broadcasts/{campaign_id}/{action}")
async def broadcast_action(request: Request, campaign_id: str, action: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    actions = {"pause": broadcast.pause, "resume": broadcast.resume, "cancel": broadcast.cancel, "retry-failed": broadcast.retry_failed}
    if action not in actions:
        raise NotFound("No such action", "NOT_FOUND")
    async with _db(request).transaction() as session:
        campaign = await _broadcast(session, ctx, campaign_id, lock=True)
        result = await actions[action](session, campaign)
    request.app.state.wake_dispatcher()
    words = {"pause": "Paused", "resume": "Resumed", "cancel": "Cancelled", "retry-failed": "Retrying failed messages"}[action]
    return redirect(ctx, f"/broadcasts/{campaign_id}", f"{words}: {result}")


@router.get("/segments")
async def segments_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        items = [(s, await segments.count(session, ctx.project.id, s.filter)) for s in await segments.list_all(session, ctx.project.id)]
    return render(ctx, "bcast_segments.html", page="segments", items=items, example=EXAMPLE_FILTER)


@router.post("/segments")
async def segment_create(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    try:
        flt = json.loads(str(form.get("filter", "")) or "{}")
    except ValueError:
        raise WacastError("The filter is not valid JSON", "SEGMENT_FILTER_INVALID", {"field": "filter"}) from None
    async with _db(request).transaction() as session:
        segment = await segments.create(session, ctx.project.id, form.get("name"), flt)
        counts = await segments.count(session, ctx.project.id, segment.filter)
    return redirect(ctx, "/segments", f"Segment {segment.name} saved: {counts['sendable']} contacts can be messaged.")


@router.get("/segments/{segment_id}/export.csv")
async def segment_export(request: Request, segment_id: str, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        segment = await segments.get(session, ctx.project.id, segment_id)
    return StreamingResponse(
        segments.export_csv(_db(request), ctx.project.id, segment.filter), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="segment-{segment.id}.csv"'},
    )
