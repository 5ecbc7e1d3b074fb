"""REST API for API campaigns and every campaign's analytics (full-scope keys).

/api/v1/campaigns: list; live of API campaigns, pause of API campaigns and broadcasts alike
(the one pause route); analytics, per-day figures, failures by error code and the audience by
outcome; the click and conversion settings (`tracking`, links/tracking.py); the estimate of a
list of campaign API requests (POST /campaigns/{campaign}/estimate, campaign_api/estimate.py). Creating campaigns (`type` api or broadcast), getting one, and the other broadcast
controls (resume, cancel, retry-failed) live in api/broadcasts.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import StreamingResponse

from wacast.api import broadcasts as broadcast_routes
from wacast.api.auth import ApiIdentity, require_full
from wacast.api.common import NoBody, allow_fields, answer, body_object, doc, page
from wacast.campaign_api import estimate as api_estimate
from wacast.campaign_api import estimate_input
from wacast.campaigns import analytics
from wacast.campaigns import service as campaigns
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.kit.http import read_body, read_json
from wacast.links import service as links
from wacast.links import tracking as link_tracking
from wacast.models.campaigns import Campaign, CampaignStatus
from wacast.models.templates import Template

router = APIRouter(prefix="/api/v1", tags=["Campaigns"])

CAMPAIGN = {
    "id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", "name": "order_update", "type": "api", "status": "live",
    "template": {"name": "order_update", "language": "en", "status": "APPROVED"},
    "messages": {"queued": 3, "sent": 10, "delivered": 120, "read": 860, "failed": 7}, "total": 1000,
    "tracking": {"utm": {"utm_medium": "api"}, "goals": ["purchase"], "attribution_window_days": 7, "track_body_urls": False},
    "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-20T12:00:00Z",
}
SUMMARY = {
    "campaign_id": CAMPAIGN["id"], "campaign": "order_update", "status": "live", "total": 1000,
    "by_status": {"queued": 3, "sent": 10, "delivered": 120, "read": 860, "failed": 7},
    "sent": 990, "delivered": 980, "read": 860, "failed": 7, "replied": 95,
    "delivered_rate": 0.9899, "read_rate": 0.8687, "failed_rate": 0.007, "replied_rate": 0.096,
    "clicks": {"unique": 310, "total": 402, "rate": 0.3163, "per_button": {"0": {"clicks": 402, "unique": 310}}},
    "conversions": {"total": 52, "converted_messages": 48, "rate": 0.049,
                    "goals": {"purchase": {"conversions": 47, "revenue": {"INR": "70453.00"}, "defined": True}},
                    "other_goals": {"cart": {"conversions": 5, "revenue": {}, "defined": False}}, "revenue": {"INR": "70453.00"}},
    "median_seconds": {"read_to_click": 41.0, "click_to_conversion": 1260.0},
}


def _campaign_out(c: Campaign, t: Template | None, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(c.id), "name": c.name, "type": c.type, "status": c.status,
        "template": {"name": t.name, "language": t.language, "status": t.status} if t else None,
        "messages": counts, "total": sum(counts.values()), "tracking": link_tracking.parse(c.tracking).as_dict(),
        "created_at": c.created_at, "updated_at": c.updated_at,
    }


@router.get("/campaigns", summary="List campaigns with their message counts by status", **doc({"data": [CAMPAIGN]}, 403, 422))
async def list_campaigns(
    session: ReadSession, identity: ApiIdentity = Depends(require_full),
    type: str | None = Query(None, description="api or broadcast"),
    status: str | None = Query(None, description="draft, live, paused (API campaigns) or a broadcast state"),
) -> Any:
    rows = await campaigns.list_with_counts(session, identity.project_id, type=type, status=status)
    return answer({"data": [_campaign_out(c, t, counts) for c, t, counts in rows]})


async def _set_status(session: Any, identity: ApiIdentity, campaign: Campaign, status: CampaignStatus) -> Any:
    if campaign.type != "api":
        raise WacastError(
            f"{campaign.name!r} is a broadcast; use /pause, /resume or /cancel", "NOT_AN_API_CAMPAIGN", {"campaign": campaign.name}
        )
    campaign = await campaigns.set_status(session, identity.project_id, campaign.name, status)
    return answer(_campaign_out(*await campaigns.with_counts(session, campaign)))


@router.post("/campaigns/{campaign}/live", summary="Set an API campaign live (its template must be APPROVED)",
             **doc(CAMPAIGN, 400, 403, 404, write=True))
async def set_live(campaign: str, _: NoBody, session: WriteSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    found = await analytics.find_campaign(session, identity.project_id, campaign)
    return await _set_status(session, identity, found, CampaignStatus.live)


@router.post("/campaigns/{campaign}/pause", summary="Pause a campaign (an API campaign refuses sends; a broadcast stops queueing)",
             **doc({**CAMPAIGN, "status": "paused"}, 400, 403, 404, 409, write=True))
async def pause(
    campaign: str, request: Request, background: BackgroundTasks, _: NoBody, session: WriteSession,
    identity: ApiIdentity = Depends(require_full),
) -> Any:
    found = await analytics.find_campaign(session, identity.project_id, campaign)
    if found.type == "broadcast":
        return await broadcast_routes.control(session, request, background, identity, campaign, "pause")
    return await _set_status(session, identity, found, CampaignStatus.paused)


@router.get("/campaigns/{campaign}/analytics", summary="Status counts and delivered / read / failed / replied rates",
            **doc(SUMMARY, 403, 404))
async def summary(campaign: str, session: ReadSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    return answer(await analytics.summary(session, identity.project_id, campaign))


@router.get("/campaigns/{campaign}/analytics/daily",
            summary="Per day (project time zone): sent, delivered, read, failed, replied between two dates (both included)",
            **doc({"data": [{"date": "2026-11-26", "sent": 400, "delivered": 396, "read": 350, "failed": 4, "replied": 31}]}, 400, 403, 404, 422))
async def daily(
    campaign: str, session: ReadSession, identity: ApiIdentity = Depends(require_full),
    from_: date = Query(..., alias="from", description="first day, YYYY-MM-DD"),
    to: date = Query(..., description="last day, YYYY-MM-DD"),
) -> Any:
    return answer({"data": await analytics.daily(session, identity.project_id, campaign, from_, to)})


@router.get("/campaigns/{campaign}/failures", summary="Failed messages grouped by Meta error code, with what to do",
            **doc({"data": [{"code": 131026, "title": "Message undeliverable", "count": 5,
                             "meaning": "The message could not be delivered (not on WhatsApp, old app, or terms not accepted)",
                             "what_to_do": "Check the number; the person may not use WhatsApp."}]}, 403, 404))
async def failures(campaign: str, session: ReadSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    return answer({"data": await analytics.failures(session, identity.project_id, campaign)})


@router.get("/campaigns/{campaign}/audience",
            summary="The campaign's contacts by outcome: SENT, DELIVERED, READ, FAILED, REPLIED, CLICKED, CONVERTED, MARKETING_LIMITED (cursor pages)",
            **doc({"data": [{
                "submitted_message_id": "6f1c8a52-4a43-4c1e-9d35-5c0f0f4e2f7b", "contact_id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11",
                "phone": "+917428526285", "name": "Asha Verma", "status": "read", "error_code": None, "error_title": None,
                "created_at": "2026-11-27T10:00:00Z", "sent_at": "2026-11-27T10:00:01Z", "delivered_at": "2026-11-27T10:00:02Z",
                "read_at": "2026-11-27T10:03:00Z", "failed_at": None, "replied_at": None,
                "clicked_at": "2026-11-27T10:03:40Z", "clicks": 1, "converted_at": "2026-11-27T10:25:00Z", "conversions": 1,
                "goals": ["purchase"], "revenue": {"INR": "1499.00"},
            }], "next_cursor": None}, 400, 403, 404))
async def audience(
    campaign: str, session: ReadSession, identity: ApiIdentity = Depends(require_full),
    outcome: str = Query(..., description="SENT, DELIVERED, READ, FAILED, REPLIED, CLICKED, CONVERTED or MARKETING_LIMITED "
                         "(held or failed by Meta's marketing limit, 131049)"),
    cursor: str | None = Query(None), limit: int = Query(50, description="1 to 200"),
) -> Any:
    return page(await analytics.audience(session, identity.project_id, campaign, outcome, cursor=cursor, limit=limit))


TRACKING = {"utm": {"utm_medium": "broadcast", "utm_content": "shop_now"}, "goals": ["purchase", "cart"],
            "attribution_window_days": 7, "track_body_urls": False}


def _tracking_out(campaign: Campaign, settings: link_tracking.Tracking) -> dict[str, Any]:
    return {"campaign_id": str(campaign.id), "campaign": campaign.name, "tracking": settings.as_dict()}


@router.get("/campaigns/{campaign}/tracking", summary="A campaign's click and conversion settings: UTM parameters, body URLs, goals, attribution window",
            **doc({"campaign_id": CAMPAIGN["id"], "campaign": "diwali_sale", "tracking": TRACKING}, 403, 404))
async def get_tracking(campaign: str, session: ReadSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    found = await analytics.find_campaign(session, identity.project_id, campaign)
    return answer(_tracking_out(found, link_tracking.parse(found.tracking)))


@router.put("/campaigns/{campaign}/tracking",
            summary="Set a campaign's click and conversion settings (replaces them; a field left out is its default)",
            **doc({"campaign_id": CAMPAIGN["id"], "campaign": "diwali_sale", "tracking": TRACKING}, 400, 403, 404, 422,
                  request_example=TRACKING, fields=link_tracking.FIELDS, write=True))
async def put_tracking(campaign: str, request: Request, session: WriteSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    data = await body_object(request)
    allow_fields(data, link_tracking.FIELDS)
    found = await analytics.find_campaign(session, identity.project_id, campaign)
    settings = await links.set_tracking(session, found, data, request.app.state.settings.public_url)
    return answer(_tracking_out(found, settings))


@router.get("/campaigns/{campaign}/audience.csv", summary="The campaign's contacts of one outcome as CSV (streamed), clicks and conversions included",
            responses={**doc({}, 400, 403, 404)["responses"],
                       200: {"description": "CSV", "content": {"text/csv": {"example": ",".join(analytics.AUDIENCE_COLUMNS) + "\r\n"}}}})
async def audience_csv(
    campaign: str, request: Request, session: ReadSession, identity: ApiIdentity = Depends(require_full),
    outcome: str = Query(..., description="SENT, DELIVERED, READ, FAILED, REPLIED, CLICKED, CONVERTED or MARKETING_LIMITED "
                         "(held or failed by Meta's marketing limit, 131049)"),
) -> Any:
    found = await analytics.find_campaign(session, identity.project_id, campaign)
    outcome = analytics._outcome_condition(outcome)  # 400 before the CSV starts
    # The CSV streams after this function returned: the exporter reads with its own sessions.
    return StreamingResponse(
        analytics.export_audience_csv(request.app.state.db, identity.project_id, found.id, outcome), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{found.name.replace(chr(34), "")}-{outcome.lower()}.csv"'},
    )


ESTIMATE_FIELDS = ("destinations",)
ESTIMATE_EXAMPLE = {
    "dry_run": True, "campaign": {"id": CAMPAIGN["id"], "name": "order_update", "status": "live"},
    "template": {"name": "order_update", "language": "en", "category": "UTILITY"},
    "destinations": 4, "will_send": 2, "duplicates": 0, "skips": {"invalid number": 1, "opted out": 1}, "skipped": 2,
    "codes": {"invalid number": "INVALID_NUMBER", "opted out": "CONTACT_OPTED_OUT"},
    "invalid_examples": [{"index": 2, "destination": "12ab"}], "messages": 2, "by_category": {"utility": 2}, "by_country": {"IN": 1, "AE": 1},
    "cost": {"currency": "INR", "rate_card_version": 2, "rate_card": "in force", "messages": 2, "cost": "0.230000", "unpriced_messages": 0,
             "lines": [], "note": None},
    "cost_line": "0.230000 INR (rate card v2)", "warnings": [],
}


@router.post("/campaigns/{campaign}/estimate",
             summary="What sending a list of campaign API requests to an API campaign would do: skips by reason, countries, cost (sends nothing)",
             **doc(ESTIMATE_EXAMPLE, 400, 403, 404, 422,
                   request_example={"destinations": ["+919876543210", "+971501234567", "12ab", "+919812345678"]}, fields=ESTIMATE_FIELDS))
async def estimate(campaign: str, request: Request, session: ReadSession, identity: ApiIdentity = Depends(require_full)) -> Any:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() in ("text/csv", "application/csv"):
        values: list[Any] = estimate_input.from_csv(await read_body(request, estimate_input.MAX_ESTIMATE_BYTES))
    else:
        body = await read_json(request, estimate_input.MAX_ESTIMATE_BYTES)
        allow_fields(body, ESTIMATE_FIELDS)
        values = estimate_input.from_json(body)
    return answer(await api_estimate.destinations(session, identity.project_id, campaign, values, now=utcnow()))
