"""Pacing: how fast one sender number may send, and how often one recipient may be written to.

Pure: no I/O, and the clock is passed in (`time.monotonic` by default), so a test can drive it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

PAIR_INTERVAL = 6.0  # Meta: one message every 6 s to the same user...
PAIR_BURST = 3  # ...with a small burst allowed.

Clock = Callable[[], float]


class Pacer:
    """The throughput cap of one sender number.

    Sends are spaced at window / rate seconds, and a sliding window is the hard guarantee: a
    send starts only when fewer than `rate` sends started within the last window. The window
    is one second plus a margin for the jitter between a send's start and its arrival, so
    that Meta, which counts arrivals, never sees more than `rate` in any one second; the
    margin is also what the number gives up (it sends at rate / window).

    The margin is at least MARGIN (4 %: the number keeps 96 % of its cap; the first choice,
    10 %, kept 91 %), and it grows with the jitter the sends themselves show: a send answered
    later than the number's usual (base) latency may have arrived that much later than it
    started, bunched with later sends (a process not scheduled between its start and its
    write, a stalled path, Meta's front end queueing). The excess of the latest answers, and
    of the send in flight the longest, widens the window: in full for as long as a send that
    late can still be in Meta's count, then decaying (half-life JITTER_HALF_LIFE); a steady
    path costs nothing beyond MARGIN. Only one worker serves a number at a time (sender
    leases), so this is exact across workers.
    """

    WINDOW = 1.0
    MARGIN = 0.04
    SLOWDOWN_SECONDS = 10.0
    JITTER_HALF_LIFE = 1.0  # seconds for a seen jitter to count half as much
    MAX_JITTER = 0.5  # the widest the margin grows (a number keeps at least two thirds of its cap)
    BASE_SECONDS = 10.0  # the base latency is the lowest of the last 10-20 s (so it follows a path that got slower)

    def __init__(self, rate: float, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.next_slot = 0.0
        self.slowdown_until = 0.0
        self.last_cut = 0.0
        self.scale = 1.0
        self.starts: deque[float] = deque()
        self._slow_start = False
        self._warm_until: float | None = None
        self._flying: deque[float] = deque()  # starts of the sends not yet answered, in order
        self._landed: dict[float, int] = {}  # answered starts still queued in _flying
        self._base = math.inf  # lowest latency of the current and the previous period
        self._base_now = math.inf
        self._base_period_end = 0.0
        self._jitter = 0.0
        self._jitter_at = 0.0

    @property
    def slowed(self) -> bool:
        return self.clock() < self.slowdown_until

    @property
    def cap(self) -> int:
        if self.scale < 1.0 and not self.slowed:
            self.scale = 1.0  # 10 s without a 130429: back to the configured cap
        return max(1, int(self.rate * self.scale))

    def margin(self, now: float | None = None) -> float:
        """The window's margin now: MARGIN, or the jitter seen lately if that is more."""
        now = self.clock() if now is None else now
        jitter = self._seen_jitter(now)
        while self._flying and self._landed.get(self._flying[0]):
            self._take_landed(self._flying.popleft())
        if self._flying and self._base < math.inf:
            jitter = max(jitter, now - self._flying[0] - self._base)  # the oldest send still in flight
        return min(self.MAX_JITTER, max(self.MARGIN, jitter))

    def window(self, now: float | None = None) -> float:
        return self.WINDOW + self.margin(now)

    @property
    def interval(self) -> float:
        return self.window() / max(self.cap, 0.1)

    def answered(self, started: float, now: float) -> None:
        """The send started at `started` (as admitted) got its answer at `now`."""
        self._land(started)
        latency = now - started
        if now >= self._base_period_end:  # a new period: forget latencies older than two of them
            self._base, self._base_now = self._base_now, math.inf
            self._base_period_end = now + self.BASE_SECONDS
        self._base_now = min(self._base_now, latency)
        self._base = min(self._base, latency)
        excess = latency - self._base
        if excess > self.MARGIN and excess >= self._seen_jitter(now):
            self._jitter, self._jitter_at = excess, now

    def _seen_jitter(self, now: float) -> float:
        """The latest large excess latency: in full while a send that arrived that late can
        still be in Meta's one-second count (a window and the excess itself after its answer),
        then decaying."""
        if not self._jitter:
            return 0.0
        held = self.WINDOW + self._jitter
        age = now - self._jitter_at
        if age <= held:
            return self._jitter
        return self._jitter * 0.5 ** ((age - held) / self.JITTER_HALF_LIFE)

    def not_sent(self, started: float) -> None:
        """An admitted send that did not go out after all: no longer in flight."""
        self._land(started)

    def _land(self, started: float) -> None:
        """No longer in flight; dropped from `_flying` lazily, once it is the oldest (margin)."""
        self._landed[started] = self._landed.get(started, 0) + 1

    def _take_landed(self, started: float) -> None:
        left = self._landed[started] - 1
        if left:
            self._landed[started] = left
        else:
            del self._landed[started]

    def slow_down(self, seconds: float = SLOWDOWN_SECONDS) -> None:
        """Meta answered 130429 (throughput reached): halve the pace, at most once a second
        (a burst of rejections is one signal), and keep it down while they continue."""
        now = self.clock()
        if now - self.last_cut >= 1.0:
            self.scale = max(self.scale * 0.5, 1.0 / max(self.rate, 1.0))
            self.last_cut = now
        self.slowdown_until = now + seconds

    def start_after_handover(self) -> None:
        """Another worker sent for this number until moments ago: start only once its last
        sends have left the one-second window."""
        self.next_slot = self.clock() + self.WINDOW + self.MARGIN

    def start_slowly(self) -> None:
        """A new lane: its first window admits half the cap. A process that starts serving a
        number opens its connections to Meta during its first sends, and the first requests
        then arrive together (seen: 4 at one instant), which the margin alone does not absorb."""
        self._slow_start = True

    def reserve(self) -> float:
        """The clock time at which the next send may start."""
        now = self.clock()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        return slot

    def admit(self, now: float) -> float:
        """0 and the send is counted (started at `now`, in flight) if it may start now; else
        the seconds to wait."""
        window = self.window(now)
        cap = self.cap
        if self._slow_start:
            if self._warm_until is None:
                self._warm_until = now + window  # the first window starts with the first send
            if now < self._warm_until:
                cap = max(1, cap // 2)
            else:
                self._slow_start = False
        while self.starts and self.starts[0] <= now - window:
            self.starts.popleft()
        if len(self.starts) < cap:
            self.starts.append(now)
            self._flying.append(now)
            return 0.0
        if self._slow_start and len(self.starts) >= cap:
            return max(0.001, min(self._warm_until - now, self.starts[len(self.starts) - cap] + window - now))
        return max(0.001, self.starts[len(self.starts) - cap] + window - now)

    def backlog_seconds(self) -> float:
        return max(0.0, self.next_slot - self.clock())

    def quiet_after(self) -> float:
        """Seconds until every reserved slot has passed and left the window (lease hand-over)."""
        return self.backlog_seconds() + self.window()

    def claim_ahead(self) -> int:
        """How many messages to claim now: about one second of sending, and nothing while half
        a second is already waiting (a claimed message must go out well within its lease)."""
        backlog = self.backlog_seconds()
        if backlog >= 0.5:
            return 0
        return math.ceil(self.cap * max(0.0, 1.0 - backlog))


class PairRate:
    """Meta's pair rate: one token bucket per (business number, recipient), PAIR_BURST
    messages, refilled one per PAIR_INTERVAL.

    Meta counts the pair of the number that sends and the person who receives, so the key is
    that pair: two projects (two business numbers) writing to the same person never wait for
    each other. Buckets that have refilled are dropped on a sweep, so a campaign to a million
    people does not keep a million entries."""

    SWEEP_ABOVE = 10_000  # entries before a sweep drops the refilled ones

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def wait_for(self, sender: str, destination: str) -> float:
        """0 and a token is taken if `sender` may write to `destination` now; else the seconds to wait."""
        now = self.clock()
        key = (sender, destination)
        tokens, last = self.buckets.get(key, (PAIR_BURST, now))
        tokens = min(PAIR_BURST, tokens + (now - last) / PAIR_INTERVAL)
        if tokens >= 1:
            self._put(key, tokens - 1, now)
            return 0.0
        self._put(key, tokens, now)
        return (1 - tokens) * PAIR_INTERVAL

    def block(self, sender: str, destination: str, seconds: float) -> None:
        """Meta said 131056 (pair rate hit): `sender` writes nothing to this person for `seconds`."""
        self._put((sender, destination), 1 - seconds / PAIR_INTERVAL, self.clock())

    def _put(self, key: tuple[str, str], tokens: float, now: float) -> None:
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > self.SWEEP_ABOVE:
            self.sweep(now)

    def sweep(self, now: float) -> None:
        """Forget the buckets that are full again (a fresh bucket would be the same)."""
        self.buckets = {
            key: (tokens, last) for key, (tokens, last) in self.buckets.items()
            if tokens + (now - last) / PAIR_INTERVAL < PAIR_BURST
        }
