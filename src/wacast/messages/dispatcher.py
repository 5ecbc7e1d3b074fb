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
from wacast.contacts.models import Contact
from wacast.db.dialect import insert_ignore
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.messages import repository as repo
from wacast.messages.models import InboundEvent, Message
from wacast.projects.models import Project, SenderLease, Worker
from wacast.templates.models import Template
from wacast.whatsapp.errors import ErrorClass, classify
from wacast.whatsapp.events import EventProcessor, dedupe_key
from wacast.whatsapp.provider import OutgoingMessage, Provider, SendResult

log = logging.getLogger("wacast.dispatcher")

HOLD_TEMPLATE_STATUSES = {"PAUSED", "DISABLED", "PENDING", "IN_APPEAL", "FLAGGED", "LOCKED", "LIMIT_EXCEEDED"}
DEAD_TEMPLATE_STATUSES = {"REJECTED", "DELETED", "ARCHIVED", "PENDING_DELETION"}
PAIR_INTERVAL = 6.0  # Meta: one message every 6 s to the same user...
PAIR_BURST = 3  # ...with a small burst allowed.


class Pacer:
    """Spaces sends of one sender number at 1/rate seconds, so that no one-second window
    ever holds more than `rate` sends, across bursts and restarts of the lane."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.next_slot = 0.0
        self.slowdown_until = 0.0

    @property
    def interval(self) -> float:
        # After a 130429 Meta told us we were too fast: half speed for a while.
        factor = 2.0 if time.monotonic() < self.slowdown_until else 1.0
        return factor / max(self.rate, 0.1)

    def reserve(self) -> float:
        """The monotonic time at which the next send may start."""
        now = time.monotonic()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        return slot

    def backlog_seconds(self) -> float:
        return max(0.0, self.next_slot - time.monotonic())


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

    def prune(self) -> None:
        if len(self.buckets) > 100_000:
            cutoff = time.monotonic() - PAIR_INTERVAL * PAIR_BURST
            self.buckets = {k: v for k, v in self.buckets.items() if v[1] > cutoff}


@dataclass
class Lane:
    project: Any
    pacer: Pacer
    in_flight: int = 0


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
            # Give back what is above our fair share, so a new worker gets numbers to serve.
            keep = mine[:fair_share] if len(mine) > fair_share else mine
            for project in mine[len(keep):]:
                await session.execute(delete(SenderLease).where(SenderLease.project_id == project.id, SenderLease.holder == self.worker_id))
            held = {p.id for p in keep}
            for project in projects:
                if project.id in held:
                    await session.execute(
                        update(SenderLease).where(SenderLease.project_id == project.id, SenderLease.holder == self.worker_id).values(expires_at=now + lease_for)
                    )
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
            for project in projects:
                if project.id in held:
                    lane = self.lanes.get(project.id)
                    if lane is None:
                        self.lanes[project.id] = Lane(project, Pacer(project.messages_per_second))
                    else:
                        lane.project = project
                        lane.pacer.rate = project.messages_per_second
            for project_id in list(self.lanes):
                if project_id not in held and self.lanes[project_id].in_flight == 0:
                    del self.lanes[project_id]
        self.last_lease_refresh = time.monotonic()

    async def release_leases(self) -> None:
        async with self.db.transaction() as session:
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
            if project.halted_reason:
                continue
            room = self.settings.dispatcher_concurrency - sum(l.in_flight for l in self.lanes.values())
            # Claim about one second of sending ahead, never more than we can run at once.
            ahead = max(1, int(lane.pacer.rate * 1.0 - lane.pacer.backlog_seconds() * lane.pacer.rate))
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
        if template is not None and template.status in HOLD_TEMPLATE_STATUSES:
            outcome.hold_reason = f"template {template.name} is {template.status}"
            outcome.hold_seconds = 60
            self._finish(outcome)
            return
        if template is not None and template.status in DEAD_TEMPLATE_STATUSES:
            outcome.fail = (132001, f"Template {template.name} is {template.status}", "the template can no longer be sent")
            self._finish(outcome)
            return
        wait = self.pair.wait_for(row.destination)
        if wait > 0:
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
                await asyncio.sleep(delay)
            provider = self.providers[lane.project.provider]
            message = OutgoingMessage(str(row.id), str(lane.project.id), row.destination, row.payload)
            try:
                outcome.result = await provider.send(lane.project, message, template)
            except Exception as error:  # a provider bug must not lose the message: retry it
                log.exception("provider %s failed on message %s", provider.name, row.id)
                from wacast.whatsapp.provider import ProviderError

                outcome.result = SendResult(error=ProviderError(None, f"internal error: {type(error).__name__}"))
            if outcome.result.error and outcome.result.error.code == 130429:
                lane.pacer.slowdown_until = time.monotonic() + 10
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
                for outcome in batch:
                    await self._record(session, outcome)
        except Exception:
            # Nothing is lost: unrecorded messages keep their lease and come back after it.
            log.exception("recording %d outcomes failed", len(batch))
            return 0
        return len(batch)

    async def _record(self, session, outcome: Outcome) -> None:  # noqa: ANN001
        now = utcnow()
        if outcome.fail:
            code, title, details = outcome.fail
            await repo.mark_failed(session, outcome.message_id, self.worker_id, now, code, title, details)
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
                wait = min(2.0 ** outcome.attempts, 900) * random.uniform(0.5, 1.0)
                if error.retry_after:
                    wait = max(wait, error.retry_after)
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
        await repo.mark_failed(session, outcome.message_id, self.worker_id, now, error.code, error.title, error.details)

    # --- the loop -----------------------------------------------------------------------

    async def tick(self) -> int:
        """One round of work; returns how much was done (0 when idle)."""
        if time.monotonic() - self.last_lease_refresh > self.settings.sender_lease_seconds / 3:
            await self.refresh_leases()
        work = await self.fill()
        work += await self.record_outcomes()
        work += await self.events.process_due()
        return work

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


