"""The sign-in throttle without I/O or sleeping: the clock is a number the test passes."""

from __future__ import annotations

from wacast.dashboard.throttle import (
    FIRST_WAIT,
    FORGET_AFTER,
    FREE_FAILURES,
    FREE_FAILURES_PER_ADDRESS,
    FREE_FAILURES_PER_EMAIL,
    MAX_WAIT,
    SignInThrottle,
    wait_words,
)

OWNER, HOME, ATTACKER = "owner@acme.test", "198.51.100.1", "203.0.113.66"


def fail(throttle: SignInThrottle, email: str, address: str, times: int, now: float = 0.0) -> None:
    for _ in range(times):
        throttle.failed(email, address, now)


def test_failures_from_one_address_do_not_throttle_the_owner_elsewhere() -> None:
    throttle = SignInThrottle()
    fail(throttle, OWNER, ATTACKER, FREE_FAILURES + 10)
    assert throttle.retry_after(OWNER, ATTACKER, 1.0) > 0
    assert throttle.retry_after(OWNER, HOME, 1.0) == 0


def test_ones_own_failures_wait_a_doubling_time_up_to_the_cap_then_are_forgotten() -> None:
    throttle = SignInThrottle()
    fail(throttle, OWNER, HOME, FREE_FAILURES - 1)
    assert throttle.retry_after(OWNER, HOME, 0.0) == 0
    throttle.failed(OWNER, HOME, 0.0)
    assert throttle.retry_after(OWNER, HOME, 0.0) == FIRST_WAIT
    assert throttle.retry_after(OWNER, HOME, 10.5) == FIRST_WAIT - 10  # whole seconds, rounded up
    throttle.failed(OWNER, HOME, 0.0)
    assert throttle.retry_after(OWNER, HOME, 0.0) == 2 * FIRST_WAIT
    fail(throttle, OWNER, HOME, 20)
    assert throttle.retry_after(OWNER, HOME, 0.0) == MAX_WAIT
    assert throttle.retry_after(OWNER, HOME, FORGET_AFTER + 1) == 0
    assert throttle.failures(OWNER, HOME) == 0


def test_a_success_clears_the_pair_but_not_the_ceilings() -> None:
    throttle = SignInThrottle()
    fail(throttle, OWNER, HOME, FREE_FAILURES)
    throttle.succeeded(OWNER, HOME, 1.0)
    assert throttle.retry_after(OWNER, HOME, 1.0) == 0 and throttle.failures(OWNER, HOME) == 0
    # Spraying from one address: signing into one's own account there resets nothing.
    for n in range(FREE_FAILURES_PER_ADDRESS):
        throttle.failed(f"user{n}@acme.test", ATTACKER, 2.0)
    throttle.succeeded("me@attacker.test", ATTACKER, 3.0)
    assert throttle.retry_after("someone-else@acme.test", ATTACKER, 3.0) > 0


def test_many_addresses_reach_the_email_ceiling_but_not_where_the_owner_signed_in() -> None:
    throttle = SignInThrottle()
    throttle.succeeded(OWNER, HOME, 0.0)
    for n in range(FREE_FAILURES_PER_EMAIL):
        throttle.failed(OWNER, f"10.0.{n // 250}.{n % 250}", 1.0)
    assert throttle.retry_after(OWNER, "192.0.2.50", 1.0) == FIRST_WAIT  # a new place waits
    assert throttle.retry_after(OWNER, HOME, 1.0) == 0  # the owner's usual place does not
    assert throttle.retry_after("other@acme.test", "192.0.2.50", 1.0) == 0


def test_memory_stays_bounded_under_a_spray_of_emails_and_addresses() -> None:
    throttle = SignInThrottle(max_records=1000, max_known=100)
    for n in range(20_000):
        throttle.failed(f"user{n}@spray.test", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", float(n))
        throttle.succeeded(f"user{n}@spray.test", "192.0.2.1", float(n))
    assert len(throttle) <= 1100
    # The most recent counts are the ones kept: a sprayer's own address stays counted.
    fail(throttle, OWNER, ATTACKER, FREE_FAILURES_PER_ADDRESS, 20_000.0)
    for n in range(300):
        throttle.failed(f"more{n}@spray.test", ATTACKER, 20_000.0)
    assert throttle.retry_after("fresh@acme.test", ATTACKER, 20_000.0) > 0


def test_wait_words() -> None:
    assert wait_words(1) == "1 second" and wait_words(30) == "30 seconds" and wait_words(89) == "89 seconds"
    assert wait_words(90) == "2 minutes" and wait_words(900) == "15 minutes"
