"""API campaigns: the list, a new campaign, live/paused, and one campaign with its exact
request, analytics, failures and audience (on the page and as CSV)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from wacast.campaign_api.service import example_request
from wacast.campaigns import analytics
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns import service as campaigns_service
from wacast.contacts import segments
from wacast.dashboard import broadcasts as broadcast_pages
from wacast.dashboard import campaign_results
from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.dashboard.forms import fields, uuid_or_404
from wacast.dashboard.web import (
    Agent,
    Ctx,
    DashboardRoute,
    Manager,
    redirect,
    render,
    zone_of,
)
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import NotFound, WacastError
from wacast.links import repository_results as links_results
from wacast.links import service as links
from wacast.links import tracking
from wacast.links.utm import UTM_KEYS
from wacast.models.campaigns import CampaignStatus
from wacast.templates import repository as templates_repo
from wacast.templates import service as templates_service
from wacast.templates import statuses as template_statuses

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

# The fields each form posts (campaign_new.html, campaign.html): any other is refused.
NewCampaignForm = fields("name", "template_id", "live")
StatusForm = fields("status")


@router.get("/campaigns")
async def campaigns_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    rows = await repo.campaigns_with_counts(session, ctx.project.id)
    compared = await links_results.campaigns_compared(session, [r.Campaign.id for r in rows])
    return render(ctx, "campaigns.html", rows=rows, compared=compared)


@router.get("/campaigns/new")
async def campaign_new(request: Request, ctx: Manager, session: ReadSession, template: str = "") -> Response:
    approved = [t for t in await templates_service.list_for_project(session, ctx.project.id) if template_statuses.can_send(t.status)]
    return render(ctx, "campaign_new.html", page="campaigns", approved=approved, chosen=template)


@router.post("/campaigns")
async def campaign_create(request: Request, ctx: Manager, form: NewCampaignForm, session: WriteSession) -> Response:
    name = form.text("name")
    template_id = uuid_or_404(form.text("template_id"))
    live = form.checked("live")
    t = await templates_repo.get(session, ctx.project.id, template_id)
    if t is None or not template_statuses.can_send(t.status):
        raise WacastError("Choose an approved template", "TEMPLATE_NOT_APPROVED", {"field": "template_id"})
    campaign = await campaigns_service.create(session, ctx.project.id, name, t.name, t.language, live=live)
    note = "It is live: requests are accepted now." if campaign.status == "live" else "Set it Live to accept requests."
    return redirect(ctx, f"/campaigns/{campaign.id}", f"Campaign {name} created. {note}")


@router.post("/campaigns/{campaign_id}/status")
async def campaign_status(request: Request, campaign_id: str, ctx: Manager, form: StatusForm, session: WriteSession) -> Response:
    wanted = form.text("status", strip=False)
    if wanted not in (CampaignStatus.live, CampaignStatus.paused):
        raise WacastError("status must be live or paused", "FIELD_INVALID", {"field": "status"})
    campaign = await campaigns_repo.get(session, ctx.project.id, uuid_or_404(campaign_id))
    if campaign is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND")
    if campaign.type != "api":
        raise WacastError("Broadcasts are paused and resumed from their own controls (REST API)", "NOT_AN_API_CAMPAIGN")
    await campaigns_service.set_status(session, ctx.project.id, campaign.name, CampaignStatus(wanted))
    text = "is live: requests are accepted" if wanted == "live" else "is paused: requests are refused with CAMPAIGN_NOT_LIVE"
    return redirect(ctx, f"/campaigns/{campaign_id}", f"{campaign.name} {text}.")


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, campaign_id: str, ctx: Agent, session: ReadSession, days: int = 14, outcome: str = "") -> Response:
    return await render_campaign(request, ctx, session, uuid_or_404(campaign_id), days=days, outcome=outcome)


async def render_campaign(request: Request, ctx: Ctx, session: Any, cid: uuid.UUID, *, days: int = 14, outcome: str = "",
                          status_code: int = 200, **overrides: Any) -> Response:
    """The API campaign's page; `overrides` replace what the results give (a refused tracking form as typed)."""
    campaign = await campaigns_repo.get(session, ctx.project.id, cid)
    if campaign is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND")
    snapshot = await campaigns_repo.snapshot_by_name(session, ctx.project.id, campaign.name)
    described = await campaigns_service.describe(session, ctx.project, campaign.name)
    t = await templates_repo.get(session, ctx.project.id, campaign.template_id)
    body = example_request(snapshot, api_key="YOUR_API_KEY")
    base = str(request.base_url).rstrip("/")
    results = await campaign_results.results(session, ctx, cid, days=days, outcome=outcome)
    return render(
        ctx, "campaign.html", status_code=status_code, page="campaigns", campaign=campaign, described=described, template=t,
        bubble=views.bubble(t.components, t.parameter_format) if t else None,
        body_json=json.dumps(body, indent=2), curl=views.curl_command(base, body), base=base, needs=snapshot.needs,
        **{**results, **overrides},
    )


