"""The runtime: which background loops a process runs, and the supervisor that runs them.

`wacast serve` (with the dispatcher in-process) and `wacast worker` build the same loops with
`build_loops` and hand them to one `Supervisor`:

- `start()` runs every loop (`run(stop)`, kit/loop.Runnable) in its own task;
- a loop that crashes (its `run` raises, or returns before the stop) is logged and started
  again after a pause: one loop's bug never takes the process's other loops down;
- `stop()` sets the stop event, wakes every loop and waits for them to finish (in-flight
  sends recorded, leases handed back) for at most the settings' shutdown timeout; whatever
  is still running then is cancelled.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.campaigns.outcomes import CAMPAIGN_OUTCOMES
from wacast.config import Settings, get_settings
from wacast.contacts import segments
from wacast.db.engine import Database
from wacast.idempotency.middleware import purge_expired
from wacast.kit.loop import Runnable, run_loop
from wacast.messages.dispatcher import Dispatcher
from wacast.messages.provider import Provider
from wacast.meta.client import GraphClient
from wacast.notifications import service as notifications
from wacast.notifications.mailer import Mailer
from wacast.templates.sync import TemplateSync
from wacast.users import service as users_service
from wacast.webhooks.service import purge_old_events
from wacast.webhooks.tasks import WebhookSender
from wacast.whatsapp import sandbox_failures
from wacast.whatsapp.cloud import CloudProvider
from wacast.whatsapp.event_kinds import purge_stored_events
from wacast.whatsapp.inbound import InboundEvents
from wacast.whatsapp.media import purge_cached_media
from wacast.whatsapp.sandbox import SandboxProvider

log = logging.getLogger("wacast.runtime")

RESTART_PAUSE = 1.0  # seconds before a crashed loop runs again
PURGE_EVERY = 600.0  # seconds between clean-ups of expired idempotency keys and old webhook events


def provide_interfaces(settings: Settings | None = None) -> None:
    """Fill in what a lower floor reaches through a protocol: the segment filter's
    campaign-outcome conditions (contacts) come from the campaigns floor. Called by every
    process before it works: the app's lifespan (with its settings) and each CLI command.
    Notifications learn whether to queue emails (WACAST_SMTP_HOST) and the public URL."""
    segments.provide_outcomes(CAMPAIGN_OUTCOMES)
    notifications.configure(settings or get_settings())


def name_of(runnable: Runnable) -> str:
    # Loops written before the runtime carry no `name` yet; their class names them.
    return getattr(runnable, "name", None) or type(runnable).__name__


class Supervisor:
    """Starts, watches and stops a process's loops."""

    def __init__(self, runnables: Sequence[Runnable], *, shutdown_timeout: float, restart_pause: float = RESTART_PAUSE) -> None:
        self.runnables = list(runnables)
        self.shutdown_timeout = shutdown_timeout
        self.restart_pause = restart_pause
        self.stopping = asyncio.Event()
        self.restarts: dict[str, int] = {name_of(r): 0 for r in self.runnables}
        self._tasks: dict[int, asyncio.Task] = {}

    def start(self) -> None:
        for runnable in self.runnables:
            self._tasks[id(runnable)] = asyncio.create_task(self._watch(runnable), name=f"wacast:{name_of(runnable)}")

    def task_of(self, runnable: Runnable) -> asyncio.Task | None:
        """The task that runs (and restarts) `runnable`; done only once it stopped for good."""
        return self._tasks.get(id(runnable))

    async def _watch(self, runnable: Runnable) -> None:
        name = name_of(runnable)
        while True:
            try:
                await runnable.run(self.stopping)
            except Exception:
                if self.stopping.is_set():
                    log.exception("%s failed while stopping", name)
                    return
                log.exception("%s crashed; restarting in %.1f s", name, self.restart_pause)
            else:
                if self.stopping.is_set():
                    return
                log.error("%s returned before the stop; restarting in %.1f s", name, self.restart_pause)
            self.restarts[name] += 1
            try:
                await asyncio.wait_for(self.stopping.wait(), self.restart_pause)
                return  # stopped during the pause
            except TimeoutError:
                pass

    async def stop(self) -> None:
        """Stop every loop: set the stop event, wake them all, wait up to the shutdown timeout."""
        self.stopping.set()
        for runnable in self.runnables:
            runnable.wake.set()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.shutdown_timeout)
        for task in pending:
            log.warning("%s did not stop within %.0f s; cancelled", task.get_name(), self.shutdown_timeout)
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def run(self, until: asyncio.Event) -> None:
        """Start, run until `until` is set (a signal), then stop (`wacast worker`)."""
        self.start()
        try:
            await until.wait()
        finally:
            await self.stop()


