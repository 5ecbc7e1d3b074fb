"""Driving delivery in tests: the dispatcher's and the inbound event loop's public `tick()`,
round after round, until nothing is due or in flight (what the runtime does, without sleeping)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wacast.messages.dispatcher import Dispatcher
from wacast.whatsapp.inbound import InboundEvents


async def run_until_idle(dispatcher: Dispatcher, inbound: InboundEvents | None = None, timeout: float = 30.0) -> None:
    """Work until two rounds in a row found nothing to do and no send is in flight."""
    deadline = time.monotonic() + timeout
    idle_rounds = 0
    while time.monotonic() < deadline:
        work = await dispatcher.tick()
        if inbound is not None:
            work += await inbound.tick()
        if dispatcher.tasks:
            await asyncio.wait(dispatcher.tasks, timeout=max(0.0, deadline - time.monotonic()))
            continue
        idle_rounds = idle_rounds + 1 if work == 0 else 0
        if idle_rounds >= 2:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("dispatcher did not become idle")


class DeliveryDriver:
    """The `dispatcher` fixture: a dispatcher and its inbound event loop, run together by
    `run_until_idle()` (or `run(stop)`). Anything else (tick, lanes, pair, settings, ...) is the dispatcher's."""

    def __init__(self, dispatcher: Dispatcher, inbound: InboundEvents) -> None:
        object.__setattr__(self, "dispatcher", dispatcher)
        object.__setattr__(self, "inbound", inbound)

    async def run_until_idle(self, timeout: float = 30.0) -> None:
        await run_until_idle(self.dispatcher, self.inbound, timeout)

    async def run(self, stop: asyncio.Event) -> None:
        """Both loops, as the runtime runs them, until `stop`."""
        await asyncio.gather(self.dispatcher.run(stop), self.inbound.run(stop))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dispatcher, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.dispatcher, name, value)  # a test changing the dispatcher's settings, say
