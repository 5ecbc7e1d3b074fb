"""REST API for API campaigns and every campaign's analytics (full-scope keys).

/api/v1/campaigns: list; live and pause of API campaigns (pause of a broadcast is handed to
the broadcast endpoints); analytics, per-day figures, failures by error code and the
audience by outcome. Creating campaigns (`type` api or broadcast), getting one, and the
broadcast controls (resume, cancel, retry-failed) live in campaigns/broadcast_endpoints.py.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from wacast.api.auth import ApiIdentity, require_full
from wacast.campaigns import analytics
from wacast.campaigns import service as campaigns
from wacast.models.campaigns import Campaign, CampaignStatus
from wacast.api.common import answer, doc, page
from wacast.kit.errors import WacastError
from wacast.models.messages import Message
from wacast.models.templates import Template
from wacast.api.broadcasts import _control

router = APIRouter(prefix="/api/v1", tags=["Campaigns"])

CAMPAIGN = {
    "id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", "name": "order_update", "type": "api", "status": "live",
    "template": {"name": "order_update", "language": "en", "status": "APPROVED"},
    "messages": {"queued": 3, "sent": 10, "delivered": 120, "read": 860, "failed": 7}, "total": 1000,
    "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-20T12:00:00Z",
}
SUMMARY = {
    "campaign_id": CAMPAIGN["id"], "campaign": "order_update", "status": "live", "total": 1000,
    "by_status": {"queued": 3, "sent": 10, "delivered": 120, "read": 860, "failed": 7},
    "sent": 990, "delivered": 980, "read": 860, "failed": 7, "replied": 95,
    "delivered_rate": 0.9899, "read_rate": 0.8687, "failed_rate": 0.007, "replied_rate": 0.096,
}


async def _counts(session: Any, ids: list[Any]) -> dict[Any, dict[str, int]]:
    out: dict[Any, dict[str, int]] = {i: {s: 0 for s in ("queued", "sent", "delivered", "read", "failed")} for i in ids}
    if ids:
        rows = await session.execute(
            select(Message.campaign_id, Message.status, func.count()).where(Message.campaign_id.in_(ids)).group_by(Message.campaign_id, Message.status)
        )
        for campaign_id, status, n in rows.all():
            out[campaign_id][status] = int(n)
    return out


def _campaign_out(c: Campaign, t: Template | None, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": str(c.id), "name": c.name, "type": c.type, "status": c.status,
        "template": {"name": t.name, "language": t.language, "status": t.status} if t else None,
        "messages": counts, "total": sum(counts.values()), "created_at": c.created_at, "updated_at": c.updated_at,
    }


@router.get("/campaigns", summary="List campaigns with their message counts by status", **doc({"data": [CAMPAIGN]}, 403, 422))
async def list_campaigns(
    request: Request, identity: ApiIdentity = Depends(require_full),
    type: str | None = Query(None, description="api or broadcast"),  # noqa: A002
    status: str | None = Query(None, description="draft, live, paused (API campaigns) or a broadcast state"),
) -> Any:
    stmt = select(Campaign, Template).outerjoin(Template, Template.id == Campaign.template_id).where(Campaign.project_id == identity.project_id)
    if type:
        stmt = stmt.where(Campaign.type == type)
    if status:
        stmt = stmt.where(Campaign.status == status)
    async with request.app.state.db.sessionmaker() as session:
        rows = (await session.execute(stmt.order_by(Campaign.created_at.desc()))).all()
        counts = await _counts(session, [c.id for c, _ in rows])
    return answer({"data": [_campaign_out(c, t, counts[c.id]) for c, t in rows]})


async def _set_status(request: Request, identity: ApiIdentity, ref: str, status: CampaignStatus) -> Any:
    async with request.app.state.db.transaction() as session:
        campaign = await analytics.find_campaign(session, identity.project_id, ref)
        if campaign.type != "api":
            raise WacastError(
                f"{campaign.name!r} is a broadcast; use /pause, /resume or /cancel", "NOT_AN_API_CAMPAIGN", {"campaign": campaign.name}
            )
        campaign = await campaigns.set_status(session, identity.project_id, campaign.name, status)
        template = await session.get(Template, campaign.template_id)
        counts = (await _counts(session, [campaign.id]))[campaign.id]
        return answer(_campaign_out(campaign, template, counts))


@router.post("/campaigns/{campaign}/live", summary="Set an API campaign live (its template must be APPROVED)",
             **doc(CAMPAIGN, 400, 403, 404, write=True))
async def set_live(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full)) -> Any:
    return await _set_status(request, identity, campaign, CampaignStatus.live)


@router.post("/campaigns/{campaign}/pause", summary="Pause a campaign (an API campaign refuses sends; a broadcast stops queueing)",
             **doc({**CAMPAIGN, "status": "paused"}, 400, 403, 404, 409, write=True))
async def pause(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full)) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        found = await analytics.find_campaign(session, identity.project_id, campaign)
        kind = found.type
        await session.rollback()
    if kind == "broadcast":

        return await _control(request, identity, campaign, "pause")
    return await _set_status(request, identity, campaign, CampaignStatus.paused)


@router.get("/campaigns/{campaign}/analytics", summary="Status counts and delivered / read / failed / replied rates",
            **doc(SUMMARY, 403, 404))
async def summary(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full)) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        return answer(await analytics.summary(session, identity.project_id, campaign))


@router.get("/campaigns/{campaign}/analytics/daily",
            summary="Per day (project time zone): sent, delivered, read, failed, replied between two dates (both included)",
            **doc({"data": [{"date": "2026-11-26", "sent": 400, "delivered": 396, "read": 350, "failed": 4, "replied": 31}]}, 400, 403, 404, 422))
async def daily(
    campaign: str, request: Request, identity: ApiIdentity = Depends(require_full),
    from_: date = Query(..., alias="from", description="first day, YYYY-MM-DD"),
    to: date = Query(..., description="last day, YYYY-MM-DD"),
) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        return answer({"data": await analytics.daily(session, identity.project_id, campaign, from_, to)})


@router.get("/campaigns/{campaign}/failures", summary="Failed messages grouped by Meta error code, with what to do",
            **doc({"data": [{"code": 131026, "title": "Message undeliverable", "count": 5,
                             "meaning": "The message could not be delivered (not on WhatsApp, old app, or terms not accepted)",
                             "what_to_do": "Check the number; the person may not use WhatsApp."}]}, 403, 404))
async def failures(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full)) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        return answer({"data": await analytics.failures(session, identity.project_id, campaign)})


@router.get("/campaigns/{campaign}/audience", summary="The campaign's contacts by outcome: SENT, DELIVERED, READ, FAILED, REPLIED (cursor pages)",
            **doc({"data": [{
                "submitted_message_id": "6f1c8a52-4a43-4c1e-9d35-5c0f0f4e2f7b", "contact_id": "0b8f9a36-6a43-4f7e-9a0e-2f3c1b0d5e11",
                "phone": "+917428526285", "name": "Asha Verma", "status": "read", "error_code": None, "error_title": None,
                "created_at": "2026-11-27T10:00:00Z", "sent_at": "2026-11-27T10:00:01Z", "delivered_at": "2026-11-27T10:00:02Z",
                "read_at": "2026-11-27T10:03:00Z", "failed_at": None, "replied_at": None,
            }], "next_cursor": None}, 400, 403, 404))
async def audience(
    campaign: str, request: Request, identity: ApiIdentity = Depends(require_full),
    outcome: str = Query(..., description="SENT, DELIVERED, READ, FAILED or REPLIED"),
    cursor: str | None = Query(None), limit: int = Query(50, description="1 to 200"),
) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        return page(await analytics.audience(session, identity.project_id, campaign, outcome, cursor=cursor, limit=limit))
