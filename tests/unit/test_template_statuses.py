"""templates/statuses.py: every template status event Meta documents is mapped explicitly to
what wacast stores and what happens to sends (docs/meta-events.md shows the same table), and
the dispatcher's decision (messages/retry_policy.before_send) follows it for each stored status."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from wacast.messages.retry_policy import Action, before_send
from wacast.templates import statuses
from wacast.templates.statuses import SendRule

DOC = Path(__file__).resolve().parents[2] / "docs" / "meta-events.md"

# Meta's list (webhooks/reference/message_template_status_update), UNPAUSED (older payloads) and
# UNARCHIVED: (stored, rule).
EXPECTED = {
    "APPROVED": ("APPROVED", SendRule.send),
    "REJECTED": ("REJECTED", SendRule.refuse),
    "PENDING": ("PENDING", SendRule.wait),
    "PAUSED": ("PAUSED", SendRule.hold),
    "UNPAUSED": ("APPROVED", SendRule.send),
    "DISABLED": ("DISABLED", SendRule.hold),
    "FLAGGED": ("FLAGGED", SendRule.send),
    "REINSTATED": ("APPROVED", SendRule.send),
    "IN_APPEAL": ("IN_APPEAL", SendRule.hold),
    "LOCKED": ("LOCKED", SendRule.wait),
    "PENDING_DELETION": ("PENDING_DELETION", SendRule.refuse),
    "DELETED": ("DELETED", SendRule.refuse),
    "LIMIT_EXCEEDED": ("LIMIT_EXCEEDED", SendRule.wait),
    "ARCHIVED": ("ARCHIVED", SendRule.refuse),
    "UNARCHIVED": ("APPROVED", SendRule.send),
}


def test_every_documented_event_is_in_the_table_and_nothing_else():
    assert set(statuses.EVENTS) == set(EXPECTED)


@pytest.mark.parametrize("event", sorted(EXPECTED))
def test_each_event_maps_as_the_table_says(event):
    rule = statuses.for_event(event)
    assert rule is not None and (rule.stored, rule.rule) == EXPECTED[event]
    assert statuses.for_event(f" {event.lower()} ") == rule  # Meta's case and spaces do not matter
    assert statuses.rule_of(rule.stored) == rule.rule and rule.words


def test_unknown_events_are_not_copied():
    assert statuses.for_event("SOMETHING_NEW") is None and statuses.for_event(7) is None  # type: ignore[arg-type]
    assert statuses.rule_of("SOMETHING_NEW") is None
    assert "not one wacast knows" in statuses.words("SOMETHING_NEW")


def test_the_sets_follow_the_rules():
    assert statuses.SENDABLE == {"APPROVED", "FLAGGED"}
    assert statuses.HELD == {"PAUSED", "DISABLED", "IN_APPEAL", "PENDING", "LOCKED", "LIMIT_EXCEEDED"}
    assert statuses.DEAD == {"REJECTED", "DELETED", "PENDING_DELETION", "ARCHIVED"}
    assert not (statuses.SENDABLE & statuses.HELD) and not (statuses.HELD & statuses.DEAD) and not (statuses.SENDABLE & statuses.DEAD)
    # The campaign API accepts what is sent or held; not what waits for a review, nor what is dead.
    assert {"APPROVED", "FLAGGED", "PAUSED", "DISABLED", "IN_APPEAL"} <= statuses.ACCEPTING
    assert not ({"PENDING", "LOCKED", "LIMIT_EXCEEDED"} | statuses.DEAD) & statuses.ACCEPTING
    assert statuses.WARNING == {"FLAGGED"} and statuses.can_send("FLAGGED") and not statuses.can_send("PAUSED")


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("stored", sorted(statuses.STORED))
def test_the_dispatcher_decides_each_stored_status_by_its_rule(stored):
    template = SimpleNamespace(name="order_update", category="UTILITY", status=stored, message_send_ttl_seconds=None)
    decision = before_send(template, NOW, NOW)
    rule = statuses.STORED[stored]
    if rule == SendRule.send:
        assert decision is None, "sent (FLAGGED too: at risk, still deliverable)"
    elif rule in (SendRule.hold, SendRule.wait):
        assert decision is not None and decision.action == Action.hold and stored in decision.reason
    else:
        assert decision is not None and decision.action == Action.fail and decision.code == 132001


def test_the_docs_table_is_this_table():
    rows = re.findall(r"^\| `([A-Z_]+)` \| `([A-Z_]+)` \| .*?\(`(\w+)`\) \|", DOC.read_text(), re.M)
    assert {event: (stored, SendRule(rule)) for event, stored, rule in rows} == EXPECTED
