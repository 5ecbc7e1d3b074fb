"""Grouped commits: items submitted while a commit runs wait for it and go together into the
next one, so that one durable commit (an fsync) serves many requests.

`GroupCommit(write)` where `write(items) -> results` writes a batch in ONE transaction and
commits it. `await submit(item)` returns the item's result only once the commit that holds it
is done (an answer sent after it never refers to something lost), raises the batch's error if
it failed, and at low load a batch holds one item and nothing waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger("wacast.kit")

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 500,
                 name: str = "items", committed: Callable[[], None] | None = None) -> None:
        self.write = write
        self.max_batch = max_batch
        self.name = name  # for the log
        self.committed = committed  # called after each commit (e.g. wake a loop)
        self.waiting: list[tuple[T, asyncio.Future]] = []
        self.task: asyncio.Task | None = None
        self.commits = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if self.task is None or self.task.done():
            # A task of its own, so that a request that goes away never strands the others.
            self.task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # what arrived in the same loop turn joins the first batch
        while self.waiting:
            batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
            try:
                results = await self.write([item for item, _ in batch])
            except Exception as error:  # every waiting submitter gets an answer
                log.exception("writing %d %s failed", len(batch), self.name)
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            self.commits += 1
            self.items += len(batch)
            if self.committed is not None:
                self.committed()
