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
    assert pacer.backlog_seconds() == pytest.approx(3 * (1 + Pacer.MARGIN) / 10)


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


def _send(pacer: Pacer, clock: Clock, latency: float) -> None:
    started = clock.now
    assert pacer.admit(started) == 0.0
    pacer.answered(started, started + latency)


def _warmed(clock: Clock, latency: float, sends: int) -> Pacer:
    """A pacer at 10/s that has seen `sends` answers after `latency` (its base latency)."""
    pacer = Pacer(10, clock)
    for _ in range(sends):
        _send(pacer, clock, latency)
        clock.now += 0.2
    return pacer


def test_a_steady_path_keeps_the_margin_at_its_floor() -> None:
    clock = Clock()
    pacer = Pacer(10, clock)
    for _ in range(20):
        _send(pacer, clock, 0.150 + 0.01 * (clock.now % 2))  # 150-160 ms: noise below the margin
        clock.now += 0.2
    assert pacer.margin() == pytest.approx(Pacer.MARGIN)
    assert pacer.interval == pytest.approx((1 + Pacer.MARGIN) / 10)


def test_a_late_answer_widens_the_window_by_its_excess_then_decays() -> None:
    clock = Clock()
    pacer = _warmed(clock, 0.010, 5)
    started = clock.now
    pacer.admit(started)
    pacer.answered(started, started + 0.310)  # 300 ms later than usual: it may have arrived bunched with later sends
    clock.now = started + 0.310
    assert pacer.margin() == pytest.approx(0.300)
    assert pacer.window() == pytest.approx(Pacer.WINDOW + 0.300)
    assert pacer.interval == pytest.approx(1.300 / 10), "the spacing follows the window"
    clock.now += Pacer.WINDOW + 0.300
    assert pacer.margin() == pytest.approx(0.300), "in full while a send that late may still be in Meta's count"
    clock.now += Pacer.JITTER_HALF_LIFE
    assert pacer.margin() == pytest.approx(0.150), "then half as much a half-life later"
    clock.now += 5 * Pacer.JITTER_HALF_LIFE
    assert pacer.margin() == pytest.approx(Pacer.MARGIN), "back to the floor"


def test_a_send_in_flight_far_beyond_the_usual_latency_widens_the_window_while_it_flies() -> None:
    clock = Clock()
    pacer = _warmed(clock, 0.020, 3)
    started = clock.now
    assert pacer.admit(started) == 0.0
    clock.now += 0.220
    assert pacer.margin() == pytest.approx(0.200), "200 ms beyond the base latency, not yet answered"
    pacer.not_sent(started)  # (or answered): no longer in flight
    assert pacer.margin() == pytest.approx(Pacer.MARGIN)


def test_the_widened_window_holds_back_the_next_sends() -> None:
    pacer = Pacer(3, Clock())
    now = 0.0
    assert [pacer.admit(now) for _ in range(3)] == [0.0] * 3
    pacer.answered(now, now + 0.01)
    pacer.answered(now, now + 0.01)
    pacer.answered(now, now + 0.51)  # the third answered 500 ms later than the others: jitter 0.5
    wait = pacer.admit(now + 0.6)
    assert wait == pytest.approx(Pacer.WINDOW + 0.5 - 0.6), "the first start counts for the window and the jitter"
    assert pacer.margin(now + 0.6) <= Pacer.MAX_JITTER


def test_the_margin_never_grows_beyond_its_ceiling() -> None:
    clock = Clock()
    pacer = Pacer(10, clock)
    _send(pacer, clock, 0.010)
    started = clock.now
    pacer.admit(started)
    pacer.answered(started, started + 5.0)  # a send that hung for 5 s
    clock.now = started + 5.0
    assert pacer.margin() == Pacer.MAX_JITTER
