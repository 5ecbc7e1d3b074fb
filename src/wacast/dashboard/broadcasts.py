"""Dashboard pages of broadcasts (layout and plumbing from web.py): /broadcasts (list with
progress bars), /broadcasts/new, /broadcasts/{id} (progress, pause, resume, cancel, retry
failed). Segments are their own screen (pages/segments.py)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from wacast.campaigns import analytics
from wacast.campaigns.broadcasts import presenter
from wacast.campaigns.broadcasts import repository as broadcasts_repo
from wacast.campaigns.broadcasts import service as broadcasts
from wacast.campaigns.broadcasts.plan import param_shorthand
from wacast.contacts import segments
from wacast.dashboard import campaign_results
from wacast.dashboard.forms import Form, fields
from wacast.dashboard.web import Ctx, DashboardRoute, Manager, need, redirect, render
from wacast.kit.errors import NotFound
from wacast.templates.params import analyze

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
AGENT, MANAGER = need("agent"), need("manager")

# The fields each form posts (bcast_new.html, bcast_detail.html, bcast_segments.html): any
# other is refused before anything is written.
BroadcastForm = fields("name", "template", "segment", "params", "media_url", "send_at")
ActionForm = fields()


def _db(request: Request):
    return request.app.state.db


@router.get("/broadcasts")
async def broadcasts_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).read() as session:
        items = []
        for c in await broadcasts_repo.list_broadcasts(session, ctx.project.id):
            items.append({**await presenter.describe(session, c), "summary": await analytics.summary(session, ctx.project.id, c.id)})
    return render(ctx, "bcast_list.html", page="broadcasts", items=items)


@router.get("/broadcasts/new")
async def broadcast_new(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).read() as session:
        segs = await segments.list_all(session, ctx.project.id)
        templates = []
        for t in await broadcasts_repo.approved_templates(session, ctx.project.id):
            needs = analyze(t.components, t.parameter_format)
            templates.append({"name": t.name, "language": t.language, "params": list(needs.text_params), "media": needs.needs_media})
        # Rendered inside: the read session's end expires the segments it loaded.
        chosen = request.query_params.get("segment", "")
        return render(ctx, "bcast_new.html", page="broadcasts", templates=templates, segments=segs, chosen_segment=chosen)


def _params(value: str) -> list[Any]:
    """The form's parameters: comma-separated, each "$attribute", "$attribute|fallback" or text."""
    return [param_shorthand(part.strip()) for part in value.split(",")] if value.strip() else []


def _field(form: Form, name: str) -> str:
    # The base text rule (kit/text.py) for every field of the form.
    return form.text(name, strip=False)


@router.post("/broadcasts")
async def broadcast_create(request: Request, ctx: Manager, form: BroadcastForm) -> Response:
    name, _, language = _field(form, "template").partition("|")
    body: dict[str, Any] = {
        "name": _field(form, "name"), "template": name, "language": language or None, "segment": _field(form, "segment"),
        "params": _params(_field(form, "params")), "send_at": _field(form, "send_at").strip() or None,
    }
    if _field(form, "media_url").strip():
        body["media"] = {"url": _field(form, "media_url").strip()}
    out = await broadcasts.create(_db(request), ctx.project.id, body, defaults=request.app.state.settings, check_media=request.app.state.media.check)
    engine = getattr(request.app.state, "broadcasts", None)
    if engine is not None:
        engine.wake.set()
    note = "It is scheduled." if out["status"] == "scheduled" else "Sending has started."
    return redirect(ctx, f"/broadcasts/{out['id']}", f"Broadcast {body['name']} created. {note}")


def _broadcast_id(campaign_id: str) -> str:
    """The dashboard names broadcasts by id only."""
    try:
        uuid.UUID(campaign_id)
    except ValueError:
        raise NotFound("Broadcast not found", "CAMPAIGN_NOT_FOUND") from None
    return campaign_id


@router.get("/broadcasts/{campaign_id}")
async def broadcast_page(request: Request, campaign_id: str, ctx: Ctx = Depends(AGENT), days: int = 14, outcome: str = "") -> Response:
    """One page per broadcast: its progress while it runs and the full results (the campaign
    page's counts, chart, failures by Meta code, audience by outcome, retargeting)."""
    async with _db(request).read() as session:
        campaign = await broadcasts.find(session, ctx.project.id, _broadcast_id(campaign_id), broadcast_only=True)
        data = await presenter.describe(session, campaign)
        results = await campaign_results.results(session, ctx, campaign.id, days=days, outcome=outcome)
    return render(ctx, "bcast_detail.html", page="broadcasts", b=data, **results)


def action_words(action: str, result: Any) -> str:
    """What a pause, resume, cancel or retry did, in words for the flash message."""
    if action == "retry-failed":
        queued, kept = result.get("requeued", 0), result.get("not_retryable", 0)
        if not queued:
            return f"Nothing to retry: {kept} failed message(s) failed for good (a permanent error, or the contact opted out since)." if kept else "No failed messages to retry."
        return f"{queued} failed message(s) queued again" + (f"; {kept} not retried (permanent errors or opted out)." if kept else ".")
    n = int(result or 0)
    return {
        "pause": f"Paused. {n} queued message(s) wait until you resume." if n else "Paused. Nothing more will be queued until you resume.",
        "resume": f"Resumed. {n} held message(s) released." if n else "Resumed.",
        "cancel": f"Cancelled. {n} queued message(s) withdrawn; messages already sent stay sent." if n else "Cancelled.",
    }[action]


WORDS = ("pause", "resume", "cancel", "retry-failed")


@router.post("/broadcasts/{campaign_id}/{action}")
async def broadcast_action(request: Request, campaign_id: str, action: str, ctx: Manager, _: ActionForm) -> Response:
    if action not in WORDS:
        raise NotFound("No such action", "NOT_FOUND")
    async with _db(request).transaction() as session:
        _, result = await broadcasts.control(session, ctx.project.id, _broadcast_id(campaign_id), action, broadcast_only=True)
    request.app.state.wake_dispatcher()
    return redirect(ctx, f"/broadcasts/{campaign_id}", action_words(action, result))
