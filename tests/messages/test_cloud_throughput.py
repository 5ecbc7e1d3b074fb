"""Throughput against the fake Meta: a number's cap is never exceeded in any one-second window
(as Meta counts, on arrival), a 130429 slows the number down, and sender leases give each number
to exactly one worker, hand over fairly when a worker appears and move within the lease time
when one dies."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

import pytest
from sqlalchemy import select

from wacast.app import build_providers
from wacast.messages.dispatcher import Dispatcher
from wacast.messages.pacing import Pacer
from tests.support.delivery import run_until_idle
from wacast.models.messages import Message
from wacast.models.projects import SenderLease
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.fake_meta import FakeMeta, FakeMetaProcess, max_in_window

PHONE_ID = "1098765"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "retry_base_seconds": 0.05,
                                       "max_send_attempts": 30, "sender_lease_seconds": 1})


async def queue_many(client, setup, n: int, prefix: str = "91980") -> list[str]:  # noqa: ANN001
    ids = []
    for i in range(n):
        response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+{prefix}{i:07d}"))
        assert response.status_code == 200, response.text
        ids.append(response.json()["submitted_message_id"])
    return ids


async def statuses(db) -> dict[str, str]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return {str(r.id): r.status for r in (await session.execute(select(Message.id, Message.status))).all()}


async def test_the_cap_holds_in_every_one_second_window(client, db, settings, tmp_path):
    # The fake Meta in its own process: its arrival times are Meta's count, not delayed by our GIL.
    remote = FakeMetaProcess(tmp_path / "fake_meta.log")
    try:
        settings = settings.model_copy(update={"graph_api_url": remote.base_url})
        setup = await make_cloud_project(db, settings, FakeMeta(), messages_per_second=20, campaigns_for=("order_update",))
        ids = await queue_many(client, setup, 70)
        dispatcher = Dispatcher(db, settings, build_providers(settings))
        await run_until_idle(dispatcher, timeout=60)
        for provider in dispatcher.providers.values():
            await provider.close()
        sends = await remote.asends()
    finally:
        remote.stop()
    assert set((await statuses(db)).values()) == {"sent"}
    assert sorted(s["message_id"] for s in sends if s["wamid"]) == sorted(ids)
    busiest = max_in_window([s["arrived"] for s in sends])
    assert busiest <= 20
    assert busiest >= 10, "it is the cap that paced it, not slowness"


async def test_130429_slows_the_number_down_and_nothing_is_lost(client, db, settings, dispatcher, fake_meta):
    # The number is allowed 40/s in wacast, but Meta only takes 10/s from it.
    setup = await make_cloud_project(db, settings, fake_meta, messages_per_second=40, campaigns_for=("order_update",))
    fake_meta.caps[PHONE_ID] = 10
    ids = await queue_many(client, setup, 50)
    deadline = time.monotonic() + 60
    slowed = False
    while set((await statuses(db)).values()) != {"sent"}:
        assert time.monotonic() < deadline
        await dispatcher.tick()
        lane = dispatcher.lanes.get(setup.project_id)
        slowed = slowed or bool(lane and lane.pacer.cap < 40)
        await asyncio.sleep(0.02)
    rejected = [s for s in fake_meta.sends if s.error_code == 130429]
    assert rejected, "Meta pushed back"
    assert slowed, "and the number slowed down"
    assert len(fake_meta.accepted(PHONE_ID)) == len(ids), "every message sent once; none failed"
    assert len(rejected) < 2 * len(ids), "halving the pace converges instead of hammering Meta"


async def holders(db) -> dict:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return {row.project_id: (row.holder, row.expires_at) for row in (await session.execute(select(SenderLease))).scalars()}


@contextlib.asynccontextmanager
async def two_dispatchers(db, settings):  # noqa: ANN001, ANN201
    """Two workers' dispatchers on one database; their HTTP clients closed afterwards."""
    dispatchers = (Dispatcher(db, settings, build_providers(settings)), Dispatcher(db, settings, build_providers(settings)))
    try:
        yield dispatchers
    finally:
        for d in dispatchers:
            for provider in d.providers.values():
                await provider.close()


