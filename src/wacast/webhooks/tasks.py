"""Delivering customer webhooks from the outbox (webhook_deliveries), in the background.

A loop claims due deliveries (FOR UPDATE SKIP LOCKED and a lease on PostgreSQL, so several
processes share the work and a killed one's rows come back), POSTs the signed envelope, logs
every attempt, and on failure schedules the next try with exponential backoff and jitter.
A delivery is given up after the retry window (24 h by default); a subscription whose
deliveries kept failing for that long is disabled with a notice (`disabled_reason`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import func, insert, or_, select, update

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from wacast.webhooks.service import check_url, sign
from wacast.idempotency.middleware import purge_expired

log = logging.getLogger("wacast.webhooks")

EXCERPT = 500
PURGE_EVERY = 600.0  # seconds between clean-ups of expired idempotency keys and old events
KEEP_EVENTS = timedelta(days=30)  # the delivery log keeps a month
USER_AGENT = "wacast-webhooks/1"


@dataclass
class _Job:
    delivery_id: uuid.UUID
    subscription_id: uuid.UUID
    attempt: int
    url: str
    secret: str
    body: bytes
    event_id: uuid.UUID
    topic: str
    event_created_at: datetime
    failing_since: datetime | None


@dataclass
class Result:
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def envelope(event_id: uuid.UUID, created_at: datetime, topic: str, attempt: int, project_id: uuid.UUID, data: Any) -> bytes:
    """The body a receiver gets: {id, created_at, topic, delivery_attempt, project_id, data}."""
    return orjson.dumps({
        "id": str(event_id), "created_at": created_at.isoformat().replace("+00:00", "Z"), "topic": topic,
        "delivery_attempt": attempt, "project_id": str(project_id), "data": data,
    })


class WebhookSender:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self._client: httpx.AsyncClient | None = None
        self.worker_id = f"webhooks-{uuid.uuid4().hex[:8]}"

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=max(4, self.settings.webhook_concurrency)),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def backoff(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: base * 2^(attempt-1), at most max, with +-20% jitter."""
        base = self.settings.webhook_retry_base_seconds * (2 ** max(0, attempt - 1))
        return min(self.settings.webhook_retry_max_seconds, base) * random.uniform(0.8, 1.2)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (started by `wacast serve` and `wacast worker`)."""
        next_purge = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_EVERY
                    await self.purge()
                done = await self.deliver_due()
            except Exception:  # the loop must survive a database hiccup
                log.exception("webhook delivery round failed")
                done = 0
            if done:
                continue
            self.wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            await asyncio.wait(waiters, timeout=self.settings.webhook_poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        await self.close()

    async def purge(self) -> None:
        """Forget idempotency keys past their 24 h and webhook events (with their log) past 30 days."""
        from sqlalchemy import delete


        await purge_expired(self.db)
        async with self.db.transaction() as session:
            await session.execute(delete(WebhookEvent).where(WebhookEvent.created_at < utcnow() - KEEP_EVENTS))

    async def run_until_idle(self, max_rounds: int = 1000) -> int:
        """Deliver everything due now (tests and `wacast webhooks deliver`); returns attempts made."""
        total = 0
        for _ in range(max_rounds):
            done = await self.deliver_due()
            if not done:
                break
            total += done
        return total

    async def _claim(self, limit: int, only: uuid.UUID | None = None) -> list[_Job]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_timeout + 30)
        async with self.db.transaction() as session:
            stmt = (
                select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.subscription_id)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                    or_(WebhookSubscription.active.is_(True), WebhookEvent.topic == "webhook.test"),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
            )
            if only is not None:
                stmt = stmt.where(WebhookDelivery.id == only)
            if session.bind.dialect.name == "postgresql":
                stmt = stmt.with_for_update(of=WebhookDelivery, skip_locked=True)
            claimed = (await session.execute(stmt)).all()
            if not claimed:
                return []
            ids = [r.id for r in claimed]
            await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(locked_until=lease, attempts=WebhookDelivery.attempts + 1)
            )
            rows = (
                await session.execute(
                    select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookEvent, WebhookSubscription)
                    .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                    .where(WebhookDelivery.id.in_(ids))
                )
            ).all()
            return [
                _Job(
                    delivery_id, sub.id, attempts, sub.url, sub.secret,
                    envelope(event.id, event.created_at, event.topic, attempts, event.project_id, event.data),
                    event.id, event.topic, event.created_at, sub.failing_since,
                )
                for delivery_id, attempts, event, sub in rows
            ]

    async def post(self, job: _Job) -> Result:
        """One HTTP attempt; never raises."""
        started = time.perf_counter()
        try:
            await check_url(job.url, allow_private=self.settings.allow_private_webhook_hosts)
            response = await self.client.post(
                job.url, content=job.body,
                headers={
                    "Content-Type": "application/json",
                    "X-Wacast-Signature": sign(job.secret, job.body),
                    "X-Wacast-Event-Id": str(job.event_id),
                    "X-Wacast-Topic": job.topic,
                    "X-Wacast-Delivery-Attempt": str(job.attempt),
                },
            )
            text = response.text[:EXCERPT] if response.content else None
            return Result(response.status_code, int((time.perf_counter() - started) * 1000), text, None if response.is_success else f"HTTP {response.status_code}")
        except Exception as error:  # timeouts, refused connections, DNS, forbidden hosts
            message = getattr(error, "message", None) or str(error) or type(error).__name__
            return Result(None, int((time.perf_counter() - started) * 1000), None, f"{type(error).__name__}: {message}"[:1000])

    async def deliver_now(self, delivery_id: uuid.UUID) -> Result | None:
        """Attempt one delivery at once (the test-send button); None if it is not due."""
        jobs = await self._claim(1, only=delivery_id)
        if not jobs:
            return None
        result = await self.post(jobs[0])
        await self._record([(jobs[0], result)])
        return result

    async def deliver_due(self, limit: int = 100) -> int:
        """One round: claim, send concurrently, record. Returns the number of attempts made."""
        jobs = await self._claim(limit)
        if not jobs:
            return 0
        semaphore = asyncio.Semaphore(max(1, self.settings.webhook_concurrency))

        async def one(job: _Job) -> Result:
            async with semaphore:
                return await self.post(job)

        results = await asyncio.gather(*(one(j) for j in jobs))
        await self._record(list(zip(jobs, results, strict=True)))
        return len(jobs)

    async def _record(self, outcomes: list[tuple[_Job, Result]]) -> None:
        now = utcnow()
        window = timedelta(hours=self.settings.webhook_retry_window_hours)
        async with self.db.transaction() as session:
            await session.execute(insert(WebhookAttempt.__table__), [
                {"delivery_id": j.delivery_id, "subscription_id": j.subscription_id, "attempt": j.attempt, "status_code": r.status_code,
                 "latency_ms": r.latency_ms, "response_excerpt": r.excerpt, "error": r.error, "at": now}
                for j, r in outcomes
            ])
            succeeded: set[uuid.UUID] = set()
            failed: dict[uuid.UUID, str] = {}
            for job, result in outcomes:
                values: dict[str, Any] = {"locked_until": None, "last_status_code": result.status_code, "last_error": result.error}
                if result.ok:
                    values.update(status="delivered", delivered_at=now)
                    succeeded.add(job.subscription_id)
                elif now - job.event_created_at >= window or job.topic == "webhook.test":
                    values["status"] = "failed"  # gave up: the retry window is over (a test send is tried once)
                else:
                    values["next_attempt_at"] = now + timedelta(seconds=self.backoff(job.attempt))
                if not result.ok and job.topic != "webhook.test":
                    failed[job.subscription_id] = result.error or "failed"
                await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == job.delivery_id).values(**values))
            if succeeded:
                await session.execute(
                    update(WebhookSubscription).where(WebhookSubscription.id.in_(succeeded)).values(failing_since=None)
                )
            for sub_id, error in failed.items():
                if sub_id in succeeded:
                    continue
                await session.execute(
                    update(WebhookSubscription)
                    .where(WebhookSubscription.id == sub_id)
                    .values(failing_since=func.coalesce(WebhookSubscription.failing_since, now))
                )
                await session.execute(
                    update(WebhookSubscription)
                    .where(
                        WebhookSubscription.id == sub_id, WebhookSubscription.active.is_(True),
                        WebhookSubscription.failing_since <= now - window,
                    )
                    .values(
                        active=False, disabled_at=now, updated_at=now,
                        disabled_reason=(
                            f"Disabled by wacast on {now:%Y-%m-%d %H:%M} UTC: every delivery failed for "
                            f"{self.settings.webhook_retry_window_hours:g} hours (last error: {error}). "
                            "Fix the receiver, then re-enable the webhook (PATCH active=true)."
                        )[:1000],
                    )
                )
