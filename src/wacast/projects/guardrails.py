"""The guardrails a project chooses for what Meta changes under its sends (issue 17, parts 4
and 5), as pure decisions: no I/O (tests/unit/test_guardrails.py).

- A template Meta recategorises from UTILITY to MARKETING (template_category_update) costs
  marketing prices from then on: by default (`on_category_change = hold`) its sends wait until a
  manager accepts the new category on the template's page; `continue` keeps sending.
- A number whose quality falls (phone_number_quality_update: YELLOW, RED, or FLAGGED, the
  number's state) protects itself by `on_quality_drop`: `slow` (the default: every marketing
  message on the number takes two of its send slots, so marketing goes at half the number's
  pace while utility and authentication messages keep the full pace), `pause` (its running
  marketing broadcasts are paused with the reason; a person resumes them), or `continue`.
- A broadcast that would pass the business portfolio's daily messaging limit is warned about
  before launch.

The tables of Meta's tiers and ratings are here too, so the dispatcher, the broadcast engine,
the estimate, /metrics and the dashboard read one set of words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# --- the project's choices ---------------------------------------------------------------

CATEGORY_CHOICES = ("hold", "continue")
QUALITY_CHOICES = ("slow", "pause", "continue")
DEFAULT_CATEGORY_CHOICE = "hold"
DEFAULT_QUALITY_CHOICE = "slow"
SLOW_FACTOR = 2  # "slow": a marketing message takes this many of the number's send slots (half the pace)

CATEGORY_WORDS = {
    "hold": "hold the template's sends until a manager accepts the new category",
    "continue": "keep sending (at the new category's price)",
}
QUALITY_WORDS = {
    "slow": "slow marketing to half the number's pace (utility and authentication keep the full pace)",
    "pause": "pause the number's running marketing broadcasts (API messages continue)",
    "continue": "keep sending at the full pace",
}


def category_choice(value: Any) -> str | None:
    """A valid on_category_change (any case, trimmed), or None."""
    word = value.strip().lower() if isinstance(value, str) else None
    return word if word in CATEGORY_CHOICES else None


def quality_choice(value: Any) -> str | None:
    """A valid on_quality_drop (any case, trimmed), or None."""
    word = value.strip().lower() if isinstance(value, str) else None
    return word if word in QUALITY_CHOICES else None


# --- part 4: a template recategorised under a campaign -------------------------------------


def holds_category_change(previous: str | None, new: str | None, choice: str | None) -> bool:
    """Whether Meta's change of a template's category holds its sends: UTILITY to MARKETING,
    unless the project chose `continue`."""
    return previous == "UTILITY" and new == "MARKETING" and (category_choice(choice) or DEFAULT_CATEGORY_CHOICE) == "hold"


def category_hold_reason(name: str, previous: str, new: str, at: datetime) -> str:
    """The held reason in words (kept on the template, the held messages and the broadcasts)."""
    return (f"Meta recategorised template {name} from {previous} to {new} on {at:%Y-%m-%d %H:%M} UTC (its sends now "
            f"cost {new.lower()} prices): held until a manager accepts the new category on the template's page")[:500]


def category_hold(template: Any) -> str | None:
    """Why a template's sends wait for a category change to be accepted, or None."""
    return getattr(template, "category_hold", None) or None if template is not None else None


# --- part 5: a number that protects itself -------------------------------------------------

QUALITIES = ("GREEN", "YELLOW", "RED", "UNKNOWN")
RATINGS = ("GREEN", "YELLOW", "RED", "FLAGGED", "UNKNOWN")
# For /metrics (wacast_number_quality): higher is better; UNKNOWN is -1.
RATING_VALUES = {"GREEN": 3, "YELLOW": 2, "RED": 1, "FLAGGED": 0, "UNKNOWN": -1}
RATING_WORDS = {
    "GREEN": "high quality", "YELLOW": "medium quality", "RED": "low quality",
    "FLAGGED": "flagged by Meta for low quality (its limit may be lowered)", "UNKNOWN": "not rated yet",
}
DOWN = frozenset({"YELLOW", "RED", "FLAGGED"})


def rating_of(quality: str | None, flagged: bool) -> str:
    """The number's rating as wacast keeps it: FLAGGED while Meta's flag lasts, else its quality."""
    if flagged:
        return "FLAGGED"
    return quality if quality in QUALITIES else "UNKNOWN"


def is_down(rating: str | None) -> bool:
    """Whether a rating is below GREEN (YELLOW, RED, FLAGGED): the guardrail applies."""
    return rating in DOWN


def fell(before: str | None, after: str | None) -> bool:
    """Whether the rating got worse (an unrated number counts as GREEN)."""
    rank = {"GREEN": 3, "UNKNOWN": 3, "YELLOW": 2, "RED": 1, "FLAGGED": 0}
    return rank.get(after or "UNKNOWN", 3) < rank.get(before or "UNKNOWN", 3)


def quality_action(rating: str | None, choice: str | None) -> str | None:
    """What a number's rating does to its marketing: slow, pause, continue (down, by the
    project's choice), or None (GREEN or unrated: nothing to protect)."""
    if not is_down(rating):
        return None
    return quality_choice(choice) or DEFAULT_QUALITY_CHOICE


def quality_reason(rating: str, action: str | None) -> str | None:
    """The words a broadcast's page shows (status_reason) for what the quality does to it."""
    if action == "slow":
        return f"slowed: the number's quality is {rating} ({RATING_WORDS.get(rating, rating)}); marketing goes at half the number's pace"
    if action == "pause":
        return f"paused: the number's quality is {rating} ({RATING_WORDS.get(rating, rating)}); resume it when the quality recovers"
    return None


SLOWED_PREFIX = "slowed: the number's quality"


def slot_cost(rating: str | None, choice: str | None, category: str | None) -> int:
    """How many of the number's send slots one message takes: SLOW_FACTOR for a marketing
    message on a number whose quality is down under `slow`, else 1."""
    if category == "MARKETING" and quality_action(rating, choice) == "slow":
        return SLOW_FACTOR
    return 1


def pauses_broadcast(rating: str | None, choice: str | None, category: str | None) -> bool:
    """Whether a broadcast of a template of `category` pauses on this number now."""
    return category == "MARKETING" and quality_action(rating, choice) == "pause"


# The business portfolio's messaging limit: unique users reached outside service windows per
# moving 24 hours, shared by every number of the portfolio (None: unlimited or not set yet).
TIERS: dict[str, int | None] = {
    "TIER_50": 50, "TIER_250": 250, "TIER_1K": 1000, "TIER_2K": 2000, "TIER_10K": 10_000, "TIER_100K": 100_000,
    "TIER_UNLIMITED": None, "TIER_NOT_SET": None,
}


def limit_of(tier: str | None) -> int | None:
    """Users per 24 hours of a tier (None: unlimited, not set or unknown)."""
    return TIERS.get(tier or "")


def limit_warning(will_send: int, daily_limit: int | None, used: int = 0) -> str | None:
    """The estimate's warning when a broadcast would pass the portfolio's daily limit (`used`:
    users the project already reached in the last 24 hours)."""
    if daily_limit is None or will_send <= 0:
        return None
    room = max(0, daily_limit - used)
    if will_send <= room:
        return None
    return (f"It would pass the business portfolio's daily messaging limit: {will_send} contacts, but Meta allows "
            f"{daily_limit} per 24 hours for all the portfolio's numbers ({used} reached already, room for {room}); "
            f"Meta does not deliver the rest until the window frees up.")
