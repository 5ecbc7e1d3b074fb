"""What a campaign's tracked links and conversions earned: clicks (unique and total, per
button), conversions per goal, revenue per currency, and the time from read to click to
conversion. Rates are shares of the messages delivered."""

from __future__ import annotations

import statistics
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.links import repository as repo
from wacast.links import tracking


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median_seconds(pairs: list[tuple[Any, Any]]) -> float | None:
    gaps = [(b - a).total_seconds() for a, b in pairs if a is not None and b is not None and b >= a]
    return round(statistics.median(gaps), 1) if gaps else None


async def campaign_results(session: AsyncSession, campaign_id: uuid.UUID, campaign_tracking: Any, delivered: int) -> dict[str, Any]:
    settings = tracking.parse(campaign_tracking)
    per_button = {}
    total_clicks = 0
    for button_index, clicks, messages in await repo.click_counts(session, campaign_id):
        key = "body" if button_index is None else str(button_index)
        per_button[key] = {"clicks": int(clicks), "unique": int(messages)}
        total_clicks += int(clicks)
    unique = await repo.messages_clicked_count(session, campaign_id) if per_button else 0
    goals: dict[str, dict[str, Any]] = {}
    revenue: dict[str, Decimal] = {}
    for goal, currency, count, _, value in await repo.conversion_counts(session, campaign_id):
        entry = goals.setdefault(goal, {"conversions": 0, "revenue": {}, "defined": goal in settings.goals})
        entry["conversions"] += int(count)
        if currency and value is not None:
            entry["revenue"][currency] = str(Decimal(value).quantize(Decimal("0.01")))
            revenue[currency] = revenue.get(currency, Decimal(0)) + Decimal(value)
    converted = await repo.messages_converted_count(session, campaign_id) if goals else 0
    journeys = await repo.journey_times(session, campaign_id) if per_button else []
    return {
        "clicks": {"unique": unique, "total": total_clicks, "rate": _rate(unique, delivered), "per_button": per_button},
        "conversions": {
            "total": sum(g["conversions"] for g in goals.values()), "converted_messages": converted, "rate": _rate(converted, delivered),
            "goals": {g: v for g, v in goals.items() if v["defined"]},
            "other_goals": {g: v for g, v in goals.items() if not v["defined"]},
            "revenue": {c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(revenue.items())},
        },
        "median_seconds": {"read_to_click": _median_seconds([(r.read_at, r.clicked_at) for r in journeys]),
                           "click_to_conversion": _median_seconds([(r.clicked_at, r.converted_at) for r in journeys])},
        "attribution_window_days": settings.window_days,
        "goals": list(settings.goals),
    }
