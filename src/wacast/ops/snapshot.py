"""What is flowing and why not, read from the database: shared by /readyz and /metrics.

Computed at most once every WACAST_METRICS_CACHE_SECONDS per process (a few small queries:
the queue aggregated per sender number, the dispatchers' heartbeats, the inbound backlog).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.db.migrate import current_revision, head_revision
from wacast.kit import metrics
from wacast.kit.clock import utcnow
from wacast.messages.senders import account_hold
from wacast.ops import repository
from wacast.projects import guardrails
from wacast.projects import repository_guardrails as guard_repo
from wacast.whatsapp import account_policy, event_kinds
from wacast.whatsapp import repository_accounts as accounts_repo

# A message due this long ago and still queued means sending is stuck for that number.
STUCK_AFTER_SECONDS = 300


@dataclass
class Snapshot:
    taken_at: datetime
    senders: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    inbound_pending: int
    inbound_oldest_age: float | None
    outbound: dict[str, Any] = field(default_factory=dict)
    webhook_fields: list[event_kinds.FieldTotal] = field(default_factory=list)  # Meta's webhook fields received
    # The guardrails (projects/guardrails.py): each number's rating and its portfolio's limit,
    # and the templates a category change holds per project.
    numbers: list[dict[str, Any]] = field(default_factory=list)
    category_held: dict[str, int] = field(default_factory=dict)

    @property
    def live_workers(self) -> list[dict[str, Any]]:
        return [w for w in self.workers if w["alive"]]


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 3)


def _aware(value: Any) -> datetime | None:
    """min(CASE ...) loses the column type: SQLite gives a string, PostgreSQL a naive datetime."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def sender_label(row: Any) -> str:
    return row.sender_number or row.phone_number_id or f"sandbox:{row.name}"


async def take(db: Database, settings: Settings) -> Snapshot:
    now = utcnow()
    fresh_for = 2 * settings.sender_lease_seconds
    async with db.read() as session:  # no write lock on SQLite: a scrape never holds up a send
        rows = await repository.senders(session, now)
        worker_rows = await repository.workers(session)
        pending, oldest = await repository.inbound_backlog(session, now)
        out_pending, out_oldest, failing, disabled = await repository.outbound_webhooks(session, now)
        webhook_fields = await event_kinds.totals(session)
        accounts = await accounts_repo.statuses(session, [row.waba_id for row in rows])
        number_rows = await guard_repo.all_numbers(session)
        limits = {limit.waba_id: limit for limit in await guard_repo.all_portfolio_limits(session)}
        held_counts = await guard_repo.category_held_counts(session)
    names = {row.id: row.name for row in rows}
    numbers = []
    for n in number_rows:
        limit = limits.get(n.waba_id)
        tier = limit.tier if limit else n.current_limit
        numbers.append({"number": n.display_phone_number, "waba_id": n.waba_id, "rating": guardrails.rating_of(n.quality, n.flagged),
                        "tier": tier, "daily_limit": guardrails.limit_of(tier)})
    category_held = {names.get(project_id, str(project_id)): count for project_id, count in held_counts.items()}
    outbound = {"pending": out_pending, "oldest_age_seconds": _age(now, out_oldest),
                "subscriptions_failing": failing, "subscriptions_disabled": disabled}
    workers = [
        {"id": w.id, "started_at": w.started_at.isoformat(), "heartbeat_age_seconds": _age(now, w.heartbeat_at),
         "alive": _age(now, w.heartbeat_at) <= fresh_for}
        for w in worker_rows
    ]
    alive = {w["id"] for w in workers if w["alive"]}
    senders = []
    for row in rows:
        metrics.remember_project(row.id, row.name)
        lease_ok = row.holder is not None and row.expires_at is not None and row.expires_at > now and row.holder in alive
        problems = []
        if row.halted_reason:
            problems.append(f"sending halted: {row.halted_reason}; fix the cause, then `wacast projects update {row.name} --clear-halt`")
        account = account_status(row, accounts.get(row.waba_id), now)
        if account["held"]:
            problems.append(f"sending held by Meta's account state: {account['held']}; it lifts by itself "
                            f"(docs/account-status.md), nothing to clear")
        if row.queued and not lease_ok:
            problems.append(f"{row.queued} message(s) queued but no live dispatcher holds this number: start `wacast worker` (or serve with the dispatcher on)")
        oldest_age = _age(now, row.oldest)
        due_age = _age(now, _aware(row.oldest_due))
        if row.due and not row.halted_reason and not account["held"] and (due_age or 0) > STUCK_AFTER_SECONDS:
            problems.append(f"{row.due} message(s) due and not sent; the oldest has been due for {int(due_age)} s")
        senders.append({
            "project": row.name,
            "sender": sender_label(row),
            "provider": "cloud" if row.cloud else "sandbox",
            "messages_per_second": row.messages_per_second,
            "queued": int(row.queued),
            "due": int(row.due),
            "held": int(row.held),
            "in_flight": int(row.in_flight),
            "oldest_queued_age_seconds": oldest_age,
            "oldest_due_age_seconds": due_age,
            "held_reason": row.held_reason if row.held else None,
            "halted_reason": row.halted_reason,
            "account": account,
            "dispatcher": row.holder if lease_ok else None,
            "lease_expires_in_seconds": _age(row.expires_at, now) if lease_ok else None,
            "ok": not problems,
            "problems": problems,
        })
    return Snapshot(now, senders, workers, pending, _age(now, oldest), outbound, webhook_fields, numbers, category_held)


