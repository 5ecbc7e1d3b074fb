"""Meta's marketing rules checked before a send (issue 17, part 3), the pure part: regions where
Meta does not deliver MARKETING templates, and what a project does about them (no I/O; unit
tests in tests/unit/test_marketing_rules.py).

Since 2025-04-01 Meta pauses marketing template messages to US phone numbers (+1 with a US
area code; Canadian +1 numbers still go). The region is the phone number's region as the
`phonenumbers` library reads it, not its country calling code. The blocked regions are the
setting `WACAST_MARKETING_BLOCKED_REGIONS` (default "US"; an empty string turns the rule off).

A project's `marketing_region_policy` says what wacast does with such a send:

- `refuse` (the default): the campaign API refuses it (400 MARKETING_REGION_BLOCKED) and a
  broadcast skips the contact (`marketing_region_blocked`, counted by the estimate too).
  This departs from AiSensy on purpose: AiSensy accepts and Meta then fails the message
  (and may still charge for the attempt).
- `accept`: as AiSensy does, the message is queued and Meta decides (it fails, 131026/130472).

Utility and authentication templates are never affected. A person known only by a BSUID
(no phone number) has no phone region and is never blocked by this rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import phonenumbers

from wacast.kit.errors import WacastError

MARKETING_REGION_BLOCKED = "marketing_region_blocked"  # the skip reason of a broadcast, the count of the estimate
POLICIES = ("refuse", "accept")
DEFAULT_POLICY = "refuse"
# Since when Meta does not deliver marketing templates to a region (a region set by the
# setting but not listed here is blocked with no date given).
BLOCKED_SINCE: dict[str, date] = {"US": date(2025, 4, 1)}
DEFAULT_BLOCKED = "US"
REGION_NAMES = {"US": "the United States"}
POLICY_WORDS = {
    "refuse": "refuse them: the campaign API answers 400 MARKETING_REGION_BLOCKED and broadcasts skip them (the default)",
    "accept": "accept them as AiSensy does: they are queued and Meta fails them",
}


def parse_regions(value: str | Iterable[str] | None) -> frozenset[str]:
    """The blocked regions of the setting: ISO codes, comma-separated, any case; empty: none.
    An unknown code is a ValueError naming it (the setting is checked when it is read)."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)
    regions = {item.strip().upper() for item in items if item and item.strip()}
    unknown = sorted(r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ValueError(f"unknown region codes in WACAST_MARKETING_BLOCKED_REGIONS: {', '.join(unknown)} (use ISO codes like US)")
    return frozenset(regions)


BLOCKED_BY_DEFAULT = parse_regions(DEFAULT_BLOCKED)  # what the setting's default blocks


def policy_choice(value: object) -> str | None:
    """A valid marketing_region_policy (any case, trimmed), or None."""
    if not isinstance(value, str):
        return None
    choice = value.strip().lower()
    return choice if choice in POLICIES else None


def region_of(destination: str | None) -> str | None:
    """The ISO region of an E.164 phone number (None: no phone number, e.g. a BSUID, or none
    the library can place)."""
    if not destination or not destination.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(destination, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(number)


def applies(template_category: str | None, policy: str | None) -> bool:
    """The rule is checked at all: a MARKETING template and a project that refuses."""
    return (template_category or "").upper() == "MARKETING" and (policy_choice(policy) or DEFAULT_POLICY) == "refuse"


def blocked_region(destination: str | None, template_category: str | None, policy: str | None,
                   blocked: frozenset[str]) -> str | None:
    """The region a send is refused (or skipped) for, or None when it may go."""
    if not blocked or not applies(template_category, policy):
        return None
    region = region_of(destination)
    return region if region in blocked else None


def blocked_among(destinations: Iterable[str | None], template_category: str | None, policy: str | None,
                  blocked: frozenset[str]) -> set[str]:
    """The destinations of `destinations` a broadcast skips (or an estimate counts)."""
    if not blocked or not applies(template_category, policy):
        return set()
    return {d for d in destinations if d and region_of(d) in blocked}


# The estimate groups a segment's phone numbers by their first characters (+, the calling code
# and the start of the national number: +1 and a US or Canadian area code, and more) and
# places each group by one of its numbers: the region of a +1 number is its area code's.
PREFIX_LENGTH = 8


def calling_codes(blocked: frozenset[str]) -> list[str]:
    """The country calling codes of the blocked regions ("1" for US), for a LIKE '+1%' filter."""
    return sorted({str(phonenumbers.country_code_for_region(r)) for r in blocked} - {"0"})


def count_blocked(groups: Iterable[tuple[str, int]], template_category: str | None, policy: str | None,
                  blocked: frozenset[str]) -> int:
    """How many numbers of (a number of the group, numbers in the group) groups are blocked."""
    if not blocked or not applies(template_category, policy):
        return 0
    return sum(n for phone, n in groups if region_of(phone) in blocked)


def region_words(region: str) -> str:
    """'US numbers (the United States)' or the code itself."""
    name = REGION_NAMES.get(region)
    return f"{region} numbers ({name})" if name else f"{region} numbers"


def since_words(region: str) -> str:
    since = BLOCKED_SINCE.get(region)
    return f" since {since:%B %Y}" if since else ""


def refusal(destination: str, region: str) -> WacastError:
    """The campaign API's 400: the region, since when, and what the project can do."""
    return WacastError(
        f"Meta does not deliver marketing templates to {region_words(region)}: it pauses marketing template messages "
        f"to {region} numbers{since_words(region)}. Send a utility template, or set the project's marketing_region_policy "
        "to accept to queue it anyway (Meta will fail it)",
        "MARKETING_REGION_BLOCKED", {"destination": destination, "region": region,
                     "since": BLOCKED_SINCE[region].isoformat() if region in BLOCKED_SINCE else None},
    )