TrackingForm = fields(*UTM_KEYS, "goals", "attribution_window_days", "track_body_urls")


@router.post("/campaigns/{campaign_id}/tracking")
async def campaign_tracking(request: Request, campaign_id: str, ctx: Manager, form: TrackingForm, session: WriteSession) -> Response:
    """Set the campaign's tracking: UTM parameters of its tracked links, goals, attribution window.
    Refused: the page again with the form as typed and why (nothing was written)."""
    campaign = await analytics.find_campaign(session, ctx.project.id, uuid_or_404(campaign_id))
    goals = form.text("goals")
    # The form as typed, in the shape the panel shows (_tracking.html): the goals as one text.
    typed = SimpleNamespace(utm={k: form.text(k) for k in UTM_KEYS}, goals=[goals] if goals else [],
                            window_days=form.text("attribution_window_days"), track_body_urls=form.checked("track_body_urls"))
    try:
        settings = tracking.from_form(typed.utm, goals, typed.window_days, typed.track_body_urls)
        settings = await links.set_tracking(session, campaign, settings.as_dict(), request.app.state.settings.public_url)
    except WacastError as error:
        refused = {"tracking": typed, "tracking_error": f"{error.message} ({error.code})", "status_code": 400}
        if campaign.type == "broadcast":
            return await broadcast_pages.render_broadcast(ctx, session, str(campaign.id), **refused)
        return await render_campaign(request, ctx, session, campaign.id, **refused)
    saved = ", ".join(settings.goals) or "no named goals"
    back = f"/broadcasts/{campaign.id}" if campaign.type == "broadcast" else f"/campaigns/{campaign.id}"
    return redirect(ctx, back, f"Tracking saved: {saved}, attribution window {settings.window_days} days.")


RetargetForm = fields("audience")


@router.post("/campaigns/{campaign_id}/retarget")
async def campaign_retarget(request: Request, campaign_id: str, ctx: Manager, form: RetargetForm, session: WriteSession) -> Response:
    """Make a segment of one outcome of this campaign (or broadcast), then on to a broadcast to it."""
    preset = form.text("audience")
    if preset not in campaign_results.RETARGET:
        raise WacastError("Choose who to retarget", "FIELD_INVALID", {"field": "audience", "allowed": sorted(campaign_results.RETARGET)})
    campaign = await analytics.find_campaign(session, ctx.project.id, uuid_or_404(campaign_id))
    name = campaign_results.retarget_name(campaign.name, preset, datetime.now(zone_of(ctx)))
    segment = await segments.create(session, ctx.project.id, name, campaign_results.retarget_filter(campaign.id, preset))
    counts = await segments.count(session, ctx.project.id, segment.filter)
    return redirect(ctx, f"/broadcasts/new?segment={segment.id}",
                    f"Segment {segment.name} saved: {counts['sendable']} contacts can be messaged. Send them a broadcast below.")


@router.get("/campaigns/{campaign_id}/audience.csv")
async def campaign_audience_csv(request: Request, campaign_id: str, ctx: Agent, session: ReadSession, outcome: str = "SENT") -> Response:
    cid = uuid_or_404(campaign_id)
    campaign = await analytics.find_campaign(session, ctx.project.id, cid)
    outcome = analytics._outcome_condition(outcome)  # 400 for an unknown outcome, before streaming starts
    filename = f"{campaign.name}-{outcome.lower()}.csv".replace('"', "")
    return StreamingResponse(analytics.export_audience_csv(request.app.state.db, ctx.project.id, cid, outcome),
                             media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
