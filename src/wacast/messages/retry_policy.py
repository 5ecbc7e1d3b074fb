"""What to do with a claimed message: before the send (time-to-live, template usable?) and after
Meta refused it (retry, defer, hold, halt or fail). Pure: the dispatcher carries the decision out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from wacast.meta.errors import MARKETING_LIMIT_HELD, ErrorClass, classify
from wacast.meta.types import ProviderError
from wacast.templates import statuses

# Meta's default template time-to-live per category (templates/time-to-live).
DEFAULT_TTL_SECONDS = {"AUTHENTICATION": 600, "UTILITY": 30 * 86400, "MARKETING": 30 * 86400}

DEFER_SECONDS = 24 * 3600.0  # Meta's per-user marketing limit: try again the next day
# ... plus a spread of up to this many seconds, the same for one message and deferral (so
# that a broadcast's deferred messages do not all come back in the same minute).
DEFER_SPREAD_SECONDS = 4 * 3600.0
HOLD_TEMPLATE_SECONDS = 300.0  # a template Meta paused: look again in 5 minutes
HALT_SENDER_SECONDS = 60.0  # a refused sender: the message waits for the halt to be cleared
HELD_TEMPLATE_SECONDS = 60.0  # a template not usable before the send (paused, in review)
# Transient errors: back off and try again. Pair rate and the marketing limit are waits, not
# failures of the send, but they count as attempts all the same.
RETRIED = (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer)


class Action(StrEnum):
    retry = "retry"  # back in the queue after `delay`; the attempt counts
    defer = "defer"  # back in the queue for a day and some (per-user marketing limit), held with `reason`; the attempt counts
    hold = "hold"  # held after `delay` with `reason`; the attempt is given back
    halt = "halt"  # the sender is halted with `reason`, the message held; the attempt is given back
    fail = "fail"  # final, with the error `code`, `title` and `details`


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0  # seconds until the message is due again (not for fail)
    reason: str | None = None  # held_reason (hold, halt)
    code: int | None = None  # the error recorded (fail)
    title: str = ""
    details: str | None = None
    template_status: str | None = None  # a template to mark as Meta reported it (hold after the send)
    block_recipient: bool = False  # no send to this recipient for `delay` (pair rate)
    opt_out: bool = False  # the contact stopped marketing messages (fail)


def ttl_seconds(template: Any) -> int | None:
    """A template's time-to-live: its own, else Meta's default for its category."""
    if template is None:
        return None
    ttl = getattr(template, "message_send_ttl_seconds", None)
    if ttl is None or ttl <= 0:  # -1 is Meta's "the default" (30 days)
        return DEFAULT_TTL_SECONDS.get(str(template.category).upper(), 30 * 86400)
    return ttl


def before_send(template: Any, created_at: datetime, now: datetime) -> Decision | None:
    """None when the message may be sent; else why not (too old, template held or dead)."""
    ttl = ttl_seconds(template)
    if ttl is not None and created_at + timedelta(seconds=ttl) < now:
        # Meta drops what is not delivered within the template's time-to-live; so do we.
        return Decision(
            Action.fail, title=f"Not sent within the template's time-to-live ({ttl} s)",
            details=f"template {template.name} ({template.category}) allows {ttl} seconds between the request and delivery",
        )
    if template is not None and template.status in statuses.HELD:
        return Decision(Action.hold, HELD_TEMPLATE_SECONDS, reason=f"template {template.name} is {template.status}")
    if template is not None and template.status in statuses.DEAD:
        return Decision(Action.fail, code=132001, title=f"Template {template.name} is {template.status}",
                        details="the template can no longer be sent")
    return None


def defer_spread(message_key: str, deferral: int) -> float:
    """Seconds (0 to DEFER_SPREAD_SECONDS) added to the day a message waits after its
    `deferral`-th 131049: deterministic per message and deferral, spread evenly over messages."""
    digest = hashlib.sha256(f"{message_key}:{deferral}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * DEFER_SPREAD_SECONDS


def marketing_limit(deferrals: int, max_deferrals: int, message_key: str, error: ProviderError) -> Decision:
    """Meta's per-user marketing limit (131049) refused the send; `deferrals` is how many times
    it was deferred before. Deferred again (24 h plus the message's spread), up to
    `max_deferrals` times; then failed, saying why in words."""
    if deferrals < max_deferrals:
        return Decision(Action.defer, DEFER_SECONDS + defer_spread(message_key, deferrals + 1), reason=MARKETING_LIMIT_HELD)
    tried = f"deferred {deferrals} time{'s' if deferrals != 1 else ''} by about a day" if deferrals else "not deferred (no deferrals allowed)"
    return Decision(
        Action.fail, code=error.code,
        title=f"Meta's per-user marketing limit kept refusing this message ({tried}, then given up)",
        details=("Meta holds marketing messages to a person who has received many lately (131049); wacast gave up after "
                 f"{max_deferrals} deferrals (WACAST_MARKETING_LIMIT_MAX_DEFERRALS). Send to this contact again later, "
                 "e.g. from the campaign's MARKETING_LIMITED audience." + (f" Meta: {error.details}" if error.details else "")),
    )


def after_error(
    error: ProviderError,
    attempts: int,
    *,
    max_attempts: int,
    retry_base_seconds: float,
    retry_max_seconds: float,
    jitter: float = 1.0,
    deferrals: int = 0,
    max_deferrals: int = 3,
    message_key: str = "",
) -> Decision:
    """Meta refused the send (or did not answer): what now.

    `attempts` counts this one; `jitter` (0.5 to 1.0, random in the dispatcher) spreads the
    backoff of transient errors so that retries do not come back all at once. `deferrals` is
    how many times Meta's marketing limit deferred this message already (at most
    `max_deferrals`); `message_key` (its id) picks its spread.
    """
    kind = classify(error.code, error.http_status)
    if kind == ErrorClass.defer and (attempts < max_attempts or deferrals >= max_deferrals):
        return marketing_limit(deferrals, max_deferrals, message_key, error)
    if kind in RETRIED and attempts < max_attempts:
        if kind == ErrorClass.recipient:
            # Meta: retry after 4^X seconds; no send to this person until then.
            return Decision(Action.retry, 4.0 ** min(attempts - 1, 6), block_recipient=True)
        # Exponential backoff with jitter; Meta's Retry-After, when given, is a floor.
        wait = min(retry_base_seconds * 2.0 ** (attempts - 1), retry_max_seconds) * jitter
        if error.retry_after:
            wait = max(wait, error.retry_after)
        return Decision(Action.retry, wait)
    if kind == ErrorClass.hold_template:
        status = "PAUSED" if error.code == 132015 else "DISABLED"
        return Decision(Action.hold, HOLD_TEMPLATE_SECONDS, reason=f"template {status} by Meta ({error.code})", template_status=status)
    if kind == ErrorClass.halt_sender:
        return Decision(Action.halt, HALT_SENDER_SECONDS, reason=f"Meta refused the sender ({error.code}): {error.title}")
    title = error.title
    if kind in RETRIED:
        title = f"{title} (gave up after {attempts} attempts)"
    return Decision(Action.fail, code=error.code, title=title, details=error.details, opt_out=kind == ErrorClass.opt_out)
