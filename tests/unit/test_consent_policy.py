"""The pure rules of marketing consent (contacts/consent_policy.py) and the broadcasts' no_consent skip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wacast.campaigns.broadcasts import policy
from wacast.contacts import consent_policy as cp
from wacast.kit.errors import WacastError

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def test_a_consent_value_reads_as_bool_or_object():
    assert cp.parse(None, "marketing_consent", NOW) is None
    assert cp.parse(True, "marketing_consent", NOW) == cp.ConsentGiven(True)
    given = cp.parse({"granted": False, "source": "call", "evidence": "said no", "at": "2026-12-01T10:00:00"}, "marketing_consent", NOW)
    assert given == cp.ConsentGiven(False, "call", "said no", datetime(2026, 12, 1, 10, 0, tzinfo=UTC))


@pytest.mark.parametrize("value", ["yes", 1, {"granted": "yes"}, {"granted": True, "why": "x"}, {"granted": True, "at": "2999-01-01"},
                                   {"granted": True, "at": "soon"}, {"granted": True, "evidence": "a\x00b"}, {"granted": True, "source": 5},
                                   {"granted": True, "source": "a\u2028b"}, {"granted": True, "source": "two\nlines"},
                                   {"granted": True, "evidence": "a\u2029b"}, {"granted": True, "evidence": "two\nlines"}])
def test_a_bad_consent_value_is_refused_naming_the_field(value):
    with pytest.raises(WacastError) as error:
        cp.parse(value, "marketing_consent", NOW)
    assert error.value.details["field"].startswith("marketing_consent")


def test_csv_words():
    assert cp.parse_word("Yes", "c") is True and cp.parse_word(" no ", "c") is False and cp.parse_word("", "c") is None
    with pytest.raises(WacastError):
        cp.parse_word("maybe", "c")


def test_only_marketing_sends_of_a_requiring_project_need_consent():
    assert cp.required(True, "MARKETING") and cp.required(True, "marketing")
    assert not cp.required(True, "UTILITY") and not cp.required(False, "MARKETING") and not cp.required(True, None)
    assert cp.refused(True, "MARKETING", False, None)
    assert not cp.refused(True, "MARKETING", True, None)
    assert not cp.refused(True, "MARKETING", False, cp.ConsentGiven(True))  # granted with the request itself
    assert cp.refused(True, "MARKETING", True, cp.ConsentGiven(False))  # withdrawn with the request
    assert not cp.refused(False, "MARKETING", False, cp.ConsentGiven(False))
    assert cp.consent_required_error("+91").code == "CONSENT_REQUIRED"


def test_the_broadcast_skips_those_without_consent():
    assert policy.skips_for_consent(True, "MARKETING", [1, 2, 3], {2}) == {1, 3}
    assert policy.skips_for_consent(True, "UTILITY", [1, 2, 3], set()) == set()
    assert policy.skips_for_consent(False, "MARKETING", [1], set()) == set()
    assert policy.NO_CONSENT == "no_consent"