def account_status(row: Any, stored: Any, now: datetime) -> dict[str, Any]:
    """A sender's account state from Meta (account_update): what holds its sends (as the
    dispatcher reads it: projects.account_hold) and each restriction, ban or warning in force."""
    notices = account_policy.notices(account_policy.state_of(stored), now)
    until = row.account_hold_until
    held = account_hold(row, now)
    return {
        "waba_id": row.waba_id,
        "held": held,
        "held_until": until.isoformat() if held and until else None,
        "notices": [{"kind": n.kind, "severity": n.severity, "what": n.words, "effect": n.effect,
                     "since": n.since.isoformat() if n.since else None, "until": n.until.isoformat() if n.until else None}
                    for n in notices],
    }


class SnapshotCache:
    """One snapshot per process, reused for WACAST_METRICS_CACHE_SECONDS."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.value: Snapshot | None = None
        self.at = 0.0
        self.lock = asyncio.Lock()

    async def get(self) -> Snapshot:
        async with self.lock:
            if self.value is None or time.monotonic() - self.at >= self.settings.metrics_cache_seconds:
                self.value = await asyncio.wait_for(take(self.db, self.settings), self.settings.readyz_timeout_seconds)
                self.at = time.monotonic()
            return self.value


_head: list[str | None] = []


def head() -> str | None:
    if not _head:
        _head.append(head_revision())
    return _head[0]


async def readiness(state: Any) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 when this process cannot do its work (database, schema,
    dispatcher); 200 with status `degraded` when a sender number cannot send, saying why."""
    settings: Settings = state.settings
    db: Database = state.db
    checks: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        async with db.read() as session:
            await asyncio.wait_for(repository.ping(session), settings.readyz_timeout_seconds)
        checks["database"] = {"ok": True, "backend": db.engine.dialect.name, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as error:  # noqa: BLE001 (any failure means not ready)
        checks["database"] = {"ok": False, "backend": db.engine.dialect.name, "error": f"{type(error).__name__}: database unreachable"}
        return 503, {"status": "unavailable", "checks": checks, "problems": ["the database is unreachable"]}
    problems: list[str] = []
    try:
        current = await asyncio.wait_for(current_revision(db.engine), settings.readyz_timeout_seconds)
    except Exception:  # noqa: BLE001
        current = None
    checks["migrations"] = {"ok": current == head(), "current": current, "head": head()}
    if current != head():
        problems.append(f"the database schema is at {current}, this wacast needs {head()}: run `wacast migrate`")
    try:
        snapshot = await state.ops_snapshots.get()
    except Exception as error:  # noqa: BLE001
        checks["dispatcher"] = {"ok": False, "error": f"{type(error).__name__}"}
        problems.append("the queue could not be read")
        return 503, {"status": "unavailable", "checks": checks, "problems": problems}
    dispatcher = getattr(state, "dispatcher", None)
    in_process: dict[str, Any] | None = None
    if dispatcher is not None:
        task = getattr(state, "dispatcher_task", None)
        refreshed = time.monotonic() - dispatcher.last_lease_refresh if dispatcher.last_lease_refresh else None
        running = task is None or not task.done()
        in_process = {
            "id": dispatcher.worker_id,
            "running": running,
            "last_heartbeat_seconds_ago": round(refreshed, 3) if refreshed is not None else None,
            "ok": running and refreshed is not None and refreshed <= 2 * settings.sender_lease_seconds,
        }
        if not in_process["ok"]:
            problems.append("this process's dispatcher is not running or its heartbeat is stale")
    live = snapshot.live_workers
    dispatcher_ok = bool(live) and (in_process is None or in_process["ok"])
    if not live:
        problems.append("no live dispatcher: start `wacast worker` (or `wacast serve` with WACAST_RUN_DISPATCHER=1)")
    checks["dispatcher"] = {
        "ok": dispatcher_ok,
        "in_process": in_process,
        "live_workers": len(live),
        "workers": snapshot.workers,
    }
    checks["inbound_events"] = {"pending": snapshot.inbound_pending, "oldest_age_seconds": snapshot.inbound_oldest_age}
    checks["outbound_webhooks"] = snapshot.outbound
    if snapshot.outbound.get("subscriptions_failing"):
        problems.append(f"{snapshot.outbound['subscriptions_failing']} customer webhook subscription(s) failing: see their delivery log")
    sender_problems = [f"{s['project']}: {p}" for s in snapshot.senders for p in s["problems"]]
    fatal = not (checks["migrations"]["ok"] and dispatcher_ok)
    degraded = bool(sender_problems or snapshot.outbound.get("subscriptions_failing"))
    status = "unavailable" if fatal else ("degraded" if degraded else "ok")
    body = {
        "status": status,
        "checks": checks,
        "senders": snapshot.senders,
        "problems": problems + sender_problems,
        "snapshot_at": snapshot.taken_at.isoformat(),
    }
    return (503 if fatal else 200), body


def families(snapshot: Snapshot) -> list[Any]:
    """The scrape-time gauges, from one snapshot."""
    labels = ["project", "sender"]
    depth = GaugeMetricFamily("wacast_queue_depth", "Queued messages per sender number (due, held and scheduled).", labels=labels)
    due = GaugeMetricFamily("wacast_queue_due", "Queued messages due now and not held, per sender number.", labels=labels)
    held = GaugeMetricFamily("wacast_queue_held", "Queued messages held (template paused, sender halted...), per sender number.", labels=labels)
    oldest = GaugeMetricFamily("wacast_queue_oldest_age_seconds", "Age of the oldest queued message per sender number (0 when empty).", labels=labels)
    oldest_due = GaugeMetricFamily("wacast_queue_oldest_due_age_seconds", "How long the longest-due message (due now, not held) has waited past its send time.", labels=labels)
    halted = GaugeMetricFamily("wacast_sender_halted", "1 when Meta refused the sender and sending is halted (see /readyz for the reason).", labels=labels)
    served = GaugeMetricFamily("wacast_sender_served", "1 when a live dispatcher holds the sender number's lease.", labels=labels)
    account_held = GaugeMetricFamily("wacast_account_held", "1 when Meta's account state (a restriction, a disabled account) holds "
                                     "the sender's sends; it lifts by itself (see /readyz for why and until when).", labels=labels)
    restricted = GaugeMetricFamily("wacast_account_restricted", "1 per restriction or ban state Meta put on the sender's WhatsApp "
                                   "Business Account and still in force (the restriction label: Meta's type).",
                                   labels=[*labels, "restriction"])
    for s in snapshot.senders:
        values = [s["project"], s["sender"]]
        depth.add_metric(values, s["queued"])
        due.add_metric(values, s["due"])
        held.add_metric(values, s["held"])
        oldest.add_metric(values, s["oldest_queued_age_seconds"] or 0.0)
        oldest_due.add_metric(values, s["oldest_due_age_seconds"] or 0.0)
        halted.add_metric(values, 1 if s["halted_reason"] else 0)
        served.add_metric(values, 1 if s["dispatcher"] else 0)
        account_held.add_metric(values, 1 if s["account"]["held"] else 0)
        for notice in s["account"]["notices"]:
            if notice["kind"] != "ACCOUNT_VIOLATION":
                restricted.add_metric([*values, notice["kind"]], 1)
    workers = GaugeMetricFamily("wacast_dispatchers_alive", "Dispatchers with a fresh heartbeat.", value=len(snapshot.live_workers))
    inbound = GaugeMetricFamily("wacast_inbound_events_pending", "Provider events (Meta's webhooks) stored and not processed yet.", value=snapshot.inbound_pending)
    inbound_age = GaugeMetricFamily("wacast_inbound_events_oldest_age_seconds", "Age of the oldest unprocessed provider event.", value=snapshot.inbound_oldest_age or 0.0)
    out = [depth, due, held, oldest, oldest_due, halted, served, account_held, restricted, workers, inbound, inbound_age]
    o = snapshot.outbound
    out += [
        GaugeMetricFamily("wacast_outbound_webhook_backlog", "Customer webhook deliveries pending.", value=o.get("pending", 0)),
        GaugeMetricFamily("wacast_outbound_webhook_oldest_age_seconds", "Age of the oldest pending customer webhook delivery.",
                          value=o.get("oldest_age_seconds") or 0.0),
        GaugeMetricFamily("wacast_webhook_subscriptions_failing", "Active customer webhook subscriptions whose deliveries fail.",
                          value=o.get("subscriptions_failing", 0)),
        GaugeMetricFamily("wacast_webhook_subscriptions_disabled", "Customer webhook subscriptions wacast turned off after failing.",
                          value=o.get("subscriptions_disabled", 0)),
    ]
    out.append(event_kinds.metric_family(snapshot.webhook_fields))  # wacast_webhook_events_total{field,handled}
    out += guardrail_families(snapshot)
    return out


def guardrail_families(snapshot: Snapshot) -> list[Any]:
    """The guardrails' gauges: each number's quality and messaging limit (Meta's
    phone_number_quality_update), and the templates held by a category change."""
    quality = GaugeMetricFamily("wacast_number_quality", "A business number's quality as Meta last reported it: 3 GREEN, 2 YELLOW, "
                                "1 RED, 0 FLAGGED, -1 not rated (the rating label says it in words).", labels=["number", "waba_id", "rating"])
    limit = GaugeMetricFamily("wacast_messaging_limit", "The messaging limit of the number's business portfolio: unique users per "
                              "24 hours, shared by its numbers (+Inf: unlimited or not set).", labels=["number", "waba_id", "tier"])
    for n in snapshot.numbers:
        quality.add_metric([n["number"], n["waba_id"], n["rating"]], guardrails.RATING_VALUES.get(n["rating"], -1))
        if n["tier"]:
            limit.add_metric([n["number"], n["waba_id"], n["tier"]], float(n["daily_limit"]) if n["daily_limit"] is not None else math.inf)
    held = GaugeMetricFamily("wacast_templates_category_held", "Templates whose sends wait because Meta recategorised them from "
                             "UTILITY to MARKETING and no manager has accepted it yet.", labels=["project"])
    for project, count in sorted(snapshot.category_held.items()):
        held.add_metric([project], count)
    return [quality, limit, held]
