"""The dispatcher: sends queued messages, driven only by the database.

One loop per process (`wacast serve` on the embedded default, `wacast worker` at scale):
- holds leases on sender numbers (one worker per number, so its rate limits are exact);
- claims due messages of those numbers with a lease of their own (a killed worker's messages
  come back when the lease runs out);
- paces sends at the number's cap and each recipient's pair rate;
- records each outcome (sent, retry later, failed, hold, halt) in batched transactions;
- processes stored provider events (Meta's webhooks, the sandbox's reports).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from wacast.config import Settings
from wacast.models.contacts import Contact
from wacast.db.dialect import insert_ignore
from wacast.db.engine import Database
from wacast.kit import metrics
from wacast.kit.clock import utcnow
from wacast.messages import repository as repo
from wacast.models.messages import InboundEvent, Message
from wacast.models.projects import Project, SenderLease, Worker
from wacast.models.templates import Template
from wacast.meta.errors import ErrorClass, classify
from wacast.whatsapp.events import EventProcessor
from wacast.meta.types import dedupe_key
from wacast.messages.provider import OutgoingMessage, Provider, SendResult, timed_send
from wacast.templates.sync import sync_project
from wacast.templates import statuses

log = logging.getLogger("wacast.dispatcher")

PAIR_INTERVAL = 6.0  # Meta: one message every 6 s to the same user...
PAIR_BURST = 3  # ...with a small burst allowed.


class Pacer:
    """The throughput cap of one sender number.

    Sends are spaced at (1 + MARGIN) / rate seconds, and a sliding window is the hard
    guarantee: a send starts only when fewer than `rate` sends started in the last
    1 + MARGIN seconds. The margin absorbs network jitter, so that Meta, which counts arrivals,
    never sees more than `rate` in any one second. Only one worker serves a number at a time
    (sender leases), so this is exact across workers.
    """

    WINDOW = 1.0
    MARGIN = 0.10

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_slot = 0.0
        self.slowdown_until = 0.0
        self.last_cut = 0.0
        self.scale = 1.0
        self.starts: deque[float] = deque()

    @property
    def slowed(self) -> bool:
        return time.monotonic() < self.slowdown_until

    @property
    def cap(self) -> int:
        if self.scale < 1.0 and not self.slowed:
            self.scale = 1.0  # 10 s without a 130429: back to the configured cap
        return max(1, int(self.rate * self.scale))

    @property
    def interval(self) -> float:
        return (1.0 + self.MARGIN) / max(self.cap, 0.1)

    def slow_down(self, seconds: float = 10.0) -> None:
        """Meta answered 130429 (throughput reached): halve the pace, at most once a second
        (a burst of rejections is one signal), and keep it down while they continue."""
        now = time.monotonic()
        if now - self.last_cut >= 1.0:
            self.scale = max(self.scale * 0.5, 1.0 / max(self.rate, 1.0))
            self.last_cut = now
        self.slowdown_until = now + seconds

    def reserve(self) -> float:
        """The monotonic time at which the next send may start."""
        now = time.monotonic()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        return slot

    def admit(self, now: float) -> float:
        """0 and the send is counted if it may start now; else the seconds to wait."""
        window = self.WINDOW + self.MARGIN
        while self.starts and self.starts[0] <= now - window:
            self.starts.popleft()
        if len(self.starts) < self.cap:
            self.starts.append(now)
            return 0.0
        return max(0.001, self.starts[len(self.starts) - self.cap] + window - now)

    def backlog_seconds(self) -> float:
        return max(0.0, self.next_slot - time.monotonic())

    def quiet_after(self) -> float:
        """Seconds until every reserved slot has passed and left the window (lease hand-over)."""
        return self.backlog_seconds() + self.WINDOW + self.MARGIN


class PairRate:
    """Per recipient token bucket: PAIR_BURST messages, refilled one per PAIR_INTERVAL."""

    def __init__(self) -> None:
        self.buckets: dict[str, tuple[float, float]] = {}

    def wait_for(self, destination: str) -> float:
        now = time.monotonic()
        tokens, last = self.buckets.get(destination, (PAIR_BURST, now))
        tokens = min(PAIR_BURST, tokens + (now - last) / PAIR_INTERVAL)
        if tokens >= 1:
            self.buckets[destination] = (tokens - 1, now)
            return 0.0
        self.buckets[destination] = (tokens, now)
        return (1 - tokens) * PAIR_INTERVAL

    def block(self, destination: str, seconds: float) -> None:
        """Meta said 131056 (pair rate hit): no send to this person for `seconds`."""
        self.buckets[destination] = (1 - seconds / PAIR_INTERVAL, time.monotonic())

    def prune(self) -> None:
        if len(self.buckets) > 100_000:
            cutoff = time.monotonic() - PAIR_INTERVAL * PAIR_BURST
            self.buckets = {k: v for k, v in self.buckets.items() if v[1] > cutoff}


@dataclass
class Lane:
    project: Any
    pacer: Pacer
    in_flight: int = 0
    held: bool = True  # False once the sender lease is given back: finish, claim no more


# Meta's default template time-to-live per category (templates/time-to-live).
DEFAULT_TTL_SECONDS = {"AUTHENTICATION": 600, "UTILITY": 30 * 86400, "MARKETING": 30 * 86400}


def ttl_seconds(template: Any) -> int | None:
    if template is None:
        return None
    ttl = getattr(template, "message_send_ttl_seconds", None)
    if ttl is None or ttl <= 0:  # -1 is Meta's "the default" (30 days)
        return DEFAULT_TTL_SECONDS.get(str(template.category).upper(), 30 * 86400)
    return ttl


@dataclass
class Outcome:
    message_id: uuid.UUID
    project_id: uuid.UUID
    contact_id: uuid.UUID
    destination: str
    attempts: int
    template_id: uuid.UUID | None = None
    result: SendResult | None = None
    # Decided before any send: hold (template not usable), pair-rate wait, or dead template.
    hold_reason: str | None = None
    hold_seconds: float = 0.0
    fail: tuple[int | None, str, str | None] | None = None
    # A send must start while the message lease is surely still ours (monotonic time).
    send_by: float = float("inf")
    expired: bool = False


@dataclass
class Dispatcher:
    db: Database
    settings: Settings
    providers: dict[str, Provider]
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        self.lanes: dict[uuid.UUID, Lane] = {}
        self.pair = PairRate()
        self.outcomes: deque[Outcome] = deque()
        self.tasks: set[asyncio.Task] = set()
        self.wake = asyncio.Event()
        self.events = EventProcessor(self.db, self.settings)
        self.last_lease_refresh = 0.0
        self.started_at = utcnow()
        self.sent_total = 0
        self.sync_tasks: set[asyncio.Task] = set()
        self.sync_attempted: dict[uuid.UUID, float] = {}

    # --- leases -------------------------------------------------------------------------

    async def refresh_leases(self) -> None:
        """Heartbeat, then hold a fair share of the sender numbers (one worker per number)."""
        now = utcnow()
        lease_for = timedelta(seconds=self.settings.sender_lease_seconds)
        async with self.db.transaction() as session:
            await session.execute(delete(Worker).where(Worker.heartbeat_at < now - lease_for * 2))
            await session.execute(insert_ignore(session, Worker, ["id"]).values(id=self.worker_id, started_at=self.started_at, heartbeat_at=now))
            await session.execute(update(Worker).where(Worker.id == self.worker_id).values(heartbeat_at=now))
            live_workers = (await session.execute(select(func.count()).select_from(Worker).where(Worker.heartbeat_at >= now - lease_for))).scalar_one()
            projects = (await session.execute(select(Project))).scalars().all()
            leases = {
                row.project_id: row
                for row in (await session.execute(select(SenderLease))).scalars().all()
            }
            fair_share = math.ceil(len(projects) / max(1, live_workers)) if projects else 0
            mine = [p for p in projects if p.id in leases and leases[p.id].holder == self.worker_id and leases[p.id].expires_at > now]
            # Keep the numbers we are actively serving; a number already draining stays given back.
            mine.sort(key=lambda p: (not (p.id in self.lanes and self.lanes[p.id].held), str(p.id)))
            # Give back what is above our fair share, so a new worker gets numbers to serve.
            keep = mine[:fair_share] if len(mine) > fair_share else mine
            for project in mine[len(keep):]:
                # Give it back, so the cap holds across the hand-over: first stop claiming and
                # keep the lease while our claimed sends drain; then release it with a quiet
                # period, so nobody sends for it before our last send has left the window.
                lane = self.lanes.get(project.id)
                if lane is not None and lane.in_flight > 0:
                    lane.held = False
                    await session.execute(
                        update(SenderLease)
                        .where(SenderLease.project_id == project.id, SenderLease.holder == self.worker_id)
                        .values(expires_at=now + lease_for)
                    )
                    continue
                quiet = lane.pacer.quiet_after() if lane else Pacer.WINDOW + Pacer.MARGIN
                await session.execute(
                    update(SenderLease)
                    .where(SenderLease.project_id == project.id, SenderLease.holder == self.worker_id)
                    .values(holder="", expires_at=now + timedelta(seconds=quiet))
                )
            held = {p.id for p in keep}
            for project_id in held:  # renew what we keep, before taking anything new
                await session.execute(
                    update(SenderLease).where(SenderLease.project_id == project_id, SenderLease.holder == self.worker_id).values(expires_at=now + lease_for)
                )
            taken_over: set[uuid.UUID] = set()
            for project in projects:
                if project.id in held:
                    continue
                if len(held) >= fair_share:
                    break
                lease = leases.get(project.id)
                if lease is None:
                    result = await session.execute(
                        insert_ignore(session, SenderLease, ["project_id"]).values(project_id=project.id, holder=self.worker_id, expires_at=now + lease_for)
                    )
                else:
                    result = await session.execute(
                        update(SenderLease)
                        .where(SenderLease.project_id == project.id, or_(SenderLease.expires_at < now, SenderLease.holder == self.worker_id))
                        .values(holder=self.worker_id, expires_at=now + lease_for)
                    )
                if result.rowcount:
                    held.add(project.id)
                    if lease is not None and lease.holder != self.worker_id:
                        taken_over.add(project.id)
            for project in projects:
                if project.id in held:
                    lane = self.lanes.get(project.id)
                    if lane is None:
                        pacer = Pacer(project.messages_per_second)
                        if project.id in taken_over:
                            # Another worker sent for this number until moments ago: start only
                            # once its last sends have left the one-second window.
                            pacer.next_slot = time.monotonic() + Pacer.WINDOW + Pacer.MARGIN
                        self.lanes[project.id] = Lane(project, pacer)
                    else:
                        lane.project = project
                        lane.pacer.rate = project.messages_per_second
                        lane.held = True
            for project_id in list(self.lanes):
                if project_id not in held:
                    self.lanes[project_id].held = False
                    if self.lanes[project_id].in_flight == 0:
                        del self.lanes[project_id]
        self.last_lease_refresh = time.monotonic()

    async def release_leases(self) -> None:
        """Hand the numbers back; another worker may take each once its last sends are a
        window old (so the cap holds across the hand-over)."""
        now = utcnow()
        async with self.db.transaction() as session:
            for project_id, lane in self.lanes.items():
                await session.execute(
                    update(SenderLease)
                    .where(SenderLease.project_id == project_id, SenderLease.holder == self.worker_id)
                    .values(holder="", expires_at=now + timedelta(seconds=lane.pacer.quiet_after()))
                )
            await session.execute(delete(SenderLease).where(SenderLease.holder == self.worker_id))
            await session.execute(delete(Worker).where(Worker.id == self.worker_id))
        self.lanes.clear()

    # --- sending ------------------------------------------------------------------------

    async def fill(self) -> int:
        """Claim due messages of each held number, as many as its pace allows soon."""
        claimed_total = 0
        lease = timedelta(seconds=self.settings.message_lease_seconds)
        for lane in list(self.lanes.values()):
            project = lane.project
            if project.halted_reason or not lane.held:
                continue
            room = self.settings.dispatcher_concurrency - sum(l.in_flight for l in self.lanes.values())
            # Claim about one second of sending ahead, never more than we can run at once, and
            # nothing while a second is already waiting: a message must go out well within its lease.
            ahead = math.ceil(lane.pacer.cap * max(0.0, 1.0 - lane.pacer.backlog_seconds())) if lane.pacer.backlog_seconds() < 0.5 else 0
            limit = min(self.settings.dispatcher_batch_size, room, ahead)
            if limit <= 0:
                continue
            now = utcnow()
            async with self.db.transaction() as session:
                rows = await repo.claim(session, project.id, self.worker_id, now, lease, limit)
                template_ids = {r.template_id for r in rows if r.template_id}
                templates = {}
                if template_ids:
                    templates = {
                        t.id: t for t in (await session.execute(select(Template).where(Template.id.in_(template_ids)))).scalars().all()
                    }
            for row in rows:
                self._start(lane, row, templates.get(row.template_id))
            claimed_total += len(rows)
        return claimed_total

    def _start(self, lane: Lane, row: Any, template: Any) -> None:
        outcome = Outcome(row.id, lane.project.id, row.contact_id, row.destination, row.attempts, row.template_id)
        lease = self.settings.message_lease_seconds
        outcome.send_by = time.monotonic() + lease - max(1.0, lease * 0.2)
        ttl = ttl_seconds(template)
        if ttl is not None and row.created_at + timedelta(seconds=ttl) < utcnow():
            # Meta drops what is not delivered within the template's time-to-live; so do we.
            outcome.fail = (None, f"Not sent within the template's time-to-live ({ttl} s)",
                            f"template {template.name} ({template.category}) allows {ttl} seconds between the request and delivery")
            self._finish(outcome)
            return
        if template is not None and template.status in statuses.HELD:
            outcome.hold_reason = f"template {template.name} is {template.status}"
            outcome.hold_seconds = 60
            self._finish(outcome)
            return
        if template is not None and template.status in statuses.DEAD:
            outcome.fail = (132001, f"Template {template.name} is {template.status}", "the template can no longer be sent")
            self._finish(outcome)
            return
        wait = self.pair.wait_for(row.destination)
        if wait > 0:
            metrics.rate_limit_wait(lane.project.id, "pair", wait)
            outcome.hold_seconds = wait
            self._finish(outcome)
            return
        lane.in_flight += 1
        slot = lane.pacer.reserve()
        task = asyncio.create_task(self._send(lane, row, template, outcome, slot))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, lane: Lane, row: Any, template: Any, outcome: Outcome, slot: float) -> None:
        try:
            delay = slot - time.monotonic()
            if delay > 0:
                metrics.rate_limit_wait(lane.project.id, "throughput", delay)
                await asyncio.sleep(delay)
            while (wait := lane.pacer.admit(time.monotonic())) > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > outcome.send_by:
                # Waited too long (a stalled process, a slowed number): the lease may run out
                # mid-send and another worker claim the message. Do not send; give it back.
                outcome.expired = True
                return
            provider = self.providers[lane.project.provider]
            message = OutgoingMessage(str(row.id), str(lane.project.id), row.destination, row.payload)
            try:
                outcome.result = await timed_send(provider, lane.project, message, template)
            except Exception as error:  # a provider bug must not lose the message: retry it
                log.exception("provider %s failed on message %s", provider.name, row.id)
                from wacast.messages.provider import ProviderError

                outcome.result = SendResult(error=ProviderError(None, f"internal error: {type(error).__name__}"))
            if outcome.result.error and outcome.result.error.code == 130429:
                lane.pacer.slow_down(10.0)
        finally:
            lane.in_flight -= 1
            self._finish(outcome)

    def _finish(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.wake.set()

    async def record_outcomes(self) -> int:
        """Write every finished send in one transaction."""
        if not self.outcomes:
            return 0
        batch = []
        while self.outcomes:
            batch.append(self.outcomes.popleft())
        try:
            async with self.db.transaction() as session:
                sent = [o for o in batch if o.result is not None and o.result.wamid and not o.result.followups and not o.fail]
                if sent:
                    # The hot path: one statement for all accepted sends, one for their events.
                    await repo.mark_sent_many(session, [(o.message_id, o.result.wamid) for o in sent], utcnow())
                    self.sent_total += len(sent)
                    for o in sent:
                        metrics.message_status(o.project_id, "sent")
                done = {id(o) for o in sent}
                for outcome in batch:
                    if id(outcome) not in done:
                        await self._record(session, outcome)
        except Exception:
            # Nothing is lost: unrecorded messages keep their lease and come back after it.
            log.exception("recording %d outcomes failed", len(batch))
            return 0
        return len(batch)

    async def _record(self, session, outcome: Outcome) -> None:  # noqa: ANN001
        now = utcnow()
        if outcome.expired:
            await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=now, now=now, event="waiting",
                               detail={"reason": "not sent within its lease; back in the queue"}, refund_attempt=True)
            return
        if outcome.fail:
            code, title, details = outcome.fail
            await repo.mark_failed(session, outcome.message_id, self.worker_id, now, code, title, details)
            metrics.message_status(outcome.project_id, "failed", code)
            return
        if outcome.result is None:
            await repo.release(
                session, outcome.message_id, self.worker_id,
                next_attempt_at=now + timedelta(seconds=outcome.hold_seconds), now=now,
                event="held" if outcome.hold_reason else "waiting",
                detail={"reason": outcome.hold_reason or "pair rate: waiting for this recipient"},
                held_reason=outcome.hold_reason, refund_attempt=True,
            )
            return
        result = outcome.result
        if result.wamid:
            await repo.mark_sent(session, outcome.message_id, self.worker_id, result.wamid, now)
            metrics.message_status(outcome.project_id, "sent")
            self.sent_total += 1
            for delay, body in result.followups:
                await session.execute(
                    insert_ignore(session, InboundEvent, ["dedupe_key"]).values(
                        source="sandbox", dedupe_key=dedupe_key(body), body=body, received_at=now,
                        process_after=now + timedelta(seconds=delay),
                    )
                )
            return
        await self._record_error(session, outcome, now)

    async def _record_error(self, session, outcome: Outcome, now) -> None:  # noqa: ANN001
        error = outcome.result.error
        kind = classify(error.code, error.http_status)
        detail = error.as_dict()
        if kind in (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer) and outcome.attempts < self.settings.max_send_attempts:
            if kind == ErrorClass.defer:
                wait = 24 * 3600.0
            elif kind == ErrorClass.recipient:
                wait = 4.0 ** min(outcome.attempts - 1, 6)  # Meta: retry after 4^X seconds
            else:
                # Exponential backoff with jitter; Meta's Retry-After, when given, is a floor.
                base = self.settings.retry_base_seconds * 2.0 ** (outcome.attempts - 1)
                wait = min(base, self.settings.retry_max_seconds) * random.uniform(0.5, 1.0)
                if error.retry_after:
                    wait = max(wait, error.retry_after)
            if kind == ErrorClass.recipient:
                self.pair.block(outcome.destination, wait)
            await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=now + timedelta(seconds=wait), now=now, event="retry", detail={**detail, "retry_in_seconds": round(wait, 1)})
            return
        if kind == ErrorClass.hold_template:
            status = "PAUSED" if error.code == 132015 else "DISABLED"
            if outcome.template_id:
                await session.execute(update(Template).where(Template.id == outcome.template_id).values(status=status, updated_at=now))
            reason = f"template {status} by Meta ({error.code})"
            await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=now + timedelta(seconds=300), now=now, event="held", detail={**detail, "reason": reason}, held_reason=reason, refund_attempt=True)
            return
        if kind == ErrorClass.halt_sender:
            reason = f"Meta refused the sender ({error.code}): {error.title}"
            await session.execute(update(Project).where(Project.id == outcome.project_id).values(halted_reason=reason[:500]))
            lane = self.lanes.get(outcome.project_id)
            if lane:
                lane.project.halted_reason = reason
            await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=now + timedelta(seconds=60), now=now, event="held", detail={**detail, "reason": reason}, held_reason=reason, refund_attempt=True)
            return
        if kind == ErrorClass.opt_out:
            await session.execute(update(Contact).where(Contact.id == outcome.contact_id).values(opted_in=False, updated_at=now))
        title = error.title
        if kind in (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer):
            title = f"{title} (gave up after {outcome.attempts} attempts)"
        await repo.mark_failed(session, outcome.message_id, self.worker_id, now, error.code, title, error.details)
        metrics.message_status(outcome.project_id, "failed", error.code)

    # --- the loop -----------------------------------------------------------------------

    async def tick(self) -> int:
        """One round of work; returns how much was done (0 when idle)."""
        if time.monotonic() - self.last_lease_refresh > self.settings.sender_lease_seconds / 3:
            await self.refresh_leases()
        work = await self.fill()
        work += await self.record_outcomes()
        work += await self.events.process_due()
        self._maybe_sync_templates()
        return work

    # --- periodic template sync ---------------------------------------------------------

    def _maybe_sync_templates(self) -> None:
        """Every WACAST_TEMPLATE_SYNC_MINUTES, sync the templates of the Cloud API projects
        this worker serves (in the background: sending does not wait for it)."""
        minutes = self.settings.template_sync_minutes
        cloud = self.providers.get("cloud")
        if minutes <= 0 or cloud is None or self.sync_tasks:
            return
        now = utcnow()
        for lane in self.lanes.values():
            project = lane.project
            if not (lane.held and project.provider == "cloud" and project.waba_id):
                continue
            last = getattr(project, "templates_synced_at", None)
            if last is not None and now - last < timedelta(minutes=minutes):
                continue
            # After a failed sync, wait before trying again (at most every 5 minutes).
            if time.monotonic() - self.sync_attempted.get(project.id, -1e9) < min(minutes * 60, 300):
                continue
            self.sync_attempted[project.id] = time.monotonic()
            task = asyncio.create_task(self._sync_templates(project.id))
            self.sync_tasks.add(task)
            task.add_done_callback(self.sync_tasks.discard)
            return

    async def _sync_templates(self, project_id: uuid.UUID) -> dict | None:

        try:
            async with self.db.transaction() as session:
                project = await session.get(Project, project_id)
                if project is None:
                    return None
                result = await sync_project(session, project, self.settings, getattr(self.providers["cloud"], "client", None))
                await repo.release_held_for_templates(session, project_id, utcnow())
            log.info("templates of %s synced: %s", result["project"], result["synced"])
            lane = self.lanes.get(project_id)
            if lane is not None:
                lane.project.templates_synced_at = utcnow()
            return result
        except Exception:
            log.exception("template sync of project %s failed", project_id)
            return None

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dispatcher %s started", self.worker_id)
        try:
            while not stop.is_set():
                try:
                    work = await self.tick()
                except Exception:
                    log.exception("dispatcher round failed; retrying")
                    work = 0
                    await asyncio.sleep(1)
                if work == 0:
                    self.wake.clear()
                    try:
                        await asyncio.wait_for(self.wake.wait(), timeout=self.settings.dispatcher_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Let in-flight sends finish and record them, then give the leases back."""
        for task in list(self.sync_tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=30)
        await self.record_outcomes()
        # Claimed but never started messages: hand them back now rather than after the lease.
        async with self.db.transaction() as session:
            await session.execute(
                update(Message)
                .where(Message.locked_by == self.worker_id, Message.status == "queued")
                .values(locked_until=None, locked_by=None, attempts=Message.attempts - 1)
            )
        await self.release_leases()

    async def run_until_idle(self, timeout: float = 30.0) -> None:
        """Work until nothing is due or in flight (tests and one-shot runs)."""
        deadline = time.monotonic() + timeout
        idle_rounds = 0
        while time.monotonic() < deadline:
            work = await self.tick()
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=max(0.0, deadline - time.monotonic()))
                continue
            idle_rounds = idle_rounds + 1 if work == 0 else 0
            if idle_rounds >= 2:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("dispatcher did not become idle")


