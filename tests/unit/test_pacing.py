"""Pacing without I/O or sleeping: the clock is a number the test moves."""

from __future__ import annotations

import pytest

from wacast.messages.pacing import PAIR_BURST, PAIR_INTERVAL, Pacer, PairRate


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_sends_are_spaced_at_the_cap_with_a_margin() -> None:
    clock = Clock()
    pacer = Pacer(10, clock)
    slots = [pacer.reserve() for _ in range(3)]
    assert slots[0] == clock.now
    assert slots[1] - slots[0] == pytest.approx((1 + Pacer.MARGIN) / 10)
    assert pacer.backlog_seconds() == pytest.approx(3 * 0.11)


def test_the_window_admits_at_most_the_cap_per_window() -> None:
    pacer = Pacer(3, Clock())
    now = 0.0
    assert [pacer.admit(now) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = pacer.admit(now + 0.5)
    assert wait == pytest.approx(Pacer.WINDOW + Pacer.MARGIN - 0.5), "the fourth waits until the first left the window"
    assert pacer.admit(now + Pacer.WINDOW + Pacer.MARGIN) == 0.0


def test_a_new_lane_admits_half_the_cap_in_its_first_window() -> None:
    pacer = Pacer(10, Clock())
    pacer.start_slowly()
    now = 5.0
    assert [pacer.admit(now) for _ in range(5)] == [0.0] * 5
    wait = pacer.admit(now + 0.1)
    assert wait == pytest.approx(Pacer.WINDOW + Pacer.MARGIN - 0.1), "the sixth waits for the first window's end"
    later = now + Pacer.WINDOW + Pacer.MARGIN
    assert [pacer.admit(later) for _ in range(10)] == [0.0] * 10, "then the full cap"
    assert pacer.admit(later) > 0


def test_130429_halves_the_pace_once_a_second_and_recovers_after_quiet() -> None:
    clock = Clock()
    pacer = Pacer(40, clock)
    pacer.slow_down()
    assert pacer.slowed and pacer.cap == 20
    pacer.slow_down()  # the same burst of rejections: one signal
    assert pacer.cap == 20
    clock.now += 1.0
    pacer.slow_down()
    assert pacer.cap == 10
    clock.now += Pacer.SLOWDOWN_SECONDS + 0.1
    assert not pacer.slowed and pacer.cap == 40, "10 s without a 130429: back to the configured cap"


def test_slowing_down_never_goes_below_one_per_second() -> None:
    clock = Clock()
    pacer = Pacer(2, clock)
    for _ in range(5):
        pacer.slow_down()
        clock.now += 1.0
    assert pacer.cap == 1


def test_claims_about_a_second_ahead_and_nothing_while_backlogged() -> None:
    clock = Clock()
    pacer = Pacer(10, clock)
    assert pacer.claim_ahead() == 10
    for _ in range(3):
        pacer.reserve()
    assert pacer.claim_ahead() == 7  # 0.33 s already reserved
    for _ in range(2):
        pacer.reserve()
    assert pacer.claim_ahead() == 0, "half a second is waiting: claim nothing"


def test_a_taken_over_number_starts_after_the_window() -> None:
    clock = Clock()
    pacer = Pacer(10, clock)
    pacer.start_after_handover()
    assert pacer.reserve() == pytest.approx(clock.now + Pacer.WINDOW + Pacer.MARGIN)
    assert pacer.quiet_after() == pytest.approx(pacer.backlog_seconds() + Pacer.WINDOW + Pacer.MARGIN)


def test_pair_rate_allows_a_burst_then_one_per_interval() -> None:
    clock = Clock()
    pair = PairRate(clock)
    assert [pair.wait_for("n1", "+1") for _ in range(PAIR_BURST)] == [0.0] * PAIR_BURST
    assert pair.wait_for("n1", "+1") == pytest.approx(PAIR_INTERVAL)
    assert pair.wait_for("n1", "+2") == 0.0, "another recipient has its own bucket"
    clock.now += PAIR_INTERVAL
    assert pair.wait_for("n1", "+1") == 0.0
    assert pair.wait_for("n1", "+1") > 0


def test_pair_rate_is_per_business_number_and_recipient() -> None:
    clock = Clock()
    pair = PairRate(clock)
    for _ in range(12):
        pair.wait_for("sandbox:a", "+1")
    assert pair.wait_for("sandbox:a", "+1") > 0
    assert pair.wait_for("cloud:123", "+1") == 0.0, "another business number writing to the same person waits for nothing"


def test_pair_rate_block_after_131056() -> None:
    clock = Clock()
    pair = PairRate(clock)
    pair.block("n1", "+1", 16.0)
    assert pair.wait_for("n1", "+1") == pytest.approx(16.0)
    assert pair.wait_for("n2", "+1") == 0.0
    clock.now += 16.0
    assert pair.wait_for("n1", "+1") == 0.0


def test_pair_rate_forgets_refilled_buckets() -> None:
    clock = Clock()
    pair = PairRate(clock)
    for i in range(PairRate.SWEEP_ABOVE):
        pair.wait_for("n1", f"+{i}")
    pair.block("n1", "+blocked", 60.0)
    clock.now += PAIR_INTERVAL  # every one-token bucket is full again; the blocked one is not
    pair.wait_for("n1", "+new")
    assert len(pair.buckets) <= 2, "refilled buckets were dropped"
    assert pair.wait_for("n1", "+blocked") > 0, "a blocked recipient stays blocked"
