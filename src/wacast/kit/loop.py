"""The one shape of a background loop, and the one way to run it.

Every loop of wacast (dispatcher, broadcast engine, inbound event processing, customer
webhook sender, template sync, purges) is an object with:

- `name`: for logs and /readyz,
- `wake`: an asyncio.Event others set to make it run a round now (new work was committed),
- `poll_seconds`: how long it sleeps between idle rounds,
- `tick()`: one round; returns how much work it did (0: nothing to do, so sleep),
- `close()`: after the last round: finish or hand back what it holds (leases, claimed rows).

`run_loop` is the only stop/wake idiom: a busy loop goes again at once, an idle one sleeps
until woken, stopped or `poll_seconds`; a failed round is logged and retried after a pause.
The runtime (wacast/runtime.py) starts, watches and stops them, the same in `serve` and
`worker`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("wacast.loop")

FAILED_ROUND_PAUSE = 1.0


class Loop(Protocol):
    """A tick-based loop; `run_loop` drives it."""

    name: str
    wake: asyncio.Event
    poll_seconds: float

    async def tick(self) -> int: ...

    async def close(self) -> None: ...


class Runnable(Protocol):
    """What the runtime supervises: every loop offers `run(stop)` (a Loop's is `run_loop`)."""

    name: str
    wake: asyncio.Event

    async def run(self, stop: asyncio.Event) -> None: ...


async def sleep_until_woken(loop: Loop, stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if the loop is woken or stopped."""
    loop.wake.clear()
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(loop.wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_loop(loop: Loop, stop: asyncio.Event) -> None:
    """Run `loop` round after round until `stop` is set, then close it."""
    log.info("%s started", loop.name)
    try:
        while not stop.is_set():
            try:
                work = await loop.tick()
            except Exception:  # a database hiccup must not end the loop
                log.exception("%s round failed; retrying", loop.name)
                await sleep_until_woken(loop, stop, FAILED_ROUND_PAUSE)
                continue
            if work:
                await asyncio.sleep(0)  # let requests and other loops in between busy rounds
            else:
                await sleep_until_woken(loop, stop, loop.poll_seconds)
    finally:
        await loop.close()
        log.info("%s stopped", loop.name)
