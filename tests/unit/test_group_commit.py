"""kit/group_commit.GroupCommit: batching, batches in flight, keys kept apart, errors (no I/O)."""

from __future__ import annotations

import asyncio

import pytest

from wacast.kit.group_commit import GroupCommit


class Writer:
    """A write that records each batch and how many batches were being written at once."""

    def __init__(self, delay: float = 0.01, fail_on: object = None) -> None:
        self.batches: list[list[str]] = []
        self.active = 0
        self.most_active = 0
        self.delay = delay
        self.fail_on = fail_on

    async def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_on in items:
                raise RuntimeError("disk full")
            return [item.upper() for item in items]
        finally:
            self.active -= 1


def test_what_arrives_together_is_one_batch_and_each_gets_its_result() -> None:
    async def run() -> None:
        writer = Writer()
        group = GroupCommit(writer)
        results = await asyncio.gather(*(group.submit(f"a{i}") for i in range(5)))
        assert results == [f"A{i}" for i in range(5)]
        assert writer.batches == [[f"a{i}" for i in range(5)]]
        assert (group.commits, group.items) == (1, 5)

    asyncio.run(run())


def test_one_batch_at_a_time_by_default_and_the_next_gathers_the_waiting() -> None:
    async def run() -> None:
        writer = Writer()
        group = GroupCommit(writer)
        first = asyncio.ensure_future(group.submit("x"))
        await asyncio.sleep(0.002)  # the first batch is being written
        later = await asyncio.gather(*(group.submit(f"y{i}") for i in range(3)))
        assert await first == "X" and later == ["Y0", "Y1", "Y2"]
        assert writer.batches == [["x"], ["y0", "y1", "y2"]]
        assert writer.most_active == 1

    asyncio.run(run())


def test_two_in_flight_overlap_but_an_item_never_shares_the_flight_with_its_key() -> None:
    async def run() -> None:
        writer = Writer(delay=0.02)
        group = GroupCommit(writer, in_flight=2, key=lambda item: item.split(":")[0])
        first = asyncio.ensure_future(group.submit("link1:a"))
        await asyncio.sleep(0.002)
        # link2 may go beside the first batch; link1's second tap must wait for its commit.
        results = await asyncio.gather(group.submit("link1:b"), group.submit("link2:a"), first)
        assert results == ["LINK1:B", "LINK2:A", "LINK1:A"]
        assert writer.most_active == 2
        assert writer.batches == [["link1:a"], ["link2:a"], ["link1:b"]]
        assert group.busy_keys == set() and not group.running

    asyncio.run(run())


def test_a_failed_batch_fails_each_of_its_items_and_the_next_batch_still_runs() -> None:
    async def run() -> None:
        writer = Writer(fail_on="bad")
        group = GroupCommit(writer, key=lambda item: item)
        outcomes = await asyncio.gather(group.submit("bad"), group.submit("ok"), return_exceptions=True)
        assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
        assert await group.submit("after") == "AFTER"
        assert group.commits == 1 and group.busy_keys == set()

    asyncio.run(run())


@pytest.mark.parametrize("max_batch", [1, 2])
def test_max_batch_splits_the_waiting(max_batch: int) -> None:
    async def run() -> None:
        writer = Writer(delay=0)
        group = GroupCommit(writer, max_batch=max_batch)
        assert await asyncio.gather(*(group.submit(c) for c in "abc")) == ["A", "B", "C"]
        assert all(len(batch) <= max_batch for batch in writer.batches) and sum(map(len, writer.batches)) == 3

    asyncio.run(run())
