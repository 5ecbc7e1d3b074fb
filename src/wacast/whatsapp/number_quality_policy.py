"""Meta's `phone_number_quality_update` event read as wacast keeps it (pure; unit-tested in
tests/unit/test_number_quality_policy.py).

Meta's value (webhooks/reference/phone_number_quality_update):
    {"display_phone_number": "15550783881", "event": "FLAGGED" | "UNFLAGGED" | "DOWNGRADE" |
     "UPGRADE" | "ONBOARDING" | "THROUGHPUT_UPGRADE", "current_limit": "TIER_10K",
     "old_limit": "TIER_2K", "max_daily_conversations_per_business": "TIER_10K"}
`current_limit` and `old_limit` are being removed by Meta in favour of
`max_daily_conversations_per_business` (the portfolio's limit); `max_daily_conversation_per_phone`
is read as the same where it appears. The event carries no rating of its own: a
`quality_rating` (GREEN, YELLOW, RED: the phone number's field of that name) is read when given.

- FLAGGED: the number's state becomes FLAGGED (Meta flags a number whose quality is low; its
  limit may be lowered in 7 days unless the quality recovers); its quality is RED unless
  `quality_rating` says otherwise;
- UNFLAGGED: the flag is lifted; the quality is `quality_rating`, else UNKNOWN (not down);
- DOWNGRADE, UPGRADE, ONBOARDING, THROUGHPUT_UPGRADE: the limits change; the quality only by a
  `quality_rating` given with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wacast.projects import guardrails

EVENTS = ("FLAGGED", "UNFLAGGED", "DOWNGRADE", "UPGRADE", "ONBOARDING", "THROUGHPUT_UPGRADE")
_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,29}")
_DIGITS = re.compile(r"\D")


def word(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    w = value.strip().upper()
    return w if _WORD.fullmatch(w) else None


def display_number(value: Any) -> str | None:
    """Meta's display_phone_number as digits (it may come with +, spaces, dashes), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > 40:
        return None
    digits = _DIGITS.sub("", value)
    return digits if 5 <= len(digits) <= 21 else None


def tier(value: Any) -> str | None:
    """A messaging-limit tier Meta names (TIER_250 ... TIER_UNLIMITED, TIER_NOT_SET), or None."""
    w = word(value)
    return w if w is not None and w.startswith("TIER_") else None


@dataclass(frozen=True)
class QualityEvent:
    number: str
    event: str  # Meta's (upper case; "" when missing or unreadable)
    known: bool
    quality: str  # GREEN | YELLOW | RED | UNKNOWN after the event
    flagged: bool
    rating: str  # guardrails.rating_of(quality, flagged)
    previous_rating: str
    current_limit: str | None
    old_limit: str | None
    portfolio_tier: str | None  # the portfolio's limit, when the event tells it


def read_event(value: dict, number: str, before_quality: str | None, before_flagged: bool) -> QualityEvent:
    """The number's state after the event, from its state before (None: first seen)."""
    event = word(value.get("event")) or ""
    given = word(value.get("quality_rating"))
    given = given if given in guardrails.QUALITIES else None
    quality = before_quality if before_quality in guardrails.QUALITIES else "UNKNOWN"
    flagged = before_flagged
    if event == "FLAGGED":
        flagged, quality = True, given or "RED"
    elif event == "UNFLAGGED":
        flagged, quality = False, given or "UNKNOWN"
    elif given:
        quality = given
    portfolio = (tier(value.get("max_daily_conversations_per_business")) or tier(value.get("max_daily_conversation_per_phone"))
                 or tier(value.get("current_limit")))
    return QualityEvent(number, event, event in EVENTS, quality, flagged, guardrails.rating_of(quality, flagged),
                        guardrails.rating_of(before_quality, before_flagged), tier(value.get("current_limit")),
                        tier(value.get("old_limit")), portfolio)
