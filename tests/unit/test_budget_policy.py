"""billing/budget_policy.py: a batch that would pass the budget is refused, 80 % warns, and the
budget month is the calendar month in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from wacast.billing.budget_policy import judge, month_of, month_start, next_month_start, pause_reason, warning_words


def test_judge():
    assert judge(100, 10, 10).state == "ok"
    assert judge(100, 70, 10).state == "warn"  # exactly 80 %
    assert judge(100, 90, 10).state == "warn"  # exactly the budget still fits
    assert judge(100, 90, 11).state == "exceed"
    assert judge(100, 120, 0).state == "exceed"
    assert judge(100, 70, 10).percent == 80


def test_months_are_utc_calendar_months():
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # already January in UTC
    assert month_of(late) == "2027-01"
    assert month_start(datetime(2026, 12, 7, 10, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert next_month_start(datetime(2026, 12, 7, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month_start(datetime(2027, 2, 28, tzinfo=UTC)) == datetime(2027, 3, 1, tzinfo=UTC)


def test_words():
    verdict = judge(25_000_000, 20_000_000, 10_000_000)
    assert pause_reason("broadcast", verdict, 20_000_000, "INR") == (
        "paused: budget: the next batch would take this broadcast's budget past 25.000000 INR (spent 20.000000, with the next batch "
        "30.000000); raise the budget, then resume")
    assert warning_words("month", judge(100, 85, 0), "EUR") == "the project's monthly budget is 85 % used: 0.000085 of 0.000100 EUR"