async def test_sender_leases_hand_over_fairly_and_move_when_a_worker_dies(db, settings, fake_meta):
    settings = settings.model_copy(update={"sender_lease_seconds": 3})
    a = await make_cloud_project(db, settings, fake_meta, "a", phone_number_id="111", campaigns_for=())
    b = await make_cloud_project(db, settings, fake_meta, "b", phone_number_id="222", campaigns_for=())
    async with two_dispatchers(db, settings) as (first, second):
        await first.refresh_leases()
        assert {lane for lane, l in first.lanes.items() if l.held} == {a.project_id, b.project_id}, "alone: it serves both"
        await second.refresh_leases()
        assert not second.lanes, "a held number is never shared"
        await first.refresh_leases()  # sees a second live worker: gives one number back...
        given_back = [p for p, l in first.lanes.items() if not l.held] or [p for p in (a.project_id, b.project_id) if p not in first.lanes]
        assert len([l for l in first.lanes.values() if l.held]) == 1 and len(given_back) == 1
        await second.refresh_leases()
        assert not second.lanes, "...but only after its last sends have left the one-second window"
        await asyncio.sleep(1.2)
        await second.refresh_leases()
        assert set(second.lanes) == set(given_back)
        leases = await holders(db)
        assert {h for h, _ in leases.values()} == {first.worker_id, second.worker_id}

        # The first worker dies (no release, no heartbeat): its number moves within the lease time.
        await asyncio.sleep(settings.sender_lease_seconds + 0.2)
        await second.refresh_leases()
        assert {p for p, l in second.lanes.items() if l.held} == {a.project_id, b.project_id}
        assert {h for h, _ in (await holders(db)).values()} == {second.worker_id}


async def test_workers_started_together_share_the_numbers_from_the_start(db, settings, fake_meta):
    """The join: a starting worker only beats its heart at first, so two workers started
    together each take half of the numbers at once, and no number is handed over."""
    settings = settings.model_copy(update={"dispatcher_join_seconds": 0.3, "sender_lease_seconds": 15})
    projects = [await make_cloud_project(db, settings, fake_meta, name, phone_number_id=number, campaigns_for=())
                for name, number in (("a", "111"), ("b", "222"), ("c", "333"), ("d", "444"))]
    async with two_dispatchers(db, settings) as (first, second):
        await first.tick()
        await second.tick()
        assert not first.lanes and not second.lanes, "joining: nobody takes a number yet"
        assert await holders(db) == {}
        await asyncio.sleep(0.35)
        await first.tick()
        await second.tick()
        mine = {d.worker_id: {p for p, lane in d.lanes.items() if lane.held} for d in (first, second)}
        assert [len(held) for held in mine.values()] == [2, 2], mine
        assert mine[first.worker_id].isdisjoint(mine[second.worker_id])
        assert {h for h, _ in (await holders(db)).values()} == {first.worker_id, second.worker_id}
        assert first.next_lease_refresh == math.inf and second.next_lease_refresh == math.inf, "balanced: the regular beat"
        assert {p.project_id for p in projects} == mine[first.worker_id] | mine[second.worker_id]


async def test_a_number_handed_over_moves_as_soon_as_its_quiet_period_ends(db, settings, fake_meta):
    """Both sides of a hand-over look again soon rather than at the regular beat (a third of
    the lease): the taker right after the given-back number's quiet period."""
    settings = settings.model_copy(update={"sender_lease_seconds": 15})  # the regular beat: every 5 s
    a = await make_cloud_project(db, settings, fake_meta, "a", phone_number_id="111", campaigns_for=())
    b = await make_cloud_project(db, settings, fake_meta, "b", phone_number_id="222", campaigns_for=())
    async with two_dispatchers(db, settings) as (first, second):
        await first.tick()
        assert {p for p, lane in first.lanes.items() if lane.held} == {a.project_id, b.project_id}
        assert first.next_lease_refresh == math.inf, "alone and holding its share: the regular beat"
        await second.tick()
        assert not second.lanes
        assert 0 < second.next_lease_refresh - time.monotonic() <= 1.0, "short of its share: it looks again within a second"
        await first.refresh_leases()  # sees the second worker: gives one number back with a quiet period
        await second.refresh_leases()
        assert not second.lanes, "not before the quiet period"
        wait = second.next_lease_refresh - time.monotonic()
        assert 0 < wait <= Pacer.WINDOW + Pacer.MARGIN + 0.1, "...but right after it"
        deadline = time.monotonic() + 5
        while not second.lanes:
            assert time.monotonic() < deadline, "the second worker never took its share"
            await second.tick()
            await asyncio.sleep(0.02)
        assert time.monotonic() - (deadline - 5) <= wait + 0.5
        assert len([p for p, lane in second.lanes.items() if lane.held]) == 1
