"""Dashboard pages of broadcasts (layout and plumbing from web.py): /broadcasts (list with
progress bars and results side by side), /broadcasts/new (step by step: audience with its
estimate, message with a live preview and a test send, schedule, review), /broadcasts/{id}
(progress and results; pause, resume, cancel, retry failed). Segments are their own screen
(pages/segments.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from wacast.campaigns import analytics
from wacast.campaigns.broadcasts import draft, presenter
from wacast.campaigns.broadcasts import repository as broadcasts_repo
from wacast.campaigns.broadcasts import service as broadcasts
from wacast.campaigns.broadcasts.audience_csv import MAX_CSV_BYTES
from wacast.contacts import segments
from wacast.dashboard import broadcast_form, campaign_results, views
from wacast.dashboard import repository_segments as choices_repo
from wacast.dashboard.forms import Form, fields
from wacast.dashboard.web import Ctx, DashboardRoute, Manager, need, redirect, render, zone_of
from wacast.dashboard.web import templates as web_templates
from wacast.kit import text
from wacast.kit.errors import NotFound, WacastError
from wacast.kit.http import JSONResponse
from wacast.templates.params import analyze

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
AGENT, MANAGER = need("agent"), need("manager")

# The fields each form posts (bcast_new.html, bcast_detail.html, bcast_segments.html): any
# other is refused before anything is written.
BroadcastForm = fields(*broadcast_form.field_names())
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


BUILT_IN_ATTRIBUTES = ("FirstName", "name", "phone")  # what every contact has (plan.resolve)


def _template_options(rows: list[Any]) -> list[dict[str, Any]]:
    """What the form knows of each approved template: its parameters, the buttons that take
    a value, its header, and its bubble with the template's own examples."""
    out = []
    for t in rows:
        needs = analyze(t.components, t.parameter_format)
        out.append({
            "key": f"{t.name}|{t.language}", "name": t.name, "language": t.language, "category": t.category,
            "params": list(needs.text_params), "examples": needs.examples.get("header", [])[: len(needs.header_params)] + needs.examples.get("body", []),
            "buttons": [{"index": b.index, "type": b.type, "text": b.text, "example": b.example} for b in needs.buttons if b.needs_param],
            "media": needs.header_format if needs.needs_media else None, "location": needs.needs_location,
        })
    return out


