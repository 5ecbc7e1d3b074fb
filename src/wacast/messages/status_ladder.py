"""The status ladder as a pure fold: what a run of Meta's status reports does to one message.

queued < sent < delivered < read, and `failed` apart: final, unless a later delivered or read
proves the message arrived. A message never moves backwards; a repeated or late report only
fills in timestamps that are still empty. The inbound event loop applies a whole batch of
reports with this fold (whatsapp/statuses.py: one locked read of the messages, one update
statement, one insert of their events); folding reports together gives what folding them one
at a time gives (`tests/unit/test_status_ladder.py`).

No I/O: the caller passes the message's current state and the reports in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
KINDS = ("sent", "delivered", "read", "failed")
TIMESTAMP_COLUMN = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at", "failed": "failed_at"}


@dataclass(frozen=True)
class Report:
    """One status report for one message, as Meta sent it."""

    kind: str  # sent | delivered | read | failed
    at: datetime
    wamid: str | None = None
    error: dict[str, Any] | None = None  # {code, title, details} of a failed report
    pricing_category: str | None = None


@dataclass
class Step:
    """What one report did: `changed` moved the status; `event` is the timeline entry to add."""

    report: Report
    changed: bool
    event: bool


@dataclass
class Folded:
    """The net change of a run of reports: the columns to write and the steps taken.

    Timestamp columns hold the first value a report gave (the write keeps a value already in
    the row); `failed_at` and the error are set by the report that failed the message."""

    status: str
    wamid: str | None = None  # to fill in when the row has none
    first_at: dict[str, datetime] = field(default_factory=dict)  # sent_at, delivered_at, read_at
    failed_at: datetime | None = None
    error: dict[str, Any] | None = None
    unlock: bool = False  # the row left `queued`: its dispatcher lease is void
    pricing_category: str | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        return bool(self.wamid or self.first_at or self.failed_at or self.unlock or self.pricing_category or any(s.changed for s in self.steps))


def moves(current: str, kind: str) -> bool:
    """Whether a report of `kind` moves a message that is `current` (the ladder's one rule)."""
    if kind == "failed":
        return current in ("queued", "sent")
    if kind not in RANK:
        return False
    if current == "failed":
        return RANK[kind] >= RANK["delivered"]  # out of failed only by proof of arrival
    return RANK[kind] > RANK.get(current, 0)


def fold(status: str, wamid: str | None, has_event: set[str], reports: list[Report]) -> Folded:
    """Apply `reports` in order to a message that is `status`, has `wamid` (or None) and
    already has timeline events of the kinds in `has_event` (updated in place)."""
    out = Folded(status=status)
    known_wamid = wamid
    for report in reports:
        current = out.status
        changed = moves(current, report.kind)
        if report.kind == "failed":
            if changed:
                out.status = "failed"
                out.failed_at = report.at
                out.unlock = True
                out.error = report.error
        else:
            if changed:
                out.status = report.kind
            columns = [TIMESTAMP_COLUMN[report.kind]]
            if report.kind in ("delivered", "read"):
                columns.append("sent_at")
            if report.kind == "read":
                columns.append("delivered_at")
            for column in columns:
                out.first_at.setdefault(column, report.at)
            if current == "queued":
                out.unlock = True
        if report.wamid and not known_wamid:
            out.wamid = known_wamid = report.wamid
        if report.pricing_category:
            out.pricing_category = report.pricing_category
        event = changed or report.kind not in has_event
        if event:
            has_event.add(report.kind)
        out.steps.append(Step(report, changed, event))
    return out


def event_detail(report: Report) -> dict[str, Any] | None:
    """The timeline entry's detail: the error of a failure, else Meta's pricing category."""
    if report.error:
        return {"error": report.error}
    return {"pricing_category": report.pricing_category} if report.pricing_category else None
