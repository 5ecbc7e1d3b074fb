"""The runtime (wacast/runtime.py): the supervisor restarts a crashed loop, a stop wakes every
loop and waits for it, a loop that will not stop is cancelled after the shutdown timeout; the
purges forget idempotency keys past 24 h and webhook events past 30 days.

The supervisor's loops here are small classes of the kit/loop protocols (name, wake, run or
tick/close), written for the test: no wacast loop, no database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.support.factories import make_project
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.loop import run_loop
from wacast.models.idempotency import IdempotencyKey
from wacast.models.media import InboundMedia
from wacast.models.messages import InboundEvent
from wacast.models.notifications import Notification, NotificationEmail
from wacast.models.users import DashboardSession
from wacast.models.webhooks import WebhookEvent
from wacast.runtime import Purges, Supervisor
from wacast.users import service as users
from wacast.users import session_policy

FAST = 0.01


class Counting:
    """A kit/loop.Loop: counts its rounds, idles long between them (only a wake or a stop ends the sleep)."""

    name = "counting"

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.poll_seconds = 60.0
        self.rounds = 0
        self.closed = False

    async def tick(self) -> int:
        self.rounds += 1
        return 0

    async def close(self) -> None:
        self.closed = True

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self, stop)


class CrashesTwice:
    """A Runnable whose `run` raises on its first two starts, then runs until stopped."""

    name = "crashes-twice"

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.starts = 0
        self.finished = False

    async def run(self, stop: asyncio.Event) -> None:
        self.starts += 1
        if self.starts <= 2:
            raise RuntimeError("boom")
        await stop.wait()
        self.finished = True


class ReturnsEarly:
    """A Runnable whose `run` returns at once (a bug): the supervisor runs it again."""

    name = "returns-early"

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.starts = 0

    async def run(self, stop: asyncio.Event) -> None:
        self.starts += 1


class Stubborn:
    """A Runnable that ignores the stop (a send that never returns)."""

    name = "stubborn"

    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.cancelled = False

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def _until(condition, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(FAST)


async def test_a_crashed_loop_is_restarted_and_the_others_keep_running() -> None:
    crashing, counting = CrashesTwice(), Counting()
    supervisor = Supervisor([crashing, counting], shutdown_timeout=2, restart_pause=FAST)
    supervisor.start()
    await _until(lambda: crashing.starts == 3)
    assert supervisor.restarts == {"crashes-twice": 2, "counting": 0}
    assert counting.rounds >= 1 and not supervisor.task_of(counting).done()
    await supervisor.stop()
    assert crashing.finished


async def test_a_loop_that_returns_before_the_stop_is_started_again() -> None:
    early = ReturnsEarly()
    supervisor = Supervisor([early], shutdown_timeout=2, restart_pause=FAST)
    supervisor.start()
    await _until(lambda: early.starts >= 3)
    await supervisor.stop()
    assert supervisor.task_of(early).done()


async def test_stop_wakes_every_loop_and_waits_for_it_to_close() -> None:
    loops = [Counting(), Counting()]
    supervisor = Supervisor(loops, shutdown_timeout=2, restart_pause=FAST)
    supervisor.start()
    await _until(lambda: all(loop.rounds == 1 for loop in loops))
    # Each sleeps 60 s between rounds: only the stop's wake lets them finish in time.
    async with asyncio.timeout(1):
        await supervisor.stop()
    assert all(loop.closed for loop in loops)
    assert all(supervisor.task_of(loop).done() for loop in loops)


async def test_a_wake_runs_a_round_at_once() -> None:
    loop = Counting()
    supervisor = Supervisor([loop], shutdown_timeout=2, restart_pause=FAST)
    supervisor.start()
    await _until(lambda: loop.rounds == 1)
    loop.wake.set()
    await _until(lambda: loop.rounds == 2)
    await supervisor.stop()


async def test_a_loop_that_does_not_stop_is_cancelled_after_the_shutdown_timeout() -> None:
    stubborn, counting = Stubborn(), Counting()
    supervisor = Supervisor([stubborn, counting], shutdown_timeout=0.1, restart_pause=FAST)
    supervisor.start()
    await _until(lambda: counting.rounds == 1)
    async with asyncio.timeout(1):
        await supervisor.stop()
    assert stubborn.cancelled and counting.closed


async def test_run_until_a_signal_then_stop() -> None:
    loop, signal = Counting(), asyncio.Event()
    supervisor = Supervisor([loop], shutdown_timeout=2, restart_pause=FAST)
    runner = asyncio.create_task(supervisor.run(until=signal))
    await _until(lambda: loop.rounds == 1)
    signal.set()
    async with asyncio.timeout(1):
        await runner
    assert loop.closed


async def test_purges_forget_idempotency_keys_past_a_day_and_webhook_events_past_a_month(settings) -> None:  # noqa: ANN001
    """...and dashboard sessions past their idle or absolute end, cached received media and
    Meta's applied event bodies past their retention."""
    db = Database(settings.database_url)
    try:
        setup = await make_project(db)
        now = utcnow()
        async with db.transaction() as session:
            user = await users.create_or_update(session, setup.project_id, "owner@example.com", "correct horse", "owner")
            live = await users.start_session(session, user)
            await users.start_session(session, user, now=now - timedelta(days=4))  # idle for 4 days
            await users.start_session(session, user, now=now - timedelta(days=15))  # past its absolute end
            for key, age in (("expired", timedelta(hours=26)), ("kept", timedelta(hours=1))):
                session.add(IdempotencyKey(scope="s" * 64, key=key, request_hash="h" * 64, state="done", created_at=now - age))
            for topic, age in (("contact.created", timedelta(days=31)), ("contact.opted_out", timedelta(days=29))):
                session.add(WebhookEvent(id=uuid.uuid4(), project_id=setup.project_id, topic=topic, data={}, created_at=now - age))
            # Received media cached past WACAST_MEDIA_CACHE_DAYS (30) and Meta's event bodies
            # processed past WACAST_INBOUND_EVENT_RETENTION_DAYS (30): the old ones go.
            for media_id, age in (("old-media", timedelta(days=31)), ("kept-media", timedelta(days=2))):
                session.add(InboundMedia(project_id=setup.project_id, media_id=media_id, mime_type="image/jpeg", sha256="0" * 64,
                                         size=1, content=b"x", fetched_at=now - age))
            for key, age in (("old-event", timedelta(days=31)), ("kept-event", timedelta(days=9))):
                session.add(InboundEvent(source="meta", dedupe_key=key, body={}, received_at=now - age, process_after=now - age,
                                         processed_at=now - age))
            session.add(InboundEvent(source="meta", dedupe_key="unprocessed", body={}, received_at=now - timedelta(days=40),
                                     process_after=now - timedelta(days=40), processed_at=None))
            # Notifications past WACAST_NOTIFICATION_RETENTION_DAYS (90) go with their emails, unless
            # an email is still waiting to be sent.
            for title, age, email in (("old", 91, "sent"), ("old-but-mailing", 91, "pending"), ("recent", 10, "sent")):
                told = Notification(id=uuid.uuid4(), project_id=setup.project_id, kind="budget", severity="warning", title=title,
                                    text="t", fingerprint=title, repeats=1, created_at=now - timedelta(days=age),
                                    last_at=now - timedelta(days=age))
                session.add(told)
                await session.flush()
                session.add(NotificationEmail(notification_id=told.id, project_id=setup.project_id, to_address="owner@example.com",
                                              subject=title, body="b", status=email))
        assert await Purges(db, settings).tick() == 0  # nothing more to do until the next round
        async with db.read() as session:
            keys = (await session.execute(select(IdempotencyKey.key))).scalars().all()
            topics = (await session.execute(select(WebhookEvent.topic))).scalars().all()
            sessions = (await session.execute(select(DashboardSession.id))).scalars().all()
            media = (await session.execute(select(InboundMedia.media_id))).scalars().all()
            events = (await session.execute(select(InboundEvent.dedupe_key).order_by(InboundEvent.dedupe_key))).scalars().all()
        assert keys == ["kept"] and topics == ["contact.opted_out"]
        assert media == ["kept-media"]
        assert events == ["kept-event", "unprocessed"], "an event not yet applied is never forgotten"
        assert sessions == [session_policy.token_id(live)], "only the live dashboard session is left"
        async with db.read() as session:
            titles = sorted((await session.execute(select(Notification.title))).scalars().all())
            emails = sorted((await session.execute(select(NotificationEmail.subject))).scalars().all())
        assert titles == emails == ["old-but-mailing", "recent"]
    finally:
        await db.dispose()
