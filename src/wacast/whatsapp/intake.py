"""Meta's webhook bodies stored with grouped commits.

Meta posts three statuses for every message sent, each its own request, and wants a fast 200
(a slow answer is retried, which doubles the load). One transaction per request makes the
durable commit the cost of every request. Here the bodies of all requests that arrive while a
commit is running wait for it, then go together into the next one: one INSERT of all of them,
one commit. Each request still gets its 200 only after the commit that holds its body (a
stored event is never lost), and at low load a batch holds one body and nothing waits.

The events are applied later by the inbound event loop (whatsapp/inbound.py), woken after
each commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.messages.repository_inbound import store_inbound_events

log = logging.getLogger("wacast.events")

MAX_BATCH = 500  # bodies per commit (a 3 MB body is rare; statuses are about 1 KB)


@dataclass
class _Waiting:
    source: str
    body: Any
    stored: asyncio.Future = field(repr=False)


class WebhookIntake:
    """`await store(source, body)`: True once committed as new, False for a duplicate."""

    def __init__(self, db: Database, wake: Callable[[], None], max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.wake = wake  # the inbound event loop, after each commit
        self.max_batch = max_batch
        self.waiting: list[_Waiting] = []
        self.task: asyncio.Task | None = None
        self.commits = 0
        self.stored = 0

    async def store(self, source: str, body: Any) -> bool:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(source, body, future))
        if self.task is None or self.task.done():
            # A task of its own, so that a request that goes away never strands the others.
            self.task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # requests that arrived in the same loop turn join the first batch
        while self.waiting:
            batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
            try:
                await self._commit(batch)
            except Exception as error:  # every waiting request gets an answer (a 500: Meta retries)
                log.exception("storing %d webhook bodies failed", len(batch))
                for item in batch:
                    if not item.stored.done():
                        item.stored.set_exception(error)
            else:
                self.wake()

    async def _commit(self, batch: list[_Waiting]) -> None:
        now = utcnow()
        by_source: dict[str, list[_Waiting]] = {}
        for item in batch:
            by_source.setdefault(item.source, []).append(item)
        answers: list[tuple[_Waiting, bool]] = []
        async with self.db.transaction() as session:
            for source, items in by_source.items():
                new = await store_inbound_events(session, source, [(item.body, now) for item in items], now)
                answers.extend(zip(items, new, strict=True))
        # Committed: only now may the requests of the batch answer.
        for item, new in answers:
            if not item.stored.done():
                item.stored.set_result(new)
        self.commits += 1
        self.stored += len(batch)
