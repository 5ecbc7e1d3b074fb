"""The send policy's decisions, without I/O: quiet hours (windows across midnight, in the
project's zone), the frequency cap, the messaging tier, auto-pause, and the PUT body."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from wacast.campaigns.broadcasts import policy
from wacast.kit.errors import WacastError

KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30


def send_policy(quiet=(None, None), cap=(None, None), tier=None) -> SimpleNamespace:  # noqa: ANN001
    return SimpleNamespace(quiet_start=quiet[0], quiet_end=quiet[1], frequency_cap_count=cap[0], frequency_cap_days=cap[1], messaging_tier=tier)


def at(hour: int, minute: int = 0, day: int = 27) -> datetime:
    """A moment given in Kolkata local time, as UTC (what utcnow() returns)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=KOLKATA).astimezone(UTC)


@pytest.mark.parametrize(("window", "now", "until"), [
    (("21:00", "09:00"), at(22), at(9, day=28)),     # across midnight, before it
    (("21:00", "09:00"), at(3), at(9)),              # across midnight, after it
    (("21:00", "09:00"), at(21), at(9, day=28)),     # the start is inside
    (("21:00", "09:00"), at(9), None),               # the end is outside
    (("21:00", "09:00"), at(12), None),
    (("13:00", "15:30"), at(14), at(15, 30)),        # within one day
    (("13:00", "15:30"), at(16), None),
    (("10:00", "10:00"), at(10), None),              # an empty window
    ((None, None), at(3), None),
])
def test_quiet_until(window, now, until) -> None:  # noqa: ANN001
    found = policy.quiet_until(send_policy(quiet=window), KOLKATA, now)
    assert found == until
    if found is not None:
        assert found.tzinfo is not None and found > now


def test_no_policy_is_never_quiet_and_the_reason_is_local() -> None:
    assert policy.quiet_until(None, KOLKATA, at(3)) is None
    assert policy.quiet_reason(at(9), KOLKATA, "Asia/Kolkata") == "quiet hours until 09:00 Asia/Kolkata"
    assert policy.quiet_reason(None, KOLKATA, "Asia/Kolkata") == ""


@pytest.mark.parametrize(("cap", "category", "applies"), [
    ((2, 7), "MARKETING", True),
    ((2, 7), "UTILITY", False),
    ((None, None), "MARKETING", False),
])
def test_frequency_cap_applies_to_marketing_only(cap, category, applies) -> None:  # noqa: ANN001
    assert policy.frequency_cap_applies(send_policy(cap=cap), category) is applies


def test_frequency_cap_without_a_policy_never_applies() -> None:
    assert policy.frequency_cap_applies(None, "MARKETING") is False


@pytest.mark.parametrize(("count", "recent", "capped"), [
    (1, [("a", 1), ("b", 0)], {"a"}),
    (2, [("a", 1), ("b", 2), ("c", 3)], {"b", "c"}),
    (2, [], set()),
])
def test_at_frequency_cap(count, recent, capped) -> None:  # noqa: ANN001
    assert policy.at_frequency_cap(send_policy(cap=(count, 7)), recent) == capped


@pytest.mark.parametrize(("tier", "used", "room"), [(250, 30, 220), (250, 250, 0), (250, 300, -50), (None, 10_000, None)])
def test_tier_room(tier, used, room) -> None:  # noqa: ANN001
    assert policy.tier_room(send_policy(tier=tier), used) == room


def test_tier_room_without_a_policy_and_its_reason() -> None:
    assert policy.tier_room(None, 5) is None
    assert "messaging tier of 250" in policy.tier_reason(send_policy(tier=250))


@pytest.mark.parametrize(("total", "failed", "window", "threshold", "pause"), [
    (10, 8, 10, 0.5, True),
    (10, 5, 10, 0.5, True),
    (10, 4, 10, 0.5, False),
    (9, 9, 10, 0.5, False),  # the window is not full yet
])
def test_failing_too_much(total, failed, window, threshold, pause) -> None:  # noqa: ANN001
    assert policy.failing_too_much(total, failed, window, threshold) is pause


@pytest.mark.parametrize(("body", "changes"), [
    ({}, {}),
    ({"quiet_hours": {"start": "21:00", "end": "09:00:00"}}, {"quiet_start": "21:00", "quiet_end": "09:00"}),
    ({"quiet_hours": None}, {"quiet_start": None, "quiet_end": None}),
    ({"frequency_cap": {"messages": 2, "days": 7}}, {"frequency_cap_count": 2, "frequency_cap_days": 7}),
    ({"frequency_cap": None}, {"frequency_cap_count": None, "frequency_cap_days": None}),
    ({"messaging_tier": 2000}, {"messaging_tier": 2000}),
    ({"messaging_tier": "unlimited"}, {"messaging_tier": None}),
])
def test_parse_changes(body, changes) -> None:  # noqa: ANN001
    assert policy.parse_changes(body) == changes


@pytest.mark.parametrize(("body", "code"), [
    ([], "INVALID_BODY"),
    ({"quiet_hours": {"start": "25:00", "end": "09:00"}}, "FIELD_INVALID"),
    ({"quiet_hours": {"start": "21:00"}}, "FIELD_INVALID"),
    ({"frequency_cap": {"messages": 0, "days": 7}}, "FIELD_INVALID"),
    ({"frequency_cap": {"messages": True, "days": 7}}, "FIELD_INVALID"),
    ({"frequency_cap": {"messages": 1, "days": 366}}, "FIELD_INVALID"),
    ({"messaging_tier": 300}, "FIELD_INVALID"),
    ({"messaging_tier": True}, "FIELD_INVALID"),
])
def test_parse_changes_refuses(body, code) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        policy.parse_changes(body)
    assert caught.value.code == code
