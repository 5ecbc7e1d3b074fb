"""Marketing consent, the pure part: how a consent value given with a request reads, and when
a send needs one (no I/O; unit tests in tests/unit/test_consent_policy.py).

A consent value is `true` (granted), `false` (withdrawn) or an object
`{"granted": bool, "source": text, "evidence": text, "at": ISO time}` (the same in the
campaign API's `marketing_consent`, the REST API's and, as yes/no, a CSV column).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wacast.kit import text
from wacast.kit.errors import WacastError

MAX_SOURCE = 200
MAX_EVIDENCE = 2000
# How a consent was recorded (contact_consents.method).
METHODS = ("campaign_api", "rest", "csv", "dashboard", "cli", "double_opt_in", "opt_out")
NO_CONSENT = "no_consent"  # the skip reason of a broadcast, the count of the estimate
CONSENT_FIELDS = ("granted", "source", "evidence", "at")
TRUE_WORDS = {"yes", "true", "1", "y", "granted"}
FALSE_WORDS = {"no", "false", "0", "n", "withdrawn"}


@dataclass(frozen=True)
class ConsentGiven:
    granted: bool
    source: str | None = None
    evidence: str | None = None
    at: datetime | None = None  # when the person gave it, when the caller knows


def _invalid(field: str, expected: str) -> WacastError:
    return WacastError(f"{field} must be {expected}", "FIELD_INVALID", {"field": field, "expected": expected})


def parse_time(value: Any, field: str, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise _invalid(field, "an ISO date-time")
    text.check(field, value, max_len=64)
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(field, "an ISO date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > now:
        raise WacastError(f"{field} is in the future", "FIELD_INVALID", {"field": field})
    return moment


def parse(value: Any, field: str, now: datetime) -> ConsentGiven | None:
    """A consent value as given (None: not given). Every error names `field`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ConsentGiven(value)
    if not isinstance(value, dict):
        raise _invalid(field, "true, false or an object {granted, source, evidence, at}")
    unknown = sorted(k for k in value if k not in CONSENT_FIELDS)
    if unknown:
        raise WacastError(f"{field} has unknown fields: {', '.join(map(str, unknown))[:200]}", "FIELD_INVALID",
                          {"field": field, "allowed": list(CONSENT_FIELDS)})
    granted = value.get("granted")
    if not isinstance(granted, bool):
        raise _invalid(f"{field}.granted", "true or false")
    source, evidence = value.get("source"), value.get("evidence")
    # One line each (the single-line rule: no line breaks, U+2028 or U+2029); both are shown in
    # one line of the contact's consent history and exported as CSV cells.
    for name, item, limit in (("source", source, MAX_SOURCE), ("evidence", evidence, MAX_EVIDENCE)):
        if item is not None and not isinstance(item, str):
            raise _invalid(f"{field}.{name}", "a string")
        if item:
            text.check(f"{field}.{name}", item, max_len=limit)
    at = parse_time(value["at"], f"{field}.at", now) if value.get("at") is not None else None
    return ConsentGiven(granted, source or None, evidence or None, at)


def parse_word(value: str, field: str) -> bool | None:
    """A CSV cell or a form's yes/no: True, False, or None when empty."""
    word = value.strip().lower()
    if not word:
        return None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise WacastError(f"{field} must be yes or no, not {value[:40]!r}", "CSV_ROW_INVALID", {"field": field})


def required(require_marketing_consent: bool, template_category: str | None) -> bool:
    """A send needs a recorded consent: the project requires it and the template is MARKETING."""
    return bool(require_marketing_consent) and (template_category or "").upper() == "MARKETING"


def refused(require_marketing_consent: bool, template_category: str | None, has_consent: bool, given: ConsentGiven | None) -> bool:
    """A send is refused (CONSENT_REQUIRED) or skipped (no_consent): consent is required and the
    contact has none once what the request itself says is applied."""
    if not required(require_marketing_consent, template_category):
        return False
    return not (given.granted if given is not None else has_consent)


def consent_required_error(destination: str | None) -> WacastError:
    return WacastError(
        "This project requires marketing consent for MARKETING templates and the contact has none recorded: "
        "send marketing_consent with the request, or record it first",
        "CONSENT_REQUIRED", {"destination": destination, "field": "marketing_consent"},
    )
