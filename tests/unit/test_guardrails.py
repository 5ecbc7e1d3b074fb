"""projects/guardrails.py: the project's choices for a template recategorised under a campaign
and for a number whose quality falls, and the portfolio limit's warning (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from wacast.projects import guardrails as g


def test_the_choices_are_read_in_any_case_and_nothing_else_is():
    assert [g.category_choice(v) for v in ("hold", " Continue ", "HOLD", "stop", "", None, 1)] == \
        ["hold", "continue", "hold", None, None, None, None]
    assert [g.quality_choice(v) for v in ("slow", "PAUSE", "continue", "halve", None)] == ["slow", "pause", "continue", None, None]


@pytest.mark.parametrize(("previous", "new", "choice", "held"), [
    ("UTILITY", "MARKETING", "hold", True),
    ("UTILITY", "MARKETING", None, True),  # the default holds
    ("UTILITY", "MARKETING", "continue", False),
    ("MARKETING", "UTILITY", "hold", False),  # cheaper: nothing to hold
    ("AUTHENTICATION", "UTILITY", "hold", False),
    ("MARKETING", "MARKETING", "hold", False),
    (None, "MARKETING", "hold", False),
])
def test_only_utility_to_marketing_holds_and_continue_keeps_sending(previous, new, choice, held):
    assert g.holds_category_change(previous, new, choice) is held


def test_the_hold_reason_says_what_changed_when_and_what_to_do():
    reason = g.category_hold_reason("order_update", "UTILITY", "MARKETING", datetime(2026, 12, 7, 9, 30, tzinfo=UTC))
    assert "order_update from UTILITY to MARKETING on 2026-12-07 09:30 UTC" in reason
    assert "marketing prices" in reason and "accepts the new category" in reason and len(reason) <= 500
    assert g.category_hold(SimpleNamespace(category_hold=reason)) == reason
    assert g.category_hold(SimpleNamespace(category_hold=None)) is None
    assert g.category_hold(None) is None


def test_flagged_is_the_numbers_state_over_its_rating():
    assert g.rating_of("GREEN", True) == "FLAGGED"
    assert g.rating_of("YELLOW", False) == "YELLOW"
    assert g.rating_of("NA", False) == "UNKNOWN" and g.rating_of(None, False) == "UNKNOWN"


def test_a_fall_is_a_worse_rating_and_unrated_counts_as_green():
    assert g.fell("GREEN", "YELLOW") and g.fell("YELLOW", "RED") and g.fell("RED", "FLAGGED") and g.fell(None, "RED")
    assert not g.fell("RED", "GREEN") and not g.fell("YELLOW", "YELLOW") and not g.fell("GREEN", "UNKNOWN")


@pytest.mark.parametrize(("rating", "choice", "action"), [
    ("GREEN", "pause", None), ("UNKNOWN", "slow", None), (None, "slow", None),
    ("YELLOW", "slow", "slow"), ("RED", None, "slow"), ("FLAGGED", "pause", "pause"), ("RED", "continue", "continue"),
])
def test_what_a_rating_does_by_the_projects_choice(rating, choice, action):
    assert g.quality_action(rating, choice) == action


def test_slow_halves_marketing_only_and_pause_stops_marketing_broadcasts_only():
    assert g.slot_cost("YELLOW", "slow", "MARKETING") == g.SLOW_FACTOR == 2
    assert g.slot_cost("YELLOW", "slow", "UTILITY") == 1  # order updates keep the full pace
    assert g.slot_cost("RED", "slow", "AUTHENTICATION") == 1
    assert g.slot_cost("GREEN", "slow", "MARKETING") == 1
    assert g.slot_cost("RED", "pause", "MARKETING") == 1 and g.slot_cost("RED", "continue", "MARKETING") == 1
    assert g.pauses_broadcast("FLAGGED", "pause", "MARKETING") and not g.pauses_broadcast("FLAGGED", "pause", "UTILITY")
    assert not g.pauses_broadcast("FLAGGED", "slow", "MARKETING") and not g.pauses_broadcast("GREEN", "pause", "MARKETING")


def test_the_reasons_a_broadcast_page_shows():
    slowed = g.quality_reason("YELLOW", "slow")
    assert slowed.startswith(g.SLOWED_PREFIX) and "half" in slowed and "YELLOW" in slowed
    assert g.quality_reason("RED", "pause").startswith("paused: the number's quality is RED")
    assert g.quality_reason("RED", "continue") is None and g.quality_reason("GREEN", None) is None


def test_tiers_and_the_portfolio_limit_warning():
    assert g.limit_of("TIER_2K") == 2000 and g.limit_of("TIER_250") == 250 and g.limit_of("TIER_100K") == 100_000
    assert g.limit_of("TIER_UNLIMITED") is None and g.limit_of("TIER_NOT_SET") is None and g.limit_of(None) is None
    assert g.limit_warning(250, 250) is None  # exactly the limit: fits
    warning = g.limit_warning(300, 250, used=100)
    assert "300 contacts" in warning and "250 per 24 hours" in warning and "room for 150" in warning
    assert g.limit_warning(10_000, None) is None and g.limit_warning(0, 250, used=300) is None
    assert "room for 0" in g.limit_warning(1, 250, used=400)
