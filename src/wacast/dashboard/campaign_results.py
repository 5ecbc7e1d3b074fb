"""A campaign's results, the same on an API campaign's page and on a broadcast's: the counts
and rates, the chart per day, failures by Meta code, the audience by outcome, and the
retargeting presets that make a segment of one outcome ("didn't read", "read, no reply")."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns import analytics
from wacast.dashboard import views
from wacast.dashboard.web import Ctx, zone_of

# Retargeting: who to make a segment of, as the segment filter says it (the contact's LAST
# outcome in the campaign; a reply outranks read, so "read" means read and did not reply).
RETARGET: dict[str, tuple[str, list[str]]] = {
    "not_read": ("didn't read", ["sent", "delivered"]),
    "read_no_reply": ("read, no reply", ["read"]),
    "replied": ("replied", ["replied"]),
    "failed": ("failed", ["failed"]),
}


def days_window(ctx: Ctx, days: int) -> tuple[date, date]:
    end = datetime.now(zone_of(ctx)).date()
    return end - timedelta(days=days - 1), end


async def results(session: AsyncSession, ctx: Ctx, campaign_id: uuid.UUID, *, days: int, outcome: str) -> dict[str, Any]:
    """What the results partials (_results.html, _audience.html) show."""
    days = min(max(days, 1), 90)
    summary = await analytics.summary(session, ctx.project.id, campaign_id)
    start, end = days_window(ctx, days)
    series = await analytics.daily(session, ctx.project.id, campaign_id, start, end)
    chosen = outcome.upper() if outcome.upper() in analytics.OUTCOMES else ""
    chart = views.grouped_bars(
        [d.date.isoformat() for d in series],
        {k: [getattr(d, k) for d in series] for k in ("sent", "delivered", "read", "failed", "replied")},
    )
    return {
        "summary": summary, "chart": chart, "days": days, "failures": await analytics.failures(session, ctx.project.id, campaign_id),
        "outcome": chosen, "retarget": RETARGET, "results_id": campaign_id,
        "audience": await analytics.audience(session, ctx.project.id, campaign_id, chosen, limit=50) if chosen else None,
    }


def retarget_name(campaign_name: str, preset: str, when: datetime) -> str:
    """The new segment's name: the campaign, who, and when it was made (names are unique)."""
    return f"{campaign_name}: {RETARGET[preset][0]} ({when:%d %b %H:%M:%S})"[:200]
