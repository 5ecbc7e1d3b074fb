"""Slowing down password guessing: after repeated failed sign-ins for one email (or from one
address), further attempts are refused for a while that doubles with each failure.

Kept in the server process: a restart forgets it, and each server of several counts on its
own. That still turns an online guessing attack from thousands of tries a minute into a few.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

FREE_FAILURES = 5  # per email before the slow-down starts
FREE_FAILURES_PER_ADDRESS = 20
FIRST_WAIT = 30.0  # seconds after the first failure beyond the free ones, doubling after
MAX_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0


class SignInThrottle:
    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}

    def _wait(self, key: str, free: int, now: float) -> float:
        record = self._records.get(key)
        if record is None:
            return 0.0
        if now - record.last > FORGET_AFTER:
            del self._records[key]
            return 0.0
        if record.failures < free:
            return 0.0
        wait = min(FIRST_WAIT * 2 ** (record.failures - free), MAX_WAIT)
        return max(0.0, record.last + wait - now)

    def retry_after(self, email: str, address: str, now: float | None = None) -> int:
        """Seconds to wait before this email may try again from this address (0: go ahead)."""
        now = time.monotonic() if now is None else now
        wait = max(self._wait("e:" + email, FREE_FAILURES, now), self._wait("a:" + address, FREE_FAILURES_PER_ADDRESS, now))
        return int(wait) + (1 if wait % 1 else 0)

    def failed(self, email: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in ("e:" + email, "a:" + address):
            record = self._records.setdefault(key, _Record())
            record.failures += 1
            record.last = now
        if len(self._records) > 100_000:  # never grow without bound under a spray attack
            cutoff = now - FORGET_AFTER
            self._records = {k: r for k, r in self._records.items() if r.last >= cutoff}

    def failures(self, email: str) -> int:
        """Failed sign-ins for this email still remembered (each one slows the answer a little)."""
        record = self._records.get("e:" + email)
        return record.failures if record else 0

    def succeeded(self, email: str) -> None:
        self._records.pop("e:" + email, None)
