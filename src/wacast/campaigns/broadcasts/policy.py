"""A project's send policy for broadcasts: quiet hours, frequency cap, messaging tier. Pure
decisions (no I/O); the engine and the service gather the counts they need.

- Quiet hours: a local window (it may cross midnight) in which broadcast messages wait for
  its end. API (transactional) messages are never held by it.
- Frequency cap: at most N marketing messages per contact in D days.
- Messaging tier: Meta's limit of unique contacts per 24 h (250, 2,000, 10,000, 100,000).
- Marketing consent: with the project's `require_marketing_consent`, MARKETING sends skip the
  contacts without a recorded consent (`no_consent`; contacts/consent_policy.py).
"""


from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from wacast.contacts.consent_policy import NO_CONSENT, required as consent_required  # noqa: F401  (the engine's no_consent skip)
from wacast.kit.errors import WacastError

TIERS = (250, 2_000, 10_000, 100_000)
QUIET_REASON_PREFIX = "quiet hours until"  # how a message held by quiet hours is told apart


class PolicyLike(Protocol):
    quiet_start: str | None
    quiet_end: str | None
    frequency_cap_count: int | None
    frequency_cap_days: int | None
    messaging_tier: int | None


def hhmm(value: Any, path: str) -> str:
    """A local time of day as "HH:MM"."""
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        raise WacastError(f"{path} must be a time HH:MM", "FIELD_INVALID", {"field": path}) from None
    return parsed.strftime("%H:%M")


def parse_changes(body: Any) -> dict[str, Any]:
    """The policy columns a PUT body changes (fields not given stay as they are)."""
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    changes: dict[str, Any] = {}
    if "quiet_hours" in body:
        quiet = body["quiet_hours"]
        if quiet is None:
            changes.update(quiet_start=None, quiet_end=None)
        elif isinstance(quiet, dict) and quiet.get("start") and quiet.get("end"):
            changes.update(quiet_start=hhmm(quiet["start"], "quiet_hours.start"), quiet_end=hhmm(quiet["end"], "quiet_hours.end"))
        else:
            raise WacastError("quiet_hours must be {\"start\": \"21:00\", \"end\": \"09:00\"} or null", "FIELD_INVALID", {"field": "quiet_hours"})
    if "frequency_cap" in body:
        cap = body["frequency_cap"]
        if cap is None:
            changes.update(frequency_cap_count=None, frequency_cap_days=None)
        elif (
            isinstance(cap, dict) and isinstance(cap.get("messages"), int) and isinstance(cap.get("days"), int)
            and not isinstance(cap.get("messages"), bool) and 1 <= cap["messages"] <= 1000 and 1 <= cap["days"] <= 365
        ):
            changes.update(frequency_cap_count=cap["messages"], frequency_cap_days=cap["days"])
        else:
            raise WacastError("frequency_cap must be {\"messages\": 1-1000, \"days\": 1-365} or null", "FIELD_INVALID", {"field": "frequency_cap"})
    if "messaging_tier" in body:
        tier = body["messaging_tier"]
        if tier in (None, "unlimited"):
            changes["messaging_tier"] = None
        elif tier in TIERS and not isinstance(tier, bool):
            changes["messaging_tier"] = tier
        else:
            raise WacastError("messaging_tier must be 250, 2000, 10000, 100000 or \"unlimited\"", "FIELD_INVALID", {"field": "messaging_tier", "allowed": [*TIERS, "unlimited"]})
    return changes


def quiet_until(policy: PolicyLike | None, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The end of the quiet window when `now` is inside it, else None."""
    if policy is None or not policy.quiet_start or not policy.quiet_end or policy.quiet_start == policy.quiet_end:
        return None
    local = now.astimezone(zone)
    start, end = time.fromisoformat(policy.quiet_start), time.fromisoformat(policy.quiet_end)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_local = datetime.combine(local.date(), end, tzinfo=zone)
    if end_local <= local:
        end_local = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return end_local.astimezone(now.tzinfo)


def quiet_reason(until: datetime | None, zone: ZoneInfo, zone_name: str) -> str:
    """The held reason of a message waiting for the quiet window to end."""
    if until is None:
        return ""
    return f"{QUIET_REASON_PREFIX} {until.astimezone(zone):%H:%M} {zone_name}"


def frequency_cap_applies(policy: PolicyLike | None, template_category: str) -> bool:
    """The cap counts marketing messages only, and only when the project set one."""
    return policy is not None and bool(policy.frequency_cap_count) and template_category == "MARKETING"


def at_frequency_cap(policy: PolicyLike, recent_marketing: Iterable[tuple[Any, int]]) -> set[Any]:
    """The contacts of (contact, marketing messages in the last D days) that reached the cap."""
    return {contact for contact, n in recent_marketing if n >= (policy.frequency_cap_count or 0)}


def tier_room(policy: PolicyLike | None, contacts_last_24h: int) -> int | None:
    """How many more unique contacts the tier allows in the last 24 h (0 or less: wait);
    None when the project has no tier."""
    if policy is None or not policy.messaging_tier:
        return None
    return policy.messaging_tier - contacts_last_24h


def tier_reason(policy: PolicyLike) -> str:
    return f"waiting: messaging tier of {policy.messaging_tier} unique contacts per 24 h reached"


def failing_too_much(total: int, failed: int, window: int, threshold: float) -> bool:
    """Auto-pause: `failed` of the last `total` finished sends, judged once a window is full."""
    return total >= window and failed / total >= threshold


def skips_for_consent(require_marketing_consent: bool, template_category: str, contact_ids: Iterable[Any],
                      consented: set[Any]) -> set[Any]:
    """The contacts a broadcast skips with the reason `no_consent`: consent is required for
    this template and they have none recorded."""
    if not consent_required(require_marketing_consent, template_category):
        return set()
    return {c for c in contact_ids if c not in consented}
