"""The retry policy without I/O: what each of Meta's error classes (meta/errors.py) leads to,
and what is decided before a send (time-to-live, template status)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from wacast.messages.retry_policy import (
    DEFER_SECONDS,
    DEFER_SPREAD_SECONDS,
    HALT_SENDER_SECONDS,
    HELD_TEMPLATE_SECONDS,
    HOLD_TEMPLATE_SECONDS,
    Action,
    after_error,
    before_send,
    defer_spread,
    ttl_seconds,
)
from wacast.meta.errors import HALT, HOLD_TEMPLATE, MARKETING_LIMIT_HELD, MEANINGS, RETRY, ErrorClass, classify, meaning
from wacast.meta.types import ProviderError

LIMITS = {"max_attempts": 8, "retry_base_seconds": 1.0, "retry_max_seconds": 900.0}
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def decide(code: int | None, attempts: int = 1, *, http_status: int | None = None, retry_after: float | None = None, jitter: float = 1.0):
    error = ProviderError(code, f"error {code}", "details", http_status=http_status, retry_after=retry_after)
    return after_error(error, attempts, jitter=jitter, **LIMITS)


# One or more codes of every class, and what the dispatcher does with the first attempt's refusal.
CASES = [
    *[(code, Action.retry) for code in sorted(RETRY)],
    (131056, Action.retry),  # pair rate
    (131049, Action.defer),  # per-user marketing limit
    *[(code, Action.hold) for code in sorted(HOLD_TEMPLATE)],
    *[(code, Action.halt) for code in sorted(HALT)],
    (250, Action.halt),  # 200-299: permissions
    (131050, Action.fail),  # opted out of marketing
    (131026, Action.fail),
    (132000, Action.fail),
    (131047, Action.fail),
]


@pytest.mark.parametrize(("code", "action"), CASES)
def test_each_error_class_has_its_action(code: int, action: Action) -> None:
    assert decide(code).action is action


def test_every_error_class_is_covered() -> None:
    assert {classify(code) for code, _ in CASES} == set(ErrorClass)


@pytest.mark.parametrize(("http_status", "action"), [(None, Action.retry), (500, Action.retry), (503, Action.retry),
                                                     (429, Action.retry), (401, Action.halt), (400, Action.fail)])
def test_no_meta_envelope_goes_by_the_http_status(http_status: int | None, action: Action) -> None:
    assert decide(None, http_status=http_status).action is action


def test_transient_errors_back_off_exponentially_with_jitter_up_to_the_max() -> None:
    assert decide(131000, 1).delay == 1.0
    assert decide(131000, 4).delay == 8.0
    assert decide(131000, 4, jitter=0.5).delay == 4.0
    assert after_error(ProviderError(131000, "x"), 7, max_attempts=20, retry_base_seconds=100, retry_max_seconds=900).delay == 900


def test_retry_after_is_a_floor() -> None:
    assert decide(130429, retry_after=30).delay == 30
    assert decide(130429, 8 - 1, retry_after=3).delay == 64, "a longer backoff wins over a short Retry-After"


def test_pair_rate_waits_4_to_the_x_and_blocks_the_recipient() -> None:
    first, third = decide(131056, 1), decide(131056, 3)
    assert (first.delay, third.delay) == (1.0, 16.0)
    assert first.block_recipient and not decide(131000).block_recipient


def test_marketing_limit_defers_a_day_and_some() -> None:
    decision = decide(131049)
    assert DEFER_SECONDS <= decision.delay < DEFER_SECONDS + DEFER_SPREAD_SECONDS
    assert decision.reason == MARKETING_LIMIT_HELD and "held by Meta's marketing limit" in decision.reason


def limited(deferrals: int, key: str = "m-1", max_deferrals: int = 3, attempts: int = 1):
    error = ProviderError(131049, "This message was not delivered to maintain healthy ecosystem engagement.", "details",
                          http_status=400)
    return after_error(error, attempts, deferrals=deferrals, max_deferrals=max_deferrals, message_key=key, **LIMITS)


def test_marketing_limit_is_deferred_a_bounded_number_of_times_then_fails_in_words() -> None:
    assert [limited(n).action for n in range(5)] == [Action.defer, Action.defer, Action.defer, Action.fail, Action.fail]
    failed = limited(3)
    assert failed.code == 131049
    assert failed.title == "Meta's per-user marketing limit kept refusing this message (deferred 3 times by about a day, then given up)"
    assert "MARKETING_LIMITED" in failed.details and "WACAST_MARKETING_LIMIT_MAX_DEFERRALS" in failed.details
    assert failed.details.endswith("Meta: details")
    once = limited(1, max_deferrals=1)
    assert once.action is Action.fail and "deferred 1 time by" in once.title
    never = limited(0, max_deferrals=0)
    assert never.action is Action.fail and "no deferrals allowed" in never.title
    # Deferrals used up: it fails even when attempts remain, and with attempts used up too.
    assert limited(3, attempts=LIMITS["max_attempts"]).title == failed.title


def test_marketing_limit_spread_is_deterministic_per_message_and_deferral() -> None:
    assert limited(0, "m-1").delay == limited(0, "m-1").delay == DEFER_SECONDS + defer_spread("m-1", 1)
    assert limited(1, "m-1").delay == DEFER_SECONDS + defer_spread("m-1", 2) != limited(0, "m-1").delay
    spreads = [defer_spread(f"message-{i}", 1) for i in range(2000)]
    assert all(0 <= s < DEFER_SPREAD_SECONDS for s in spreads)
    # A broadcast's deferred messages come back over hours, not in one storm: every hour of the
    # spread gets a fair share (a quarter each, give or take).
    quarters = [sum(1 for s in spreads if q * DEFER_SPREAD_SECONDS / 4 <= s < (q + 1) * DEFER_SPREAD_SECONDS / 4) for q in range(4)]
    assert all(400 <= n <= 600 for n in quarters), quarters
    assert DEFER_SPREAD_SECONDS >= 2 * 3600


def test_131047_and_131049_are_explained_in_words() -> None:
    assert MEANINGS[131047][0].startswith("Outside the 24-hour window: only a template can be sent")
    assert meaning(131047) == MEANINGS[131047]
    assert "a few times" in meaning(131049)[1] and "MARKETING_LIMITED" in meaning(131049)[1]


@pytest.mark.parametrize("code", [131000, 131056, 131049])
def test_retried_errors_give_up_after_the_last_attempt(code: int) -> None:
    decision = decide(code, LIMITS["max_attempts"])
    assert decision.action is Action.fail
    assert decision.title == f"error {code} (gave up after 8 attempts)"
    assert (decision.code, decision.details) == (code, "details")


def test_paused_and_disabled_templates_hold_their_sends() -> None:
    paused, disabled = decide(132015), decide(132016)
    assert (paused.template_status, disabled.template_status) == ("PAUSED", "DISABLED")
    assert paused.reason == "template PAUSED by Meta (132015)" and paused.delay == HOLD_TEMPLATE_SECONDS


def test_a_refused_sender_halts_with_the_reason() -> None:
    decision = decide(190)
    assert decision.reason == "Meta refused the sender (190): error 190" and decision.delay == HALT_SENDER_SECONDS


def test_opt_out_fails_and_marks_the_contact() -> None:
    assert decide(131050).opt_out and not decide(131026).opt_out
    assert decide(131026).title == "error 131026", "a permanent error fails at once, without 'gave up'"


@dataclass
class Template:
    name: str = "order_update"
    category: str = "UTILITY"
    status: str = "APPROVED"
    message_send_ttl_seconds: int | None = None


def test_time_to_live_defaults_by_category() -> None:
    assert ttl_seconds(None) is None
    assert ttl_seconds(Template(category="AUTHENTICATION")) == 600
    assert ttl_seconds(Template(category="MARKETING", message_send_ttl_seconds=-1)) == 30 * 86400
    assert ttl_seconds(Template(message_send_ttl_seconds=3600)) == 3600


def test_before_send() -> None:
    assert before_send(Template(), NOW, NOW) is None
    assert before_send(None, NOW - timedelta(days=90), NOW) is None, "no template, no time-to-live"
    expired = before_send(Template(category="AUTHENTICATION"), NOW - timedelta(seconds=601), NOW)
    assert expired.action is Action.fail and expired.code is None and "time-to-live (600 s)" in expired.title
    held = before_send(Template(status="PAUSED"), NOW, NOW)
    assert held.action is Action.hold and held.delay == HELD_TEMPLATE_SECONDS and held.reason == "template order_update is PAUSED"
    dead = before_send(Template(status="REJECTED"), NOW, NOW)
    assert dead.action is Action.fail and dead.code == 132001
