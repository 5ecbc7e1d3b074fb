"""Meta's status reports (and the sandbox's), applied as a set.

Three statuses come for every message sent (sent, delivered, read), so this is the busiest
write of a running system. A batch of reports costs a fixed handful of statements, whatever
its size: one locked read of the messages they name, one read of the kinds already on their
timelines, one executemany update, one executemany insert of the events, and the customer
webhooks in two statements per project. The ladder itself is the pure fold of
`messages/status_ladder.py`; a message named by several reports of the batch takes them in
arrival order.

A report names its message by wamid and by `biz_opaque_callback_data` (wacast's message id),
never by the person: a message sent to a business-scoped user id (a person without a phone
number) is reported with `recipient_user_id` and no `recipient_id`, and is followed the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.billing import service as billing
from wacast.contacts import repository as contacts_repo
from wacast.contacts import service as contacts_service
from wacast.kit import metrics
from wacast.kit.clock import utcnow
from wacast.messages import repository as messages_repo
from wacast.messages import status_ladder as ladder
from wacast.models.projects import Project
from wacast.webhooks import events as hooks


def timestamp(value: Any) -> datetime:
    """Meta's epoch-seconds string as a UTC time (now, when it is missing or absurd)."""
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


@dataclass
class StatusReport:
    """One entry of a webhook's `statuses`, the project its number belongs to, and the notes
    of the stored event it came in (what could not be applied is said there)."""

    project: Project
    body: Any
    notes: list[str] = field(default_factory=list)


def _error_of(body: dict) -> dict[str, Any]:
    first = (body.get("errors") or [{}])[0] or {}
    if not isinstance(first, dict):
        first = {}
    data = first.get("error_data")
    return {
        "code": first.get("code"),
        "title": first.get("title") or first.get("message") or "failed",
        "details": data.get("details") if isinstance(data, dict) else None,
    }


async def apply_statuses(session: AsyncSession, reports: list[StatusReport]) -> None:
    """Apply status reports in arrival order. Unknown messages and kinds are noted, not errors."""
    named = [(r, r.body.get("id"), as_uuid(r.body.get("biz_opaque_callback_data"))) for r in reports if isinstance(r.body, dict)]
    if not named:
        return
    rows = await messages_repo.lock_for_statuses(
        session, [m for _, _, m in named if m is not None], [str(w) for _, w, _ in named if isinstance(w, str) and w])
    by_id = {row.id: row for row in rows}
    by_wamid = {row.wamid: row for row in rows if row.wamid}
    per_message: dict[uuid.UUID, list[tuple[StatusReport, ladder.Report]]] = {}
    priced: list[tuple[uuid.UUID, Any, datetime]] = []  # Meta's pricing of each message, kept by billing/
    for report, wamid, message_id in named:
        kind = report.body.get("status")
        row = by_id.get(message_id) if message_id else None
        if row is None and isinstance(wamid, str):
            row = by_wamid.get(wamid)
        if row is None or row.project_id != report.project.id:
            report.notes.append(f"status {kind} for unknown message {wamid}")
            continue
        if kind not in ladder.KINDS:
            report.notes.append(f"status {kind} ignored")
            continue
        error = _error_of(report.body) if kind == "failed" else None
        if error and error["code"] == 131050:  # Meta: the person stopped marketing messages
            if await contacts_repo.opt_out(session, row.contact_id, utcnow()):
                await hooks.opted_out(session, report.project.id, contact_id=row.contact_id, reason="meta_error_131050")
            await contacts_service.withdraw_consent(session, report.project.id, row.contact_id, source="meta error 131050",
                                                    evidence=f"Meta refused message {wamid}: the person stopped marketing messages")
        pricing = report.body.get("pricing")
        category = pricing.get("category") if isinstance(pricing, dict) else None
        if category is not None:
            priced.append((row.id, pricing, timestamp(report.body.get("timestamp"))))
        per_message.setdefault(row.id, []).append((report, ladder.Report(
            kind, timestamp(report.body.get("timestamp")), wamid if isinstance(wamid, str) and wamid else None, error,
            category if isinstance(category, str) else None)))
    if not per_message:
        return
    timelines = await messages_repo.event_kinds(session, list(per_message))
    changes: list[tuple[uuid.UUID, ladder.Folded]] = []
    announced: list[tuple[uuid.UUID, uuid.UUID, str, datetime, dict | None]] = []
    for message_id, items in per_message.items():
        row = by_id[message_id]
        folded = ladder.fold(row.status, row.wamid, timelines[message_id], [r for _, r in items])
        changes.append((message_id, folded))
        for step, (report, _) in zip(folded.steps, items, strict=True):
            if step.changed:
                announced.append((report.project.id, message_id, step.report.kind, step.report.at, step.report.error))
    await messages_repo.write_folded(session, changes)
    await billing.record_pricing(session, priced)
    await hooks.message_statuses(session, announced)  # customer webhooks, in this transaction
    for message_id, items in per_message.items():  # counted once written
        for (report, applied), step in zip(items, dict(changes)[message_id].steps, strict=True):
            metrics.status_reported(report.project, applied.kind, step.changed, applied.error, applied.at)
