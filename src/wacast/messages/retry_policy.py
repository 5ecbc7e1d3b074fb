"""What to do with a claimed message: before the send (time-to-live, template usable?) and after
Meta refused it (retry, defer, hold, halt or fail). Pure: the dispatcher carries the decision out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from wacast.meta.errors import ErrorClass, classify
from wacast.meta.types import ProviderError
from wacast.templates import statuses

# Meta's default template time-to-live per category (templates/time-to-live).
DEFAULT_TTL_SECONDS = {"AUTHENTICATION": 600, "UTILITY": 30 * 86400, "MARKETING": 30 * 86400}

DEFER_SECONDS = 24 * 3600.0  # Meta's per-user marketing limit: try again the next day
HOLD_TEMPLATE_SECONDS = 300.0  # a template Meta paused: look again in 5 minutes
HALT_SENDER_SECONDS = 60.0  # a refused sender: the message waits for the halt to be cleared
HELD_TEMPLATE_SECONDS = 60.0  # a template not usable before the send (paused, in review)
# Transient errors: back off and try again. Pair rate and the marketing limit are waits, not
# failures of the send, but they count as attempts all the same.
RETRIED = (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer)


class Action(StrEnum):
    retry = "retry"  # back in the queue after `delay`; the attempt counts
    defer = "defer"  # back in the queue for a day (per-user marketing limit); the attempt counts
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


def after_error(
    error: ProviderError,
    attempts: int,
    *,
    max_attempts: int,
    retry_base_seconds: float,
    retry_max_seconds: float,
    jitter: float = 1.0,
) -> Decision:
    """Meta refused the send (or did not answer): what now.

    `attempts` counts this one; `jitter` (0.5 to 1.0, random in the dispatcher) spreads the
    backoff of transient errors so that retries do not come back all at once.
    """
    kind = classify(error.code, error.http_status)
    if kind in RETRIED and attempts < max_attempts:
        if kind == ErrorClass.defer:
            return Decision(Action.defer, DEFER_SECONDS)
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
