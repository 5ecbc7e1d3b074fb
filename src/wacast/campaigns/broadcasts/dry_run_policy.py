"""The pure part of a dry run (no I/O; tests/unit/test_dry_run_policy.py): the destinations'
countries counted, what waits rather than is skipped, and the cost as a dry run shows it
("no rate card" said in words when the project has none in force)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import phonenumbers

from wacast.billing import pricing

NO_RATE_CARD = "no rate card: import one (POST /api/v1/rate-cards, or Settings > Billing) to see the cost"
QUIET_HOURS = "quiet hours"
MESSAGING_TIER = "messaging tier"


def _single_region(digits: str) -> str | None:
    """The one region of the country calling code that starts `digits` (E.164 without +),
    or None when the code is shared (+1, +7, +44, ...) or unknown: then the full number decides."""
    for size in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:size])) if digits[:size].isdigit() else None
        if regions:
            return regions[0] if len(regions) == 1 and len(regions[0]) == 2 and regions[0] != "ZZ" else None
    return None


def count_by_country(destinations: Iterable[str | None]) -> dict[str, int]:
    """How many destinations per country, as billing prices them (pricing.country_of: the
    phone number's region, a BSUID's prefix, `*` when unknown), most first. A calling code
    of one region is read from the code alone (what phonenumbers does too), so 100,000
    numbers are counted in a fraction of a second."""
    counts: dict[str, int] = {}
    for destination in destinations:
        country = None
        if destination and destination.startswith("+"):
            country = _single_region(destination[1:4])
        if country is None:
            country = pricing.country_of(destination)
        counts[country] = counts.get(country, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def message_counts(template_category: str, by_country: dict[str, int]) -> dict[tuple[str, str], int]:
    """The (pricing category, country) counts that billing's estimate_cost prices."""
    category = pricing.template_category(template_category)
    return {(category, country): n for country, n in by_country.items() if n}


def by_category(template_category: str, by_country: dict[str, int]) -> dict[str, int]:
    """A broadcast's messages are all of its template's category (Meta's pricing word)."""
    total = sum(by_country.values())
    return {pricing.template_category(template_category): total} if total else {}


def held(will_send: int, quiet_until: str | None, waits_for_tier: int) -> dict[str, int]:
    """Who is sent later rather than skipped: everyone while it would start inside quiet
    hours (held until the window ends), and those over the messaging tier's 24 h room."""
    out = {}
    if quiet_until and will_send:
        out[QUIET_HOURS] = will_send
    if waits_for_tier:
        out[MESSAGING_TIER] = waits_for_tier
    return out


def cost_view(estimate: pricing.Estimate) -> dict[str, Any]:
    """billing's estimate as a dry run shows it: the card's currency and version, the total,
    the messages with no rate; with no card in force, `rate_card` is null and `note` says so."""
    out = estimate.as_dict()
    out["rate_card"] = "in force" if estimate.currency else None
    out["note"] = None
    if not estimate.currency:
        out.update(cost=None, note=NO_RATE_CARD)
    elif estimate.unpriced:
        out["note"] = f"{estimate.unpriced} message(s) have no rate on version {estimate.version}: not in the cost"
    return out


def cost_words(cost: dict[str, Any]) -> str:
    """One line for the dashboard and the CLI: "1,624.000000 INR (rate card v2)" or the note."""
    if cost.get("cost") is None:
        return cost.get("note") or NO_RATE_CARD
    line = f"{cost['cost']} {cost['currency']} (rate card v{cost['rate_card_version']})"
    return f"{line}; {cost['note']}" if cost.get("note") else line
