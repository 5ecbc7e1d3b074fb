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

from collections.abc import Callable
from typing import Any

from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.group_commit import GroupCommit
from wacast.messages.repository_inbound import store_inbound_events

MAX_BATCH = 500  # bodies per commit (a 3 MB body is rare; statuses are about 1 KB)


class WebhookIntake:
    """`await store(source, body)`: True once committed as new, False for a duplicate."""

    def __init__(self, db: Database, wake: Callable[[], None], max_batch: int = MAX_BATCH) -> None:
        self.db = db
        # The inbound event loop is woken after each commit.
        self.group: GroupCommit[tuple[str, Any], bool] = GroupCommit(self._write, max_batch=max_batch, name="webhook bodies", committed=wake)

    @property
    def commits(self) -> int:
        return self.group.commits

    async def store(self, source: str, body: Any) -> bool:
        return await self.group.submit((source, body))

    async def _write(self, batch: list[tuple[str, Any]]) -> list[bool]:
        now = utcnow()
        by_source: dict[str, list[int]] = {}
        for i, (source, _) in enumerate(batch):
            by_source.setdefault(source, []).append(i)
        new = [False] * len(batch)
        async with self.db.transaction() as session:
            for source, positions in by_source.items():
                stored = await store_inbound_events(session, source, [(batch[i][1], now) for i in positions], now)
                for i, was_new in zip(positions, stored, strict=True):
                    new[i] = was_new
        return new  # committed: only now may the requests of the batch answer
