"""The status ladder's fold (messages/status_ladder.py): pure, no database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from wacast.messages.status_ladder import Folded, Report, fold, moves

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(("current", "kind", "expected"), [
    ("queued", "sent", True), ("queued", "read", True), ("sent", "sent", False), ("read", "delivered", False),
    ("delivered", "read", True), ("sent", "failed", True), ("queued", "failed", True), ("delivered", "failed", False),
    ("failed", "sent", False), ("failed", "delivered", True), ("failed", "read", True), ("read", "deleted", False),
])
def test_the_ladder_never_moves_backwards_and_leaves_failed_only_on_proof_of_arrival(current: str, kind: str, expected: bool) -> None:
    assert moves(current, kind) is expected


def test_reports_out_of_order_end_on_the_highest_and_keep_the_first_time_of_each_column() -> None:
    has: set[str] = set()
    folded = fold("sent", "wamid.1", has, [Report("read", at(30)), Report("delivered", at(20)), Report("sent", at(10))])
    assert folded.status == "read"
    assert [s.changed for s in folded.steps] == [True, False, False]
    # read fills read_at, delivered_at and sent_at at once; the late ones fill nothing already set.
    assert folded.first_at == {"read_at": at(30), "delivered_at": at(30), "sent_at": at(30)}
    # Each kind is on the timeline once, even when it arrived late and changed nothing.
    assert [s.event for s in folded.steps] == [True, True, True] and has == {"read", "delivered", "sent"}


def test_a_repeated_report_adds_no_event_when_the_timeline_has_one() -> None:
    folded = fold("delivered", "wamid.1", {"sent", "delivered"}, [Report("delivered", at(5)), Report("delivered", at(6))])
    assert [(s.changed, s.event) for s in folded.steps] == [(False, False), (False, False)]
    assert folded.status == "delivered"


def test_a_failure_sets_the_error_and_unlocks_and_a_later_delivery_revives_the_message() -> None:
    error = {"code": 131026, "title": "Message undeliverable", "details": None}
    folded = fold("queued", None, set(), [Report("failed", at(1), "wamid.9", error), Report("sent", at(2)), Report("delivered", at(3))])
    assert [s.changed for s in folded.steps] == [True, False, True]
    assert folded.status == "delivered" and folded.failed_at == at(1) and folded.error == error
    assert folded.unlock and folded.wamid == "wamid.9"


def test_failed_after_delivered_is_only_recorded() -> None:
    folded = fold("delivered", "w", {"sent", "delivered"}, [Report("failed", at(4), error={"code": 1})])
    assert folded.status == "delivered" and folded.failed_at is None and folded.error is None
    assert [(s.changed, s.event) for s in folded.steps] == [(False, True)]


def test_the_wamid_is_filled_only_when_the_row_has_none_and_pricing_keeps_the_last() -> None:
    assert fold("sent", "wamid.old", set(), [Report("delivered", at(1), "wamid.new")]).wamid is None
    folded = fold("sent", None, set(), [Report("delivered", at(1), "wamid.a", pricing_category="utility"),
                                        Report("read", at(2), "wamid.b", pricing_category="marketing")])
    assert folded.wamid == "wamid.a" and folded.pricing_category == "marketing"


def test_nothing_to_write_when_a_duplicate_changes_nothing() -> None:
    assert fold("read", "w", {"read"}, [Report("read", at(1))]).first_at == {"read_at": at(1), "delivered_at": at(1), "sent_at": at(1)}
    assert not Folded(status="read").writes


KINDS = ("sent", "delivered", "read", "failed")


def _one_at_a_time(status: str, reports: list[Report]) -> tuple[str, list[bool], list[bool], dict, datetime | None]:
    """Fold report by report, carrying the state as a database row would (coalesce per column)."""
    has: set[str] = set()
    wamid = None
    columns: dict[str, datetime] = {}
    failed_at = None
    changed, events = [], []
    for report in reports:
        step = fold(status, wamid, has, [report])
        status = step.status
        wamid = wamid or step.wamid
        for column, value in step.first_at.items():
            columns.setdefault(column, value)
        failed_at = step.failed_at or failed_at
        changed.append(step.steps[0].changed)
        events.append(step.steps[0].event)
    return status, changed, events, columns, failed_at


@pytest.mark.parametrize("start", ["queued", "sent", "failed"])
def test_folding_a_batch_equals_folding_its_reports_one_at_a_time(start: str) -> None:
    for kinds in itertools.product(KINDS, repeat=3):
        reports = [Report(k, at(i), f"wamid.{i}") for i, k in enumerate(kinds)]
        together = fold(start, None, set(), reports)
        status, changed, events, columns, failed_at = _one_at_a_time(start, reports)
        assert together.status == status, kinds
        assert [s.changed for s in together.steps] == changed, kinds
        assert [s.event for s in together.steps] == events, kinds
        assert together.first_at == columns, kinds
        assert together.failed_at == failed_at, kinds
