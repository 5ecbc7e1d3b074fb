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

    Sends are spaced at (1 + MARGIN) / rate seconds, and a sliding window is the hard
    guarantee: a send starts only when fewer than `rate` sends started in the last
    1 + MARGIN seconds. The margin absorbs network jitter, so that Meta, which counts arrivals,
    never sees more than `rate` in any one second. Only one worker serves a number at a time
    (sender leases), so this is exact across workers.
    """

    WINDOW = 1.0
    MARGIN = 0.10
    SLOWDOWN_SECONDS = 10.0

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

    @property
    def slowed(self) -> bool:
        return self.clock() < self.slowdown_until

    @property
    def cap(self) -> int:
        if self.scale < 1.0 and not self.slowed:
            self.scale = 1.0  # 10 s without a 130429: back to the configured cap
        return max(1, int(self.rate * self.scale))

    @property
    def interval(self) -> float:
        return (1.0 + self.MARGIN) / max(self.cap, 0.1)

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
        """0 and the send is counted if it may start now; else the seconds to wait."""
        window = self.WINDOW + self.MARGIN
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
            return 0.0
        if self._slow_start and len(self.starts) >= cap:
            return max(0.001, min(self._warm_until - now, self.starts[len(self.starts) - cap] + window - now))
        return max(0.001, self.starts[len(self.starts) - cap] + window - now)

    def backlog_seconds(self) -> float:
        return max(0.0, self.next_slot - self.clock())

    def quiet_after(self) -> float:
        """Seconds until every reserved slot has passed and left the window (lease hand-over)."""
        return self.backlog_seconds() + self.WINDOW + self.MARGIN

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
