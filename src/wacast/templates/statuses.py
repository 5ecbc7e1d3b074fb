"""What a template's status (Meta's) means for sends: one explicit table, and the sets the
campaign API, the dispatcher and the campaigns read from it.

Each event of Meta's `message_template_status_update` webhook (and each status of its template
listing) maps to:
- the status wacast stores (REINSTATED, UNPAUSED and UNARCHIVED store APPROVED: Meta's listing
  shows the template approved again; the event itself is kept beside it, `status_event`);
- a send rule:
    SEND    new sends accepted, queued ones go out (APPROVED; FLAGGED too, with a warning);
    HOLD    new sends accepted, queued ones wait (not failed) until Meta releases the template;
    WAIT    new sends refused (TEMPLATE_NOT_APPROVED), queued ones wait (in review, at a limit);
    REFUSE  new sends refused, queued ones fail (132001): the template will not come back;
- the words the dashboard shows beside the badge.

An event not in the table changes nothing (the status stays; the event is noted), so a status
Meta adds later is never copied into the column unexamined.

Pure: unit-tested in tests/unit/test_template_statuses.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SendRule(StrEnum):
    send = "send"
    hold = "hold"
    wait = "wait"
    refuse = "refuse"


@dataclass(frozen=True)
class EventRule:
    event: str  # Meta's event
    stored: str  # the status wacast stores
    rule: SendRule
    words: str  # what the dashboard says
    warning: bool = False  # deliverable, but at risk: shown as a warning


# Every event Meta documents for message_template_status_update (webhooks/reference/
# message_template_status_update, 2026), with UNPAUSED (older payloads, pywa) and UNARCHIVED.
EVENTS: dict[str, EventRule] = {rule.event: rule for rule in (
    EventRule("APPROVED", "APPROVED", SendRule.send, "approved by Meta"),
    EventRule("REJECTED", "REJECTED", SendRule.refuse, "rejected by Meta; edit it to submit it again, or appeal"),
    EventRule("PENDING", "PENDING", SendRule.wait, "in review at Meta"),
    EventRule("PAUSED", "PAUSED", SendRule.hold, "paused by Meta after negative feedback; sends wait until it is unpaused"),
    EventRule("UNPAUSED", "APPROVED", SendRule.send, "unpaused by Meta; held sends go out"),
    EventRule("DISABLED", "DISABLED", SendRule.hold, "disabled by Meta after negative feedback; sends wait (appeal, or reinstatement)"),
    EventRule("FLAGGED", "FLAGGED", SendRule.send,
              "flagged by Meta: negative feedback puts it at risk of being disabled; it is still sent", warning=True),
    EventRule("REINSTATED", "APPROVED", SendRule.send, "reinstated by Meta; held sends go out"),
    EventRule("IN_APPEAL", "IN_APPEAL", SendRule.hold, "in appeal at Meta; sends wait for the outcome"),
    EventRule("LOCKED", "LOCKED", SendRule.wait, "locked by Meta: it cannot be edited; new sends are refused, queued ones wait"),
    EventRule("PENDING_DELETION", "PENDING_DELETION", SendRule.refuse, "being deleted at Meta (WhatsApp Manager)"),
    EventRule("DELETED", "DELETED", SendRule.refuse, "deleted at Meta"),
    EventRule("LIMIT_EXCEEDED", "LIMIT_EXCEEDED", SendRule.wait, "the WhatsApp Business Account is at its template limit"),
    EventRule("ARCHIVED", "ARCHIVED", SendRule.refuse, "archived by Meta (unused); Meta deletes it after 28 days unless unarchived"),
    EventRule("UNARCHIVED", "APPROVED", SendRule.send, "unarchived by Meta"),
)}

# What each stored status means for sends (the stored column of EVENTS, one rule each).
STORED: dict[str, SendRule] = {rule.stored: rule.rule for rule in EVENTS.values() if rule.stored == rule.event}

SENDABLE = frozenset(s for s, r in STORED.items() if r == SendRule.send)  # queued sends go out
HELD = frozenset(s for s, r in STORED.items() if r in (SendRule.hold, SendRule.wait))  # sends wait (queued, not failed)
DEAD = frozenset(s for s, r in STORED.items() if r == SendRule.refuse)  # sends fail at once
# The campaign API accepts new sends (they may then be held). The three events that store
# APPROVED are accepted too, for a row written before they were mapped.
ACCEPTING = frozenset(s for s, r in STORED.items() if r in (SendRule.send, SendRule.hold)) | {"REINSTATED", "UNPAUSED", "UNARCHIVED"}
WARNING = frozenset(rule.stored for rule in EVENTS.values() if rule.warning)  # sent, with a warning shown


def for_event(event: str) -> EventRule | None:
    """Meta's event (any case) in the table, or None for one wacast does not know."""
    return EVENTS.get(event.strip().upper()) if isinstance(event, str) else None


def rule_of(status: str | None) -> SendRule | None:
    """What a stored status means for sends (None: a status wacast does not know)."""
    return STORED.get(status or "")


def words(status: str | None) -> str:
    """The dashboard's words for a stored status."""
    rule = EVENTS.get(status or "")
    return rule.words if rule is not None else f"status {status} (not one wacast knows; sends are not refused for it)"


def can_send(status: str | None) -> bool:
    """Whether sends of a template in this status go out now (APPROVED, FLAGGED)."""
    return status in SENDABLE
