"""whatsapp/number_quality_policy.py: Meta's phone_number_quality_update read as wacast keeps it
(pure): FLAGGED is the number's state, UNFLAGGED lifts it, limits and the portfolio's limit,
and hostile values change nothing they should not."""

from __future__ import annotations

from wacast.whatsapp import number_quality_policy as p


def test_display_numbers_are_digits():
    assert p.display_number("15550783881") == "15550783881"
    assert p.display_number("+1 (555) 078-3881") == "15550783881"
    assert p.display_number(15550783881) == "15550783881"
    assert [p.display_number(v) for v in (None, True, "12", "9" * 30, "x" * 50, {"a": 1})] == [None] * 6


def test_flagged_then_unflagged():
    flagged = p.read_event({"display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_10K"},
                           "15550783881", "GREEN", False)
    assert (flagged.event, flagged.known, flagged.flagged, flagged.quality, flagged.rating, flagged.previous_rating) == \
        ("FLAGGED", True, True, "RED", "FLAGGED", "GREEN")
    assert flagged.current_limit == "TIER_10K" and flagged.portfolio_tier == "TIER_10K"
    back = p.read_event({"event": "unflagged"}, "15550783881", flagged.quality, flagged.flagged)
    assert (back.flagged, back.quality, back.rating, back.previous_rating) == (False, "UNKNOWN", "UNKNOWN", "FLAGGED")
    back = p.read_event({"event": "UNFLAGGED", "quality_rating": "GREEN"}, "15550783881", "RED", True)
    assert back.rating == "GREEN"


def test_a_rating_given_as_the_phone_numbers_field():
    yellow = p.read_event({"event": "DOWNGRADE", "quality_rating": "YELLOW", "old_limit": "TIER_10K", "current_limit": "TIER_2K",
                           "max_daily_conversations_per_business": "TIER_2K"}, "1555", "GREEN", False)
    assert (yellow.quality, yellow.rating, yellow.old_limit, yellow.current_limit, yellow.portfolio_tier) == \
        ("YELLOW", "YELLOW", "TIER_10K", "TIER_2K", "TIER_2K")
    kept = p.read_event({"event": "UPGRADE", "current_limit": "TIER_100K"}, "1555", "YELLOW", False)
    assert kept.rating == "YELLOW" and kept.portfolio_tier == "TIER_100K"  # a limit change alone keeps the rating


def test_the_portfolio_limit_prefers_metas_new_fields():
    read = p.read_event({"event": "UPGRADE", "current_limit": "TIER_10K", "max_daily_conversation_per_phone": "TIER_100K"},
                        "1555", None, False)
    assert read.portfolio_tier == "TIER_100K"
    read = p.read_event({"event": "THROUGHPUT_UPGRADE", "current_limit": "TIER_UNLIMITED"}, "1555", None, False)
    assert read.portfolio_tier == "TIER_UNLIMITED" and read.rating == "UNKNOWN"


def test_hostile_values_are_dropped():
    read = p.read_event({"event": "<script>", "quality_rating": "PURPLE", "current_limit": "LOTS", "old_limit": 5,
                         "max_daily_conversations_per_business": ["TIER_2K"]}, "1555", "GREEN", False)
    assert (read.event, read.known, read.rating, read.current_limit, read.old_limit, read.portfolio_tier) == \
        ("", False, "GREEN", None, None, None)
    unknown = p.read_event({"event": "SOMETHING_NEW"}, "1555", "YELLOW", False)
    assert unknown.event == "SOMETHING_NEW" and not unknown.known and unknown.rating == "YELLOW"
