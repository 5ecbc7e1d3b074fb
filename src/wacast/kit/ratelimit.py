"""Per-API-key rate limits: token buckets in this process's memory (no database round trip).

Each key gets `rate` requests per second with bursts of up to `burst`; a key can carry its
own figures (api_keys.rate_limit / rate_burst), else WACAST_API_RATE_LIMIT and
WACAST_API_RATE_BURST apply. A rate of 0 turns limiting off. With N server processes the
effective limit is up to N times the figure (each process counts its own requests).
"""

from __future__ import annotations

import math
import time
from typing import Any

from wacast.kit.errors import WacastError


class RateLimited(WacastError):
    status_code = 429


class TokenBuckets:
    def __init__(self, rate: float = 200.0, burst: int = 400, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[Any, list[float]] = {}  # key -> [tokens, last refill (monotonic)]

    def configure(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets.clear()

    def take(self, key: Any, rate: float | None = None, burst: int | None = None, now: float | None = None) -> float:
        """Spend one token of `key`'s bucket. Returns 0 when allowed, else seconds to wait."""
        rate = self.rate if rate is None else rate
        burst = self.burst if burst is None else burst
        if rate <= 0:
            return 0.0
        burst = max(1, burst or int(math.ceil(rate)))
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()
            bucket = self._buckets[key] = [float(burst), now]
        tokens = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate


limiter = TokenBuckets()


def check(identity: Any) -> None:
    """Raise 429 RATE_LIMITED (with Retry-After) when the identity's key is over its limit."""
    wait = limiter.take(identity.key_id, getattr(identity, "rate_limit", None), getattr(identity, "rate_burst", None))
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise RateLimited(
            "Too many requests for this API key; slow down and retry after the given seconds",
            "RATE_LIMITED",
            {"retry_after_seconds": retry_after, "limit_per_second": getattr(identity, "rate_limit", None) or limiter.rate},
            headers={"Retry-After": str(retry_after)},
        )
