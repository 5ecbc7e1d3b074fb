"""Slowing down password guessing without letting a stranger lock the owner out (pure: the
clock is a number the caller passes; tests/unit/test_sign_in_throttle.py).

Three counts of recent failed sign-ins. Each has a number of free failures; beyond them an
attempt waits a time that doubles with each further failure (30 s, 1 min, ... up to 15 min,
counted from the last failure):

- (email, address): 5 free. What someone mistyping their own password meets, with a message
  saying when to try again. Failures elsewhere never count here.
- address, whatever the email: 20 free. One machine spraying many accounts.
- email, whatever the address: 50 free, the ceiling against many machines (a botnet) trying
  one account. It does not apply from an address where that email signed in before, so an
  attacker elsewhere cannot lock the owner out of the places they use.

Kept in the server process's memory: a restart forgets it, and each server of several counts
on its own. That still turns an online guessing attack from thousands of tries a minute into a
few an hour. Memory is bounded: at most MAX_RECORDS counts and MAX_KNOWN known places, the
least recently used forgotten first, so a spray of emails or addresses cannot grow it.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

FREE_FAILURES = 5  # per (email, address)
FREE_FAILURES_PER_ADDRESS = 20  # per address, all emails
FREE_FAILURES_PER_EMAIL = 50  # per email, all addresses it never signed in from
FIRST_WAIT = 30.0  # seconds after the first failure beyond the free ones, doubling after
MAX_WAIT = 15 * 60.0
FORGET_AFTER = 60 * 60.0  # a count is forgotten an hour after its last failure
KNOWN_FOR = 30 * 24 * 3600.0  # an address where an email signed in stays known for 30 days
MAX_RECORDS = 50_000
MAX_KNOWN = 20_000


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0


def wait_words(seconds: int) -> str:
    """'45 seconds', '2 minutes': when to try again, for people."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


class SignInThrottle:
    def __init__(self, *, free_per_email: int = FREE_FAILURES_PER_EMAIL, max_records: int = MAX_RECORDS, max_known: int = MAX_KNOWN) -> None:
        self._records: OrderedDict[tuple[str, ...], _Record] = OrderedDict()
        self._known: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.free_per_email = free_per_email
        self.max_records = max_records
        self.max_known = max_known

    def __len__(self) -> int:
        return len(self._records) + len(self._known)

    def _keys(self, email: str, address: str) -> list[tuple[tuple[str, ...], int]]:
        keys: list[tuple[tuple[str, ...], int]] = [(("pair", email, address), FREE_FAILURES), (("address", address), FREE_FAILURES_PER_ADDRESS)]
        return keys + [(("email", email), self.free_per_email)]

    def _is_known(self, email: str, address: str, now: float) -> bool:
        seen = self._known.get((email, address))
        if seen is None:
            return False
        if now - seen > KNOWN_FOR:
            del self._known[(email, address)]
            return False
        return True

    def _wait(self, key: tuple[str, ...], free: int, now: float) -> float:
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
        """Whole seconds to wait before this email may try again from this address (0: go ahead)."""
        now = time.monotonic() if now is None else now
        known = self._is_known(email, address, now)
        wait = max(self._wait(key, free, now) for key, free in self._keys(email, address) if not (known and key[0] == "email"))
        return math.ceil(wait)

    def failed(self, email: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key, _ in self._keys(email, address):
            record = self._records.get(key)
            if record is None or now - record.last > FORGET_AFTER:
                record = self._records[key] = _Record()
            record.failures += 1
            record.last = now
            self._records.move_to_end(key)
        while len(self._records) > self.max_records:  # the least recently failed go first
            self._records.popitem(last=False)

    def failures(self, email: str, address: str) -> int:
        """Failed sign-ins for this email from this address still remembered (each one slows
        the answer a little)."""
        record = self._records.get(("pair", email, address))
        return record.failures if record else 0

    def succeeded(self, email: str, address: str, now: float | None = None) -> None:
        """The right password: this pair starts afresh and the address becomes known for the
        email. The address's and the email's counts stay (signing into one's own account must
        not reset a spray, and the owner's sign-in must not reset a botnet's count)."""
        now = time.monotonic() if now is None else now
        self._records.pop(("pair", email, address), None)
        self._known[(email, address)] = now
        self._known.move_to_end((email, address))
        while len(self._known) > self.max_known:
            self._known.popitem(last=False)
