"""The overview: Meta's account state (a banner when a restriction or a ban is in force), today's
and this week's numbers, the funnel, two weeks by status, recent failures and campaigns
compared (delivered, read, clicked, converted, revenue)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.api_keys import service as api_keys_service
from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.dashboard.web import Agent, DashboardRoute, render, zone_of
from wacast.db.requests import ReadSession
from wacast.kit.clock import utcnow
from wacast.links import repository_results as links_results
from wacast.messages.senders import account_hold
from wacast.whatsapp import account_policy
from wacast.whatsapp import repository_accounts as accounts_repo
from wacast.whatsapp.number_quality import guardrails_banner

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
EVENTS_SHOWN_FOR = timedelta(days=30)


async def account_banner(session: ReadSession, project: Any) -> dict[str, Any] | None:
    """Meta's account state for the project's WABA (account_update): what holds sends, each
    restriction or ban in force with since and until, and the latest events; None when nothing."""
    if not project.waba_id:
        return None
    now = utcnow()
    stored = (await accounts_repo.statuses(session, [project.waba_id])).get(project.waba_id)
    notices = account_policy.notices(account_policy.state_of(stored), now)
    recent = await accounts_repo.recent_events(session, project.waba_id, now - EVENTS_SHOWN_FOR)
    if not notices and not recent:
        return None
    return {"held": account_hold(project, now), "notices": notices, "events": recent}


@router.get("/")
async def overview(request: Request, ctx: Agent, session: ReadSession) -> Response:
    zone = zone_of(ctx)
    now_local = datetime.now(zone)
    today = datetime.combine(now_local.date(), datetime.min.time(), zone)
    week = today - timedelta(days=6)
    pid = ctx.project.id
    data = {
        "today": await repo.count_since(session, pid, today),
        "week": await repo.count_since(session, pid, week),
        "funnel": await repo.funnel(session, pid, week),
        "failures": await repo.recent_failures(session, pid),
        "campaigns": (campaigns := (await repo.campaigns_with_counts(session, pid))[:6]),
        "compared": await links_results.campaigns_compared(session, [r.Campaign.id for r in campaigns]),
        "keys": len([k for k in await api_keys_service.list_keys(session, pid) if k.revoked_at is None]),
        "account": await account_banner(session, ctx.project),
        "guardrails": await guardrails_banner(session, ctx.project),
    }
    first = now_local.date() - timedelta(days=13)
    bounds = [datetime.combine(first + timedelta(days=i), datetime.min.time(), zone) for i in range(15)]
    series = await repo.daily_by_status(session, pid, bounds)
    steps = [(s, data["funnel"][s]) for s in ("submitted", "sent", "delivered", "read", "failed", "replied")]
    chart = views.stacked_bars([b.date().isoformat() for b in bounds[:-1]], series, width=1100, height=200) if any(map(any, series.values())) else None
    return render(ctx, "overview.html", steps=steps, chart=chart, **data)
