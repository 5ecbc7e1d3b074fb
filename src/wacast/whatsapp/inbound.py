"""The inbound event loop: applies stored provider events (Meta's webhook bodies and the
sandbox's reports), once each, in batches.

Events are stored first (api/meta_webhooks.py, the dispatcher for the sandbox's reports;
messages/repository_inbound.py) and applied here, so a crash between the two loses nothing:
unprocessed rows are picked up again. Statuses move messages up their ladder, inbound
messages become replies (and opt-outs), template events update templates.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.config import Settings
from wacast.db.engine import Database
from wacast.kit.clock import utcnow
from wacast.kit.loop import run_loop
from wacast.messages.repository_inbound import (
    claim_due_inbound_events,
    mark_inbound_processed,
)
from wacast.models.projects import Project
from wacast.projects import repository as projects_repo
from wacast.webhooks.outbox import remember_subscribers
from wacast.whatsapp.account_events import apply_account_update
from wacast.whatsapp.number_quality import apply_quality_update
from wacast.whatsapp.event_kinds import FieldCounts, record
from wacast.whatsapp.inbound_messages import apply_messages_value
from wacast.whatsapp.sandbox import SANDBOX_PHONE_PREFIX
from wacast.whatsapp.statuses import StatusReport, apply_statuses, as_uuid
from wacast.whatsapp.template_events import apply_template_change

log = logging.getLogger("wacast.events")

# Events applied per transaction on PostgreSQL. The statuses of a batch are applied as a set
# (whatsapp/statuses.py), so a larger batch costs little more than a small one: at 200 the loop
# fell behind a receiver taking 2,000 webhooks/s while the same worker delivered (lag p99 8.9 s),
# at 1,000 it kept up (1.4 s; bench, 2026-12-06).
BATCH = 1000
# On SQLite a batch holds the one write lock of the database while it is applied (about 1.5 ms
# an event): smaller batches let accepted requests and the dispatcher write in between.
SQLITE_BATCH = 25

# The template fields of a WABA's webhooks (whatsapp/template_events.py).
TEMPLATE_FIELDS = ("message_template_status_update", "message_template_quality_update", "template_category_update",
                   "message_template_components_update")


def _status_only(body: Any) -> list[dict] | None:
    """The `value`s of a webhook body that reports statuses and nothing else, or None."""
    if not isinstance(body, dict):
        return None
    values = []
    for entry in body.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if (change.get("field") != "messages" or not isinstance(value, dict) or value.get("messages") or value.get("user_preferences")
                    or not isinstance(value.get("statuses"), list)):
                return None
            values.append(value)
    return values or None


class InboundEvents:
    """A loop (kit/loop.py): each round applies a batch of due events in one transaction."""

    name = "inbound"

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.wake = asyncio.Event()
        self._projects: dict[tuple[str, str], Project | None] | None = None  # during a tick
        self._fields = FieldCounts()  # the fields of the events applied in this tick

    @property
    def poll_seconds(self) -> float:
        return self.settings.dispatcher_poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        await run_loop(self, stop)

    async def close(self) -> None:
        return None  # nothing held: an unfinished batch was rolled back and stays due

    async def tick(self, limit: int | None = None) -> int:
        """Apply up to `limit` due events (a batch: BATCH, SQLITE_BATCH on SQLite); how many were applied."""
        if limit is None:
            limit = SQLITE_BATCH if self.db.is_sqlite else BATCH
        async with self.db.transaction() as session:
            remember_subscribers(session)  # read once per project, not once per status
            self._projects = {}  # and each project looked up once per batch
            self._fields = FieldCounts()
            events = [(e.id, e.body, e.source) for e in await claim_due_inbound_events(session, utcnow(), limit)]
            notes_of: dict[int, list[str]] = {event_id: [] for event_id, _, _ in events}
            for event_id, body, source in await self._statuses_together(session, events, notes_of):
                # What the last event loaded is let go: each savepoint snapshots the session's
                # objects, so a batch that kept them all would cost the square of its size.
                session.expunge_all()
                notes = notes_of[event_id]
                try:
                    async with session.begin_nested():
                        await self.process_body(session, body, source, notes)
                except Exception as error:  # one bad event must not block the others
                    log.exception("event %s could not be processed", event_id)
                    notes.append(f"processing error: {type(error).__name__}: {error}")
            self._projects = None
            await record(session, self._fields)
            await mark_inbound_processed(session, [(i, "; ".join(notes_of[i])[:2000] or None) for i, _, _ in events], utcnow())
        return len(events)

    async def _statuses_together(self, session: AsyncSession, events: list[tuple[int, Any, str]],
                                 notes_of: dict[int, list[str]]) -> list[tuple[int, Any, str]]:
        """Apply the events that only report statuses (most of them: three per message sent)
        as one set (whatsapp/statuses.py); return the others, to be applied one by one. If the
        set fails as a whole, nothing of it stays and every event is returned."""
        rest: list[tuple[int, Any, str]] = []
        reports: list[StatusReport] = []
        counted = 0  # `messages` changes applied here
        for event in events:
            event_id, body, source = event
            values = _status_only(body)
            if values is None:
                rest.append(event)
                continue
            counted += len(values)
            for value in values:
                project = await self._project_or_note(session, value, source, notes_of[event_id])
                if project is not None:
                    reports.extend(StatusReport(project, status, notes_of[event_id]) for status in value["statuses"])
        if len(rest) == len(events):
            return rest
        try:
            async with session.begin_nested():
                await apply_statuses(session, reports)
            self._fields.add("messages", True, counted)
        except Exception:  # e.g. a lost row lock: the slower path still isolates each event
            log.warning("%d status events could not be applied together; applying them one by one",
                        len(events) - len(rest), exc_info=True)
            for notes in notes_of.values():
                notes.clear()
            session.expunge_all()
            return events
        return rest

    async def process_body(self, session: AsyncSession, body: dict, source: str, notes: list[str]) -> None:
        if not isinstance(body, dict):
            notes.append("body is not an object")
            return
        for entry in body.get("entry") or []:
            if not isinstance(entry, dict):
                continue
            for change in entry.get("changes") or []:
                if not isinstance(change, dict):
                    continue
                field = str(change.get("field") or "")
                value = change.get("value") if isinstance(change.get("value"), dict) else {}
                waba_id = str(entry.get("id", ""))
                if field in ("messages", "user_preferences"):
                    self._fields.add(field, True)
                    await self._messages_change(session, value, source, notes)
                elif field in TEMPLATE_FIELDS:
                    self._fields.add(field, True)
                    await apply_template_change(session, waba_id, field, value, notes)
                elif field == "account_update":
                    self._fields.add(field, True)
                    await apply_account_update(session, waba_id, value, notes)
                elif field == "phone_number_quality_update":
                    self._fields.add(field, True)
                    await apply_quality_update(session, waba_id, value, notes)
                else:
                    self._fields.add(field, False)
                    notes.append(f"field {field} ignored")

    async def _project_for(self, session: AsyncSession, value: dict, source: str) -> Project | None:
        """The project an event speaks for, looked up once per batch (tick)."""
        phone_number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
        projects = self._projects
        if projects is None:  # outside a tick (the dashboard's sandbox applies one event)
            return await self._find_project(session, phone_number_id, source)
        if (phone_number_id, source) not in projects:
            projects[(phone_number_id, source)] = await self._find_project(session, phone_number_id, source)
        return projects[(phone_number_id, source)]

    async def _find_project(self, session: AsyncSession, phone_number_id: str, source: str) -> Project | None:
        if phone_number_id.startswith(SANDBOX_PHONE_PREFIX):
            if source != "sandbox":
                return None  # Meta can never speak for a sandbox project.
            project_id = as_uuid(phone_number_id[len(SANDBOX_PHONE_PREFIX) :])
            return await projects_repo.get(session, project_id) if project_id else None
        if not phone_number_id:
            return None
        return await projects_repo.find_by_phone_number_id(session, phone_number_id)

    async def _project_or_note(self, session: AsyncSession, value: dict, source: str, notes: list[str]) -> Project | None:
        project = await self._project_for(session, value, source)
        if project is None:
            phone_number_id = (value.get("metadata") or {}).get("phone_number_id")
            notes.append(f"unknown phone_number_id {phone_number_id!r}")
            log.warning("Meta event for unknown phone_number_id %r stored, not applied (no project has this number)", phone_number_id)
        return project

    async def _messages_change(self, session: AsyncSession, value: dict, source: str, notes: list[str]) -> None:
        project = await self._project_or_note(session, value, source, notes)
        if project is None:
            return
        statuses = value.get("statuses") or []
        if isinstance(statuses, list):
            await apply_statuses(session, [StatusReport(project, status, notes) for status in statuses])
        await apply_messages_value(session, project, value, notes)
