"""The Mailer: a kit/loop.Loop that sends the notification email outbox by SMTP.

Each round claims due emails (a lease, SKIP LOCKED on PostgreSQL, so several processes share
the outbox and a killed one's emails come back when the lease ends), sends them over one SMTP
connection (stdlib smtplib, in a thread: the event loop never waits on the mail server), and
records each outcome in one transaction. An email the server refuses for good (5xx) is failed
at once; one that could not be sent (no connection, a 4xx, a timeout) is tried again with
exponential backoff until WACAST_SMTP_RETRY_WINDOW_HOURS after it was queued, then failed
with its last error. Settings: WACAST_SMTP_* (README, docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.errors import MessageError
from typing import Any

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.logs import register_secret
from wacast.kit.loop import run_loop
from wacast.notifications import policy
from wacast.notifications import repository as repo

log = logging.getLogger("wacast.notifications")

BATCH = 50


@dataclass
class _Job:
    id: uuid.UUID
    to: str
    subject: str
    body: str
    attempt: int
    created_at: Any


@dataclass
class Outcome:
    ok: bool
    code: int | None  # the server's answer when it gave one
    error: str | None


class Mailer:
    """Sends queued notification emails (a kit/loop.Loop; runtime.build_loops adds it when
    WACAST_SMTP_HOST is set)."""

    name = "mailer"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self.poll_seconds = settings.smtp_poll_seconds
        register_secret(settings.smtp_password)  # never in a log line, whatever smtplib says

    async def close(self) -> None:
        return None

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self, stop)

    async def tick(self) -> int:
        return await self.send_due()

    def backoff(self, attempt: int) -> float:
        return policy.backoff(attempt, self.settings.smtp_retry_base_seconds, self.settings.smtp_retry_max_seconds) * random.uniform(0.8, 1.2)

    async def send_due(self, limit: int = BATCH) -> int:
        """One round: claim, send, record. Returns the number of emails tried."""
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.smtp_timeout * (limit + 2))
        async with self.db.transaction() as session:
            jobs = [_Job(e.id, e.to_address, e.subject, e.body, e.attempts, e.created_at)
                    for e in await repo.claim_due(session, now, lease, limit)]
        if not jobs:
            return 0
        outcomes = await asyncio.to_thread(self._send_all, jobs)
        await self._record(list(zip(jobs, outcomes, strict=True)))
        return len(jobs)

    # --- SMTP, in a thread ------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.smtp_tls == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            client.ehlo()
            if s.smtp_tls == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password)
        except Exception:
            client.close()
            raise
        return client

    def _send_all(self, jobs: list[_Job]) -> list[Outcome]:
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as error:  # no connection, TLS, a refused login, a timeout:
            # retried whatever the server's code (an operator fixes the settings; nothing is lost)
            failed = Outcome(False, None, _words(error))
            return [failed for _ in jobs]
        outcomes: list[Outcome] = []
        try:
            for job in jobs:
                outcomes.append(self._send_one(client, job))
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        return outcomes

    def _send_one(self, client: smtplib.SMTP, job: _Job) -> Outcome:
        try:
            mail = policy.message(self.settings.smtp_from, job.to, job.subject, job.body)
        except (ValueError, IndexError, TypeError, MessageError) as error:  # an address the header API refuses: it will not change
            return Outcome(False, 550, f"not sendable: {error}"[:1000])
        try:
            refused = client.send_message(mail, from_addr=self.settings.smtp_from, to_addrs=[job.to])
        except smtplib.SMTPRecipientsRefused as error:
            code = next((c for c, _ in error.recipients.values()), None)
            return Outcome(False, code, _words(error))
        except smtplib.SMTPResponseException as error:
            return Outcome(False, error.smtp_code, _words(error))
        except (OSError, smtplib.SMTPException) as error:
            return Outcome(False, None, _words(error))
        if refused:
            code, _ = next(iter(refused.values()))
            return Outcome(False, code, f"refused: {refused}"[:1000])
        return Outcome(True, 250, None)

    async def _record(self, outcomes: list[tuple[_Job, Outcome]]) -> None:
        now = utcnow()
        window = timedelta(hours=self.settings.smtp_retry_window_hours)
        async with self.db.transaction() as session:
            for job, outcome in outcomes:
                values: dict[str, Any] = {"locked_until": None, "last_error": outcome.error}
                if outcome.ok:
                    values.update(status="sent", sent_at=now)
                elif policy.permanent(outcome.code) or now - job.created_at >= window:
                    values["status"] = "failed"
                    log.warning("notification email to %s given up: %s", job.to, outcome.error)
                else:
                    values["next_attempt_at"] = now + timedelta(seconds=self.backoff(job.attempt))
                await repo.update_email(session, job.id, values)


def _words(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:1000]
