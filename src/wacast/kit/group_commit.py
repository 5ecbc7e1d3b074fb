"""Grouped commits: items submitted while a commit runs wait for it and go together into the
next one, so that one durable commit (an fsync) serves many requests.

`GroupCommit(write)` where `write(items) -> results` writes a batch in ONE transaction and
commits it. `await submit(item)` returns the item's result only once the commit that holds it
is done (an answer sent after it never refers to something lost), raises the batch's error if
it failed, and at low load a batch holds one item and nothing waits.

`in_flight` batches may be written at once (default one: each batch starts when the previous
one has committed). More than one lets a batch's round trips to the database overlap the
next batch's, for a writer whose time goes into waiting rather than into Python. `key(item)`
keeps items apart that must see each other's commit: an item whose key is in a batch still
being written waits for the next batch (two taps of one link are decided against each other).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("wacast.kit")

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 500,
                 name: str = "items", committed: Callable[[], None] | None = None,
                 in_flight: int = 1, key: Callable[[T], Hashable] | None = None) -> None:
        self.write = write
        self.max_batch = max_batch
        self.name = name  # for the log
        self.committed = committed  # called after each commit (e.g. wake a loop)
        self.in_flight = max(1, in_flight)
        self.key = key
        self.waiting: list[tuple[T, asyncio.Future]] = []
        self.running: set[asyncio.Task] = set()  # the batches being written (held: a task needs a reference)
        self.busy_keys: set[Hashable] = set()  # keys of the items in those batches
        self.launch_pending = False
        self.commits = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        if not self.launch_pending and len(self.running) < self.in_flight:
            # On the next loop turn, so that what arrives in the same turn joins the batch.
            self.launch_pending = True
            asyncio.get_running_loop().call_soon(self._launch)
        # Written by a task of its own, so that a request that goes away never strands the others.
        return await asyncio.shield(future)

    def _launch(self) -> None:
        self.launch_pending = False
        while self.waiting and len(self.running) < self.in_flight:
            batch = self._take()
            if not batch:  # everything waiting shares a key with a batch being written
                return
            task = asyncio.create_task(self._write_batch(batch))
            self.running.add(task)

    def _take(self) -> list[tuple[T, asyncio.Future]]:
        if self.key is None:
            batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
            return batch
        batch, rest, keys = [], [], set()
        for entry in self.waiting:
            k = self.key(entry[0])
            if len(batch) < self.max_batch and k not in self.busy_keys:
                batch.append(entry)
                keys.add(k)
            else:
                rest.append(entry)
        self.waiting = rest
        self.busy_keys |= keys
        return batch

    async def _write_batch(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        try:
            results = await self.write([item for item, _ in batch])
        except Exception as error:  # every waiting submitter gets an answer
            log.exception("writing %d %s failed", len(batch), self.name)
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
            self.commits += 1
            self.items += len(batch)
            if self.committed is not None:
                self.committed()
        finally:
            for _, future in batch:  # a write cancelled (shutdown) leaves no submitter waiting forever
                if not future.done():
                    future.cancel()
            if self.key is not None:
                self.busy_keys -= {self.key(item) for item, _ in batch}
            self.running.discard(asyncio.current_task())
            self._launch()  # what waited for this batch goes now
