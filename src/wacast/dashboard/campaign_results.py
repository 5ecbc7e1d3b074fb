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
from wacast.links import tracking
from wacast.links.utm import UTM_KEYS

# Retargeting: who to make a segment of, as the segment filter says it (the contact's LAST
# outcome in the campaign; a reply outranks read, so "read" means read and did not reply),
# and the tracked links' outcomes: tapped a link, tapped but bought nothing, never tapped.
RETARGET: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "not_read": ("didn't read", [{"op": "received", "status": ["sent", "delivered"]}]),
    "read_no_reply": ("read, no reply", [{"op": "received", "status": ["read"]}]),
    "replied": ("replied", [{"op": "received", "status": ["replied"]}]),
    "failed": ("failed", [{"op": "received", "status": ["failed"]}]),
    "clicked": ("clicked", [{"op": "clicked"}]),
    "clicked_not_converted": ("clicked, didn't buy", [{"op": "clicked"}, {"op": "not_converted"}]),
    "not_clicked": ("didn't click", [{"op": "not_clicked"}]),
}
# The audience lists, in the order the page offers them (each exports to CSV).
AUDIENCES = ("SENT", "DELIVERED", "READ", "FAILED", "REPLIED", "CLICKED", "CONVERTED", "MARKETING_LIMITED")


def retarget_filter(campaign_id: uuid.UUID, preset: str) -> dict[str, Any]:
    """The segment filter of a retargeting preset for this campaign."""
    return {"match": "all", "conditions": [{"field": "campaign", "campaign": str(campaign_id), **c} for c in RETARGET[preset][1]]}


def days_window(ctx: Ctx, days: int) -> tuple[date, date]:
    end = datetime.now(zone_of(ctx)).date()
    return end - timedelta(days=days - 1), end


async def results(session: AsyncSession, ctx: Ctx, campaign_id: uuid.UUID, *, days: int, outcome: str) -> dict[str, Any]:
    """What the results partials (_results.html, _audience.html) show."""
    days = min(max(days, 1), 90)
    summary = await analytics.summary(session, ctx.project.id, campaign_id)
    campaign = await analytics.find_campaign(session, ctx.project.id, campaign_id)
    start, end = days_window(ctx, days)
    series = await analytics.daily(session, ctx.project.id, campaign_id, start, end)
    chosen = outcome.upper() if outcome.upper() in analytics.OUTCOMES else ""
    chart = views.grouped_bars(
        [d.date.isoformat() for d in series],
        {k: [getattr(d, k) for d in series] for k in ("sent", "delivered", "read", "failed", "replied")},
    )
    return {
        "summary": summary, "chart": chart, "days": days, "failures": await analytics.failures(session, ctx.project.id, campaign_id),
        "outcome": chosen, "retarget": RETARGET, "results_id": campaign_id, "audiences": AUDIENCES,
        "earned": earned_view(summary), "tracking": tracking.parse(campaign.tracking), "utm_keys": UTM_KEYS,
        "audience": await analytics.audience(session, ctx.project.id, campaign_id, chosen, limit=50) if chosen else None,
    }


def earned_view(summary: analytics.Summary) -> dict[str, Any]:
    """The clicks and conversions panel: per button and per goal as rows, in a fixed order."""
    clicks = summary.clicks or {"unique": 0, "total": 0, "rate": None, "per_button": {}}
    conversions = summary.conversions or {"total": 0, "converted_messages": 0, "rate": None, "goals": {}, "other_goals": {}, "revenue": {}}
    buttons = sorted(clicks["per_button"].items(), key=lambda kv: (kv[0] == "body", int(kv[0]) if kv[0].isdigit() else 0))
    goals = [(name, g, True) for name, g in sorted(conversions["goals"].items())]
    goals += [(name, g, False) for name, g in sorted(conversions["other_goals"].items())]
    return {"clicks": clicks, "conversions": conversions, "buttons": buttons, "goals": goals,
            "median": summary.median_seconds or {}, "any": bool(clicks["total"] or conversions["total"])}


def retarget_name(campaign_name: str, preset: str, when: datetime) -> str:
    """The new segment's name: the campaign, who, and when it was made (names are unique)."""
    return f"{campaign_name}: {RETARGET[preset][0]} ({when:%d %b %H:%M:%S})"[:200]
