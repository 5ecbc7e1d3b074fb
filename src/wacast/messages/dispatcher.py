"""The dispatcher: sends queued messages, driven only by the database.

One loop per process (`wacast serve` on the embedded default, `wacast worker` at scale), in the
shape of kit/loop.py:
- holds leases on sender numbers (one worker per number, so its rate limits are exact);
- claims due messages of those numbers with a lease of their own (a killed worker's messages
  come back when the lease runs out);
- paces sends at the number's cap and each recipient's pair rate (messages/pacing.py);
- records each outcome (sent, retry later, failed, hold, halt: messages/retry_policy.py) in
  batched transactions;
- claims nothing for a number that Meta's account state holds (a restriction on
  business-initiated messaging, a disabled account: projects.account_hold, loaded with the
  lease refresh and checked against the clock, so it lifts at its expiration); a send claimed
  before the hold was known is held, not sent, until the hold's end;
- holds the sends of a template whose category change a manager has not accepted yet
  (templates.category_hold), and, on a number whose quality is down under `on_quality_drop =
  slow`, gives each marketing message two of the number's send slots: marketing at half the
  pace, utility and authentication at the full pace (projects/guardrails.py).

The sandbox's reports (sent, delivered, read) are stored as inbound events, which the inbound
event loop (whatsapp/inbound.py) applies; `notify_inbound` wakes it.
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
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.config import Settings
from wacast.contacts import repository as contacts_repo
from wacast.db.engine import Database
from wacast.kit import metrics
from wacast.kit.clock import utcnow
from wacast.kit.loop import run_loop
from wacast.messages import repository as repo
from wacast.messages import repository_leases as leases
from wacast.messages.pacing import Pacer, PairRate
from wacast.messages.provider import (
    OutgoingMessage,
    Provider,
    ProviderError,
    SendResult,
    timed_send,
)
from wacast.messages.repository_inbound import store_inbound_events
from wacast.messages.retry_policy import HALT_SENDER_SECONDS, HELD_TEMPLATE_SECONDS, Action, Decision, after_error, before_send
from wacast.messages.senders import account_hold
from wacast.notifications.service import notify
from wacast.projects import guardrails
from wacast.projects import repository as projects_repo
from wacast.templates import repository as templates_repo

log = logging.getLogger("wacast.dispatcher")


@dataclass
class Lane:
    project: Any
    pacer: Pacer
    in_flight: int = 0
    held: bool = True  # False once the sender lease is given back: finish, claim no more


@dataclass
class Outcome:
    message_id: uuid.UUID
    project_id: uuid.UUID
    contact_id: uuid.UUID
    destination: str
    attempts: int
    template_id: uuid.UUID | None = None
    sender: str = ""  # the business number (messages/pacing.PairRate's key with the destination)
    result: SendResult | None = None
    # Decided before any send: too old, template held or dead (retry_policy.before_send).
    before: Decision | None = None
    pair_wait: float = 0.0  # not sent: this recipient's pair rate asks to wait this long
    # A send must start while the message lease is surely still ours (monotonic time).
    send_by: float = float("inf")
    expired: bool = False
    deferrals: int = 0  # times Meta's marketing limit (131049) deferred it before (retry_policy.marketing_limit)


def business_number(project: Any) -> str:
    """Who sends, as Meta counts the pair rate: the Cloud API number, or the sandbox project."""
    if project.provider == "cloud":
        return f"cloud:{project.phone_number_id}"
    return f"sandbox:{project.id}"


def _nobody() -> None:
    return None


@dataclass
class Dispatcher:
    db: Database
    settings: Settings
    providers: dict[str, Provider]
    # Called after sandbox reports were stored as inbound events (wakes the inbound event loop).
    notify_inbound: Callable[[], None] = _nobody
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")

    name: ClassVar[str] = "dispatcher"

    def __post_init__(self) -> None:
        self.lanes: dict[uuid.UUID, Lane] = {}
        self.pair = PairRate()
        self.outcomes: deque[Outcome] = deque()
        self.tasks: set[asyncio.Task] = set()
        self.wake = asyncio.Event()
        self.last_lease_refresh = 0.0
        # Monotonic time of a lease refresh sooner than the regular beat (joining, a hand-over).
        self.next_lease_refresh = 0.0
        self.joined = False
        self.started_at = utcnow()
        self.sent_total = 0
        self._stored_reports = False

    @property
    def poll_seconds(self) -> float:
        return self.settings.dispatcher_poll_seconds

    # --- the loop -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dispatcher %s starting", self.worker_id)
        await run_loop(self, stop)

    async def tick(self) -> int:
        """One round of work; returns how much was done (0 when idle)."""
        now = time.monotonic()
        if now - self.last_lease_refresh > self.settings.sender_lease_seconds / 3 or now >= self.next_lease_refresh:
            await self.refresh_leases()
        work = await self.fill()
        work += await self.record_outcomes()
        return work

    async def close(self) -> None:
        """Let in-flight sends finish and record them, hand back claimed but never started
        messages now rather than after their lease, then give the leases back."""
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=30)
        await self.record_outcomes()
        async with self.db.transaction() as session:
            await repo.hand_back_claims(session, self.worker_id)
        await self.release_leases()

    # --- leases -------------------------------------------------------------------------

    async def refresh_leases(self) -> None:
        """Heartbeat, then hold a fair share of the sender numbers (one worker per number)."""
        now = utcnow()
        lease_for = timedelta(seconds=self.settings.sender_lease_seconds)
        async with self.db.transaction() as session:
            live_workers = await leases.heartbeat(session, self.worker_id, self.started_at, now, lease_for)
            joining = not self.joined and self.settings.dispatcher_join_seconds > 0
            self.joined = True
            if joining:
                # The first beat only: workers started together (a deployment, `make bench`) see
                # one another before any takes a number, so that each takes its share at once.
                # Otherwise the first takes them all and hands half over, and each number moved
                # loses seconds of sending to the hand-over's drain and quiet period.
                self.last_lease_refresh = time.monotonic()
                self.next_lease_refresh = self.last_lease_refresh + self.settings.dispatcher_join_seconds
                return
            projects = await projects_repo.all_projects(session)
            current = await leases.leases_by_project(session)
            fair_share = math.ceil(len(projects) / max(1, live_workers)) if projects else 0
            mine = [p for p in projects if p.id in current and current[p.id].holder == self.worker_id and current[p.id].expires_at > now]
            # Keep the numbers we are actively serving; a number already draining stays given back.
            mine.sort(key=lambda p: (not (p.id in self.lanes and self.lanes[p.id].held), str(p.id)))
            # Give back what is above our fair share, so a new worker gets numbers to serve.
            keep = mine[:fair_share] if len(mine) > fair_share else mine
            for project in mine[len(keep):]:
                await self._give_back(session, project.id, now, lease_for)
            held = {p.id for p in keep}
            for project_id in held:  # renew what we keep, before taking anything new
                await leases.extend(session, project_id, self.worker_id, now + lease_for)
            taken_over: set[uuid.UUID] = set()
            for project in projects:
                if project.id in held:
                    continue
                if len(held) >= fair_share:
                    break
                lease = current.get(project.id)
                # Read the holder before taking: the take's UPDATE also rewrites the loaded lease
                # object (the session synchronises it), after which it would look like ours.
                previous_holder = lease.holder if lease is not None else None
                if await leases.take(session, project.id, self.worker_id, now, now + lease_for, exists=lease is not None):
                    held.add(project.id)
                    if previous_holder is not None and previous_holder != self.worker_id:
                        taken_over.add(project.id)
        self._update_lanes(projects, held, taken_over)
        self.last_lease_refresh = time.monotonic()
        self.next_lease_refresh = self.last_lease_refresh + self._refresh_sooner(projects, current, held, fair_share, now)

    def _refresh_sooner(self, projects: Any, current: dict, held: set[uuid.UUID], fair_share: int, now: datetime) -> float:
        """Seconds to the next refresh when a hand-over is under way (inf: the regular beat).

        Each second a number waits between its old and its new holder is a second it does not
        send, so both sides look again soon: the giver as soon as its last claimed sends of a
        number are out (to release it), the taker as soon as a given-back number's quiet
        period ends, or every second while a worker above its share still has to give one."""
        if any(not lane.held for lane in self.lanes.values()):
            return 0.25  # draining a number we give back
        if len(held) >= fair_share:
            return math.inf
        holdings = Counter(lease.holder for lease in current.values() if lease.holder and lease.expires_at > now)
        waits = []
        for project in projects:
            if project.id in held:
                continue
            lease = current.get(project.id)
            if lease is None or lease.expires_at <= now:
                waits.append(0.05)  # free now (taken by someone else first, or a race lost)
            elif not lease.holder:
                waits.append((lease.expires_at - now).total_seconds() + 0.05)  # free after its quiet period
            elif lease.holder != self.worker_id and holdings[lease.holder] > fair_share:
                waits.append(1.0)  # its holder gives one back at its next refresh
        return max(0.05, min(waits)) if waits else math.inf

    async def _give_back(self, session: AsyncSession, project_id: uuid.UUID, now: datetime, lease_for: timedelta) -> None:
        """Give a number back so that the cap holds across the hand-over: first stop claiming
        and keep the lease while our claimed sends drain; then release it with a quiet period,
        so nobody sends for it before our last send has left the window."""
        lane = self.lanes.get(project_id)
        if lane is not None and lane.in_flight > 0:
            lane.held = False
            await leases.extend(session, project_id, self.worker_id, now + lease_for)
            return
        quiet = lane.pacer.quiet_after() if lane else Pacer.WINDOW + Pacer.MARGIN
        await leases.give_back(session, project_id, self.worker_id, now + timedelta(seconds=quiet))

    def _update_lanes(self, projects: Any, held: set[uuid.UUID], taken_over: set[uuid.UUID]) -> None:
        for project in projects:
            if project.id not in held:
                continue
            lane = self.lanes.get(project.id)
            if lane is None:
                pacer = Pacer(project.messages_per_second)
                pacer.start_slowly()  # its connections to Meta open during the first window
                if project.id in taken_over:
                    pacer.start_after_handover()
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

    async def release_leases(self) -> None:
        """Hand the numbers back; another worker may take each once its last sends are a
        window old (so the cap holds across the hand-over)."""
        now = utcnow()
        async with self.db.transaction() as session:
            for project_id, lane in self.lanes.items():
                await leases.give_back(session, project_id, self.worker_id, now + timedelta(seconds=lane.pacer.quiet_after()))
            await leases.sign_off(session, self.worker_id)
        self.lanes.clear()

    # --- sending ------------------------------------------------------------------------

    async def fill(self) -> int:
        """Claim due messages of each held number, as many as its pace allows soon."""
        claimed_total = 0
        lease = timedelta(seconds=self.settings.message_lease_seconds)
        now = utcnow()
        for lane in list(self.lanes.values()):
            project = lane.project
            if project.halted_reason or not lane.held or account_hold(project, now):
                continue
            room = self.settings.dispatcher_concurrency - sum(l.in_flight for l in self.lanes.values())
            # Never more than we can run at once, nor than the pace sends in about a second.
            limit = min(self.settings.dispatcher_batch_size, room, lane.pacer.claim_ahead())
            if limit <= 0:
                continue
            async with self.db.transaction() as session:
                rows = await repo.claim(session, project.id, self.worker_id, utcnow(), lease, limit)
                templates = await templates_repo.by_ids(session, {r.template_id for r in rows if r.template_id})
            for row in rows:
                self._start(lane, row, templates.get(row.template_id))
            claimed_total += len(rows)
        return claimed_total

    def _start(self, lane: Lane, row: Any, template: Any) -> None:
        outcome = Outcome(row.id, lane.project.id, row.contact_id, row.destination, row.attempts, row.template_id,
                          sender=business_number(lane.project), deferrals=row.marketing_deferrals or 0)
        lease = self.settings.message_lease_seconds
        outcome.send_by = time.monotonic() + lease - max(1.0, lease * 0.2)
        outcome.before = before_send(template, row.created_at, utcnow())
        if outcome.before is None and (hold := guardrails.category_hold(template)):
            outcome.before = Decision(Action.hold, HELD_TEMPLATE_SECONDS, reason=hold)  # a category change not accepted yet
        if outcome.before is not None:
            self._finish(outcome)
            return
        wait = self.pair.wait_for(outcome.sender, row.destination)
        if wait > 0:
            metrics.rate_limit_wait(lane.project.id, "pair", wait)
            outcome.pair_wait = wait
            self._finish(outcome)
            return
        lane.in_flight += 1
        slot = lane.pacer.reserve()
        project = lane.project
        for _ in range(guardrails.slot_cost(getattr(project, "number_quality", None), getattr(project, "on_quality_drop", None),
                                            getattr(template, "category", None)) - 1):
            lane.pacer.reserve()  # the number's quality is down: marketing takes more of its slots
        task = asyncio.create_task(self._send(lane, row, template, outcome, slot))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, lane: Lane, row: Any, template: Any, outcome: Outcome, slot: float) -> None:
        try:
            delay = slot - time.monotonic()
            if delay > 0:
                metrics.rate_limit_wait(lane.project.id, "throughput", delay)
                await asyncio.sleep(delay)
            started = time.monotonic()
            while (wait := lane.pacer.admit(started)) > 0:
                await asyncio.sleep(wait)
                started = time.monotonic()
            if time.monotonic() > outcome.send_by:
                # Waited too long (a stalled process, a slowed number): the lease may run out
                # mid-send and another worker claim the message. Do not send; give it back.
                lane.pacer.not_sent(started)
                outcome.expired = True
                return
            if (held := self._account_hold(lane)) is not None:
                lane.pacer.not_sent(started)  # claimed before the account's hold was known
                outcome.before = held
                return
            provider = self.providers[lane.project.provider]
            message = OutgoingMessage(str(row.id), str(lane.project.id), row.destination, row.payload)
            try:
                outcome.result = await timed_send(provider, lane.project, message, template)
            except Exception as error:  # a provider bug must not lose the message: retry it
                log.exception("provider %s failed on message %s", provider.name, row.id)
                outcome.result = SendResult(error=ProviderError(None, f"internal error: {type(error).__name__}"))
            finally:
                lane.pacer.answered(started, time.monotonic())  # its latency: the jitter the window allows for
            if outcome.result.error and outcome.result.error.code == 130429:
                lane.pacer.slow_down()
        finally:
            lane.in_flight -= 1
            self._finish(outcome)

    def _account_hold(self, lane: Lane) -> Decision | None:
        """A hold of the send while Meta's account state holds the number: due again when the
        hold ends (a restriction's expiration), or in a minute when Meta must lift it."""
        now = utcnow()
        reason = account_hold(lane.project, now)
        if reason is None:
            return None
        until = lane.project.account_hold_until
        delay = (until - now).total_seconds() if until is not None else HALT_SENDER_SECONDS
        return Decision(Action.hold, max(0.0, delay), reason=f"account held by Meta: {reason}"[:500])

    def _finish(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.wake.set()

    # --- recording ----------------------------------------------------------------------

    async def record_outcomes(self) -> int:
        """Write every finished send in one transaction."""
        if not self.outcomes:
            return 0
        batch = []
        while self.outcomes:
            batch.append(self.outcomes.popleft())
        self._stored_reports = False
        try:
            async with self.db.transaction() as session:
                sent = [o for o in batch if o.result is not None and o.result.wamid and not o.before]
                if sent:
                    # The hot path: one statement for all accepted sends, one for their events,
                    # one for the sandbox's reports (due after their delays).
                    now = utcnow()
                    await repo.mark_sent_many(session, [(o.message_id, o.result.wamid) for o in sent], now)
                    reports = [(body, now + timedelta(seconds=delay)) for o in sent for delay, body in o.result.followups]
                    if reports:
                        await store_inbound_events(session, "sandbox", reports, now)
                        self._stored_reports = True
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
        if self._stored_reports:
            self.notify_inbound()  # committed: the inbound event loop can apply them now
        return len(batch)

    async def _record(self, session: AsyncSession, outcome: Outcome) -> None:
        now = utcnow()
        if outcome.expired:
            await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=now, now=now, event="waiting",
                               detail={"reason": "not sent within its lease; back in the queue"}, refund_attempt=True)
            return
        if outcome.before is not None:
            await self._carry_out(session, outcome, outcome.before, now, {})
            return
        if outcome.result is None:
            await repo.release(
                session, outcome.message_id, self.worker_id,
                next_attempt_at=now + timedelta(seconds=outcome.pair_wait), now=now, event="waiting",
                detail={"reason": "pair rate: waiting for this recipient"}, refund_attempt=True,
            )
            return
        result = outcome.result
        error = result.error  # an accepted send was recorded with the batch (record_outcomes)
        decision = after_error(
            error, outcome.attempts, max_attempts=self.settings.max_send_attempts,
            retry_base_seconds=self.settings.retry_base_seconds, retry_max_seconds=self.settings.retry_max_seconds,
            jitter=random.uniform(0.5, 1.0), deferrals=outcome.deferrals,
            max_deferrals=self.settings.marketing_limit_max_deferrals, message_key=str(outcome.message_id),
        )
        await self._carry_out(session, outcome, decision, now, error.as_dict())

    async def _carry_out(self, session: AsyncSession, outcome: Outcome, decision: Decision, now: datetime, detail: dict) -> None:
        """Record what the retry policy decided for one message (`detail`: Meta's error, if any)."""
        if decision.action is Action.fail:
            if decision.opt_out:
                await contacts_repo.opt_out(session, outcome.contact_id, now)
            await repo.mark_failed(session, outcome.message_id, self.worker_id, now, decision.code, decision.title, decision.details)
            metrics.message_status(outcome.project_id, "failed", decision.code)
            return
        due = now + timedelta(seconds=decision.delay)
        if decision.action in (Action.retry, Action.defer):
            if decision.block_recipient:
                self.pair.block(outcome.sender, outcome.destination, decision.delay)
            deferred = decision.action is Action.defer  # Meta's marketing limit: held with its reason, counted
            await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=due, now=now, event="retry",
                               detail={**detail, "retry_in_seconds": round(decision.delay, 1),
                                       **({"deferral": outcome.deferrals + 1} if deferred else {})},
                               held_reason=decision.reason if deferred else None, deferred=deferred)
            return
        if decision.action is Action.halt:
            if await projects_repo.set_halted(session, outcome.project_id, decision.reason):
                await notify(session, outcome.project_id, "sender.halted", "critical", "Sending halted: Meta refused the sender",
                             f"{decision.reason}. Nothing is sent from this number until it is fixed and the halt is cleared "
                             "(`wacast projects update <project> --clear-halt`).", "/",
                             {"reason": decision.reason, "error_code": detail.get("code")})
            lane = self.lanes.get(outcome.project_id)
            if lane:
                lane.project.halted_reason = decision.reason
        if decision.template_status and outcome.template_id:
            await templates_repo.set_status(session, outcome.template_id, decision.template_status, now)
        # Held (template) or halted (sender): the attempt does not count.
        await repo.release(session, outcome.message_id, self.worker_id, next_attempt_at=due, now=now, event="held",
                           detail={**detail, "reason": decision.reason}, held_reason=decision.reason, refund_attempt=True)