def _chosen(options: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((o for o in options if o["key"] == key), None)


def _body(form: Form, option: dict[str, Any] | None) -> dict[str, Any]:
    """The create body of the form, for the template chosen (its needs say which fields count)."""
    return broadcast_form.body_of(
        lambda name: form.text(name), param_count=len(option["params"]) if option else 0,
        button_indexes=[b["index"] for b in option["buttons"]] if option else [],
        needs_media=bool(option and option["media"]), needs_location=bool(option and option["location"]),
    )


async def _csv_data(form: Form) -> bytes | None:
    """The uploaded audience when "upload a CSV" is chosen (None: a segment, or no file yet)."""
    if form.text("audience") != "csv":
        return None
    upload = form.upload("audience_csv")
    if upload is None:
        return None
    data = await upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise WacastError(f"The audience CSV is over {MAX_CSV_BYTES // (1024 * 1024)} MB", "CSV_TOO_LARGE", {"field": "audience_csv"})
    return data or None


def _bubble_html(found: Any) -> str:
    """The message as the sample contact gets it (or the template with its examples)."""
    if found.template_components is None:
        return ""
    shown = views.bubble(found.template_components, found.parameter_format, found.components)
    return web_templates.get_template("_bubble.html").render(b=shown)


def _in_words(error: WacastError, option: dict[str, Any] | None) -> str:
    return broadcast_form.problem_in_words(error.code, error.message, error.details, option["params"] if option else [])


def _preview_out(found: Any, option: dict[str, Any] | None) -> dict[str, Any]:
    problem = found.problem
    return {
        "bubble": _bubble_html(found), "sample": found.sample,
        # The estimate with the dry run's messages by country and cost (campaigns/broadcasts/dry_run.py).
        "estimate": found.dry_run.as_dict() if found.dry_run else None,
        "problem": _in_words(problem, option) if problem else None, "problem_code": problem.code if problem else None,
        "ready": problem is None,
    }


def _blocked_regions(request: Request) -> frozenset[str]:
    """WACAST_MARKETING_BLOCKED_REGIONS, as the engine reads it (the estimate counts its skips)."""
    return request.app.state.settings.blocked_marketing_regions


async def _render_new(request: Request, ctx: Ctx, session: Any, values: dict[str, str], error: str | None = None) -> Response:
    options = _template_options(await broadcasts_repo.approved_templates(session, ctx.project.id))
    segs = await segments.list_all(session, ctx.project.id)
    choices = await choices_repo.builder_choices(session, ctx.project.id)
    if not values.get("template") and options:
        values["template"] = options[0]["key"]
    option = _chosen(options, values.get("template", ""))
    found = await draft.preview(session, ctx.project.id, _body(Form(values), option), blocked_regions=_blocked_regions(request))
    return render(
        ctx, "bcast_new.html", status_code=400 if error else 200, page="broadcasts", templates=options, segments=segs, v=values,
        option=option, attributes=[*BUILT_IN_ATTRIBUTES, *choices["attributes"]], preview=_preview_out(found, option), error=error,
        today=datetime.now(zone_of(ctx)).date().isoformat(),
    )


@router.get("/broadcasts/new")
async def broadcast_new(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    query = request.query_params
    values = {"when": "now", "segment": query.get("segment", ""), "template": query.get("template", ""), "name": query.get("name", "")}
    async with _db(request).read() as session:
        return await _render_new(request, ctx, session, {k: text.clean(k, v, max_len=200) for k, v in values.items()})


@router.post("/broadcasts/preview")
async def broadcast_preview(request: Request, ctx: Manager, form: BroadcastForm) -> Response:
    """The form as it is now: the estimate, the bubble, and what is still missing (200 while
    the form is being filled in; the page shows the problem, never a failed request)."""
    async with _db(request).read() as session:
        option = _chosen(_template_options(await broadcasts_repo.approved_templates(session, ctx.project.id)), form.text("template"))
        found = await draft.preview(session, ctx.project.id, _body(form, option), csv_data=await _csv_data(form),
                                    blocked_regions=_blocked_regions(request))
    return JSONResponse(_preview_out(found, option))


@router.post("/broadcasts/test-send")
async def broadcast_test_send(request: Request, ctx: Manager, form: BroadcastForm) -> Response:
    """Send the message as the form says to one number, now, outside the broadcast."""
    async with _db(request).read() as session:
        option = _chosen(_template_options(await broadcasts_repo.approved_templates(session, ctx.project.id)), form.text("template"))
    try:
        message_id = await draft.test_send(_db(request), ctx.project.id, _body(form, option), form.text("test_phone"),
                                           check_media=request.app.state.media.check, csv_data=await _csv_data(form))
    except WacastError as error:
        return JSONResponse({"sent": False, "message": _in_words(error, option), "code": error.code}, status_code=400)
    request.app.state.wake_dispatcher()
    return JSONResponse({"sent": True, "submitted_message_id": str(message_id),
                         "message": "Test queued: it arrives in a moment (see it in the sandbox inbox for a sandbox project)."})


@router.post("/broadcasts")
async def broadcast_create(request: Request, ctx: Manager, form: BroadcastForm) -> Response:
    async with _db(request).read() as session:
        option = _chosen(_template_options(await broadcasts_repo.approved_templates(session, ctx.project.id)), form.text("template"))
    body = _body(form, option)
    try:
        csv_data = await _csv_data(form)
        if form.text("audience") == "csv" and csv_data is None:
            raise WacastError("Choose the CSV file of the audience", "FIELD_REQUIRED", {"field": "audience_csv"})
        out = await broadcasts.create(_db(request), ctx.project.id, body, defaults=request.app.state.settings,
                                      check_media=request.app.state.media.check, csv_data=csv_data)
    except WacastError as error:
        # The form again with everything as it was typed, and why (nothing was written).
        async with _db(request).read() as session:
            return await _render_new(request, ctx, session, broadcast_form.typed(lambda name: form.text(name)), error=_in_words(error, option))
    engine = getattr(request.app.state, "broadcasts", None)
    if engine is not None:
        engine.wake.set()
    note = "It is scheduled." if out["status"] == "scheduled" else "Sending has started."
    if "rejected_rows" in out.get("audience", {}):
        note += f" {out['audience']['rows']} rows of the file are its audience; {out['audience']['rejected_rows']} were left out (invalid numbers)."
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
        return await render_broadcast(ctx, session, campaign_id, days=days, outcome=outcome)


async def render_broadcast(ctx: Ctx, session: Any, campaign_id: str, *, days: int = 14, outcome: str = "", status_code: int = 200,
                           **overrides: Any) -> Response:
    """The broadcast's page; `overrides` replace what the results give (a refused tracking form as typed)."""
    campaign = await broadcasts.find(session, ctx.project.id, _broadcast_id(campaign_id), broadcast_only=True)
    data = await presenter.describe(session, campaign)
    results = await campaign_results.results(session, ctx, campaign.id, days=days, outcome=outcome)
    return render(ctx, "bcast_detail.html", status_code=status_code, page="broadcasts", b=data, **{**results, **overrides})


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