class Purges:
    """A kit/loop.Loop: forgets idempotency keys past their 24 h, customer webhook events
    (with their delivery log) past 30 days, ended dashboard sessions, received media cached
    longer than WACAST_MEDIA_CACHE_DAYS, Meta's stored event bodies older than
    WACAST_INBOUND_EVENT_RETENTION_DAYS and notifications older than
    WACAST_NOTIFICATION_RETENTION_DAYS, every PURGE_EVERY seconds."""

    name = "purges"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self.poll_seconds = PURGE_EVERY

    async def tick(self) -> int:
        # One transaction each: each delete holds SQLite's write lock only for itself.
        async with self.db.transaction() as session:
            keys = await purge_expired(session)
        async with self.db.transaction() as session:
            events = await purge_old_events(session)
        async with self.db.transaction() as session:
            sessions = await users_service.purge_ended_sessions(session)
        async with self.db.transaction() as session:
            media = await purge_cached_media(session, self.settings.media_cache_days)
        async with self.db.transaction() as session:
            meta_events = await purge_stored_events(session, self.settings.inbound_event_retention_days)
        async with self.db.transaction() as session:
            told = await notifications.purge_old(session, self.settings.notification_retention_days)
        if keys or events or sessions or media or meta_events or told:
            log.info("purged %d idempotency key(s), %d webhook event(s), %d dashboard session(s), %d cached media file(s), "
                     "%d stored Meta event(s) and %d notification(s)", keys, events, sessions, media, meta_events, told)
        return 0  # one round removes everything due; nothing more is due before the next

    async def close(self) -> None:
        return None

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self, stop)


def build_providers(settings: Settings) -> dict[str, Provider]:
    return {
        "sandbox": SandboxProvider(settings.sandbox_delivered_after, settings.sandbox_read_after,
                                   failures=sandbox_failures.from_settings(settings)),
        "cloud": CloudProvider(GraphClient(settings.graph_api_url, settings.graph_api_version, timeout=settings.graph_api_timeout)),
    }


@dataclass
class Loops:
    """Every background loop of one process, and the providers they send through."""

    dispatcher: Dispatcher
    inbound: InboundEvents
    broadcasts: BroadcastEngine
    webhooks: WebhookSender
    templates: TemplateSync
    purges: Purges
    providers: dict[str, Provider]
    mailer: Mailer | None = None  # only with WACAST_SMTP_HOST set (docs/notifications.md)

    @property
    def runnables(self) -> list[Runnable]:
        loops: list[Runnable] = [self.dispatcher, self.inbound, self.broadcasts, self.webhooks, self.templates, self.purges]
        return loops + ([self.mailer] if self.mailer is not None else [])

    async def close(self) -> None:
        """After the supervisor stopped them: close the providers' connections."""
        for provider in self.providers.values():
            await provider.close()


def build_loops(db: Database, settings: Settings, *, webhooks: WebhookSender | None = None) -> Loops:
    """The loops of `wacast worker`, and of `wacast serve` when the dispatcher runs in-process.

    `webhooks`: the process's sender when it already has one (the app's test-send button)."""
    providers = build_providers(settings)
    notifications.configure(settings)  # the warnings of these loops queue emails when SMTP is set
    inbound = InboundEvents(db, settings)  # Meta's webhooks and the sandbox's reports, applied
    # the sandbox's reports, stored by the dispatcher, wake the inbound loop
    dispatcher = Dispatcher(db, settings, providers, notify_inbound=inbound.wake.set)
    return Loops(
        dispatcher=dispatcher,
        inbound=inbound,
        # a broadcast's queued messages wake the dispatcher (docs/broadcasts.md)
        broadcasts=BroadcastEngine(db, settings, notify=dispatcher.wake.set),
        webhooks=webhooks or WebhookSender(db, settings),  # customer webhooks, from their outbox (docs/integrations.md)
        templates=TemplateSync(db, settings),  # the periodic template sync of cloud projects
        purges=Purges(db, settings),
        providers=providers,
        mailer=Mailer(db, settings) if settings.smtp_configured else None,  # notification emails, from their outbox
    )


class WorkerProcess:
    """The `wacast worker` that `wacast serve` starts beside itself (WACAST_DISPATCHER_PROCESS):
    the dispatcher and the other loops in a process of their own, so that one command still
    runs the whole system and the loops use the second core instead of taking turns with the
    requests. It gets the server's environment, dies with the server (the kernel sends it
    SIGTERM if the server is killed), is started again if it exits on its own, and is stopped
    (SIGTERM: sends finished or handed back, leases given back) when the server stops."""

    RESTART_AFTER = 1.0  # seconds before a worker that exited is started again

    def __init__(self, shutdown_timeout: float) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.proc: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="wacast-worker-process", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "wacast.cli", "worker"], preexec_fn=_die_with_parent)  # noqa: S603, PLW1509

    def _watch(self) -> None:
        while not self._stopping.is_set():
            code = self.proc.wait() if self.proc is not None else None
            if self._stopping.wait(self.RESTART_AFTER):
                return
            log.error("the worker process exited (code %s); starting it again", code)
            self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=self.shutdown_timeout + 5)
        except subprocess.TimeoutExpired:
            log.error("the worker process did not stop within %s s; killed", self.shutdown_timeout + 5)
            self.proc.kill()
            self.proc.wait()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:  # not Linux: the worker then outlives a killed server until stopped
        pass
