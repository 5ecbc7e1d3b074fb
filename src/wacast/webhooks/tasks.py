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

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.loop import run_loop
from wacast.kit.net import OutboundError, OutboundGuard
from wacast.webhooks import repository
from wacast.webhooks.service import sign

log = logging.getLogger("wacast.webhooks")

EXCERPT = 500
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


async def _excerpt(response: httpx.Response, limit: int = EXCERPT) -> str | None:
    """The start of the body for the log; a huge answer is not read to its end."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit * 4:  # up to 4 bytes a character in UTF-8
            break
    raw = b"".join(chunks)
    if not raw:
        return None
    try:
        return raw.decode(response.charset_encoding or "utf-8", errors="replace")[:limit]
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")[:limit]


def envelope(event_id: uuid.UUID, created_at: datetime, topic: str, attempt: int, project_id: uuid.UUID, data: Any) -> bytes:
    """The body a receiver gets: {id, created_at, topic, delivery_attempt, project_id, data}."""
    return orjson.dumps({
        "id": str(event_id), "created_at": created_at.isoformat().replace("+00:00", "Z"), "topic": topic,
        "delivery_attempt": attempt, "project_id": str(project_id), "data": data,
    })


class WebhookSender:
    """A kit/loop.Loop: each tick claims due deliveries, sends them concurrently, records them."""

    name = "webhooks"

    def __init__(self, db: Database, settings: Settings, *, guard: OutboundGuard | None = None) -> None:
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self.poll_seconds = settings.webhook_poll_seconds
        # Every POST goes through the guard (kit/net): the receiver's address is judged at each
        # delivery, not only when the subscription was saved, and the connection is pinned to it.
        self.guard = guard or OutboundGuard(
            timeout=settings.webhook_timeout, allow_private=settings.allow_private_webhook_hosts,
            max_connections=max(4, settings.webhook_concurrency), headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        await self.guard.close()

    def backoff(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: base * 2^(attempt-1), at most max, with +-20% jitter."""
        base = self.settings.webhook_retry_base_seconds * (2 ** max(0, attempt - 1))
        return min(self.settings.webhook_retry_max_seconds, base) * random.uniform(0.8, 1.2)

    async def tick(self) -> int:
        return await self.deliver_due()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set (the runtime runs it in `wacast serve` and `wacast worker`)."""
        await run_loop(self, stop)

    async def _claim(self, limit: int, only: uuid.UUID | None = None) -> list[_Job]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.webhook_timeout + 30)
        async with self.db.transaction() as session:
            rows = await repository.claim_due(session, now, lease, limit, only)
            return [
                _Job(
                    delivery_id, sub.id, attempts, sub.url, sub.secret,
                    envelope(event.id, event.created_at, event.topic, attempts, event.project_id, event.data),
                    event.id, event.topic, event.created_at, sub.failing_since,
                )
                for delivery_id, attempts, event, sub in rows
            ]

    async def post(self, job: _Job) -> Result:
        """One HTTP attempt; never raises. Redirects are not followed: a 3xx is a failed delivery."""
        started = time.perf_counter()
        headers = {
            "Content-Type": "application/json",
            "X-Wacast-Signature": sign(job.secret, job.body),
            "X-Wacast-Event-Id": str(job.event_id),
            "X-Wacast-Topic": job.topic,
            "X-Wacast-Delivery-Attempt": str(job.attempt),
        }
        try:
            async with self.guard.open("POST", job.url, content=job.body, headers=headers) as response:
                text = await _excerpt(response)
            return Result(response.status_code, int((time.perf_counter() - started) * 1000), text, None if response.is_success else f"HTTP {response.status_code}")
        except OutboundError as error:  # refused address, bad URL, DNS, timeouts, refused connections
            return Result(None, int((time.perf_counter() - started) * 1000), None, f"{type(error).__name__}: {error}"[:1000])
        except Exception as error:  # a receiver's broken answer (bad encoding, dropped mid-body)
            return Result(None, int((time.perf_counter() - started) * 1000), None, f"{type(error).__name__}: {str(error) or 'failed'}"[:1000])

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
            await repository.insert_attempts(session, [
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
                await repository.update_delivery(session, job.delivery_id, values)
            if succeeded:
                await repository.clear_failing(session, succeeded)
            for sub_id, error in failed.items():
                if sub_id in succeeded:
                    continue
                await repository.mark_failing(session, sub_id, now)
                reason = (
                    f"Disabled by wacast on {now:%Y-%m-%d %H:%M} UTC: every delivery failed for "
                    f"{self.settings.webhook_retry_window_hours:g} hours (last error: {error}). "
                    "Fix the receiver, then re-enable the webhook (PATCH active=true)."
                )[:1000]
                await repository.disable_if_failing_since(session, sub_id, now - window, now, reason)
