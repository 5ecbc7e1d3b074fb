"""Meta's marketing region rule without I/O (projects/marketing_rules.py): the region is the
phone number's (US +1 blocked, Canadian +1 not), only MARKETING templates, the project's policy,
the setting read as a set of regions (empty: off), and the refusal's words."""

from __future__ import annotations

from datetime import date

import pytest

from wacast.campaigns.broadcasts.estimate import Estimate, warnings
from wacast.config import Settings
from wacast.projects import marketing_rules as rules

US = frozenset({"US"})
SF, DC, TORONTO, OTTAWA, INDIA = "+14155550123", "+12025550143", "+14165550123", "+16135550123", "+917428526285"


@pytest.mark.parametrize(("phone", "region"), [(SF, "US"), (DC, "US"), (TORONTO, "CA"), (OTTAWA, "CA"), (INDIA, "IN"),
                                               ("+447400123456", "GB"), ("US.13491208655302741918", None), (None, None), ("", None)])
def test_the_region_is_the_numbers_not_its_calling_code(phone, region) -> None:
    assert rules.region_of(phone) == region


@pytest.mark.parametrize(("phone", "category", "policy", "blocked"), [
    (SF, "MARKETING", "refuse", "US"), (DC, "marketing", None, "US"),  # any case; no policy reads as the default, refuse
    (TORONTO, "MARKETING", "refuse", None), (OTTAWA, "MARKETING", "refuse", None),  # Canada +1 still goes
    (INDIA, "MARKETING", "refuse", None),
    (SF, "UTILITY", "refuse", None), (SF, "AUTHENTICATION", "refuse", None),  # never utility or authentication
    (SF, "MARKETING", "accept", None),  # the project lets Meta decide (as AiSensy does)
    ("US.13491208655302741918", "MARKETING", "refuse", None),  # no phone number: no region
])
def test_blocked_region(phone, category, policy, blocked) -> None:
    assert rules.blocked_region(phone, category, policy, US) == blocked


def test_an_empty_setting_turns_the_rule_off() -> None:
    assert rules.parse_regions("") == frozenset()
    assert rules.blocked_region(SF, "MARKETING", "refuse", rules.parse_regions("")) is None
    assert rules.blocked_among([SF, DC], "MARKETING", "refuse", frozenset()) == set()


def test_the_setting_reads_as_regions() -> None:
    assert rules.parse_regions(" us, ca ,") == {"US", "CA"}
    assert rules.parse_regions(rules.DEFAULT_BLOCKED) == US
    assert rules.blocked_region(TORONTO, "MARKETING", "refuse", rules.parse_regions("US,CA")) == "CA"
    with pytest.raises(ValueError, match="XX"):
        rules.parse_regions("US,XX")


def test_the_setting_is_checked_when_read() -> None:
    assert Settings().marketing_blocked_regions == "US"
    assert Settings(marketing_blocked_regions=" us , ca").marketing_blocked_regions == "US,CA"
    assert Settings(marketing_blocked_regions="").marketing_blocked_regions == ""
    with pytest.raises(ValueError, match="unknown region codes: ZZ"):
        Settings(marketing_blocked_regions="US,ZZ")
    # The codes every reader uses (campaign API, broadcasts, their estimate and dry run).
    assert Settings().blocked_marketing_regions == rules.BLOCKED_BY_DEFAULT == US
    assert Settings(marketing_blocked_regions=" us , ca").blocked_marketing_regions == rules.parse_regions("US,CA")
    assert Settings(marketing_blocked_regions="").blocked_marketing_regions == frozenset()


def test_blocked_among_a_batch() -> None:
    assert rules.blocked_among([SF, TORONTO, INDIA, None, DC], "MARKETING", "refuse", US) == {SF, DC}
    assert rules.blocked_among([SF, DC], "UTILITY", "refuse", US) == set()


def test_the_estimate_counts_groups_by_one_number_each() -> None:
    assert rules.calling_codes(US) == ["1"]
    assert rules.calling_codes(frozenset({"US", "CA", "GB"})) == ["1", "44"]
    groups = [("+1415555", 3), ("+1416555", 5), ("+1202555", 2)]  # San Francisco, Toronto, Washington
    assert rules.count_blocked(groups, "MARKETING", "refuse", US) == 0  # an 8-character prefix is no number
    groups = [(SF, 3), (TORONTO, 5), (DC, 2)]
    assert rules.count_blocked(groups, "MARKETING", "refuse", US) == 5
    assert rules.count_blocked(groups, "MARKETING", "accept", US) == 0
    assert rules.count_blocked(groups, "UTILITY", "refuse", US) == 0


def test_the_policy_choice() -> None:
    assert [rules.policy_choice(v) for v in ("refuse", " ACCEPT ", "maybe", None, 1)] == ["refuse", "accept", None, None, None]
    assert rules.DEFAULT_POLICY == "refuse" and set(rules.POLICY_WORDS) == set(rules.POLICIES)


def test_the_refusal_names_the_region_and_since_when() -> None:
    error = rules.refusal(SF, "US")
    assert error.code == "MARKETING_REGION_BLOCKED" and error.status_code == 400
    assert "US numbers (the United States)" in error.message and "since April 2025" in error.message
    assert "marketing_region_policy" in error.message
    assert error.details == {"destination": SF, "region": "US", "since": "2025-04-01"}
    assert rules.BLOCKED_SINCE["US"] == date(2025, 4, 1)
    other = rules.refusal("+447400123456", "GB")  # a region the setting adds, with no known date
    assert "GB numbers" in other.message and " since " not in other.message and other.details["since"] is None


def test_the_estimate_warns_of_the_region_skips() -> None:
    said = warnings(Estimate(matching=10, will_send=6, skips={rules.MARKETING_REGION_BLOCKED: 4}))
    assert said == ["4 are numbers of a region where Meta does not deliver marketing templates (US numbers since April 2025): "
                    "they are skipped (the project's marketing_region_policy)."]
    assert warnings(Estimate(matching=10, will_send=10, skips={})) == []
