"""The pure parts of dry runs (no I/O): destinations counted by country exactly as billing
prices them, who is held rather than skipped, the cost in words ("no rate card"), the list of
an API campaign's estimate read from JSON and CSV, a destination read as the campaign API
reads it, and the body limit of a route with a path parameter."""

from __future__ import annotations

import re

import pytest

from wacast.billing import pricing
from wacast.campaign_api import estimate_input
from wacast.campaign_api.estimate import INVALID_NUMBER, NO_DESTINATION, NOT_TEXT, TOO_LONG, read_all, unreadable
from wacast.campaigns.broadcasts import dry_run_policy as rules
from wacast.kit.body_limit import BodyLimits
from wacast.kit.errors import WacastError

SAMPLE = [
    "+919876543210", "+971501234567", "+14155552671", "+16135550123", "+442071234567", "+447911123456", "+77012345678",
    "+79161234567", "+33612345678", "+390669812345", "+8613800138000", "+80012345678", "+61412345678", "US.13491208655302741918",
    None, "", "+999123", "+2693212345", "+262692123456",
]


def test_countries_are_billing_countries():
    counted = rules.count_by_country(SAMPLE)
    expected: dict[str, int] = {}
    for destination in SAMPLE:
        country = pricing.country_of(destination)
        expected[country] = expected.get(country, 0) + 1
    assert counted == expected
    assert counted["US"] == 2 and counted["CA"] == 1 and counted["GB"] == 1 and counted["GG"] == 1 and counted["KZ"] == 1
    assert list(rules.count_by_country(["+919876543210", "+971501234567", "+919812345678"])) == ["IN", "AE"]  # most first


def test_message_counts_and_categories():
    assert rules.message_counts("MARKETING", {"IN": 3, "AE": 0}) == {("marketing", "IN"): 3}
    assert rules.by_category("UTILITY", {"IN": 3, "AE": 1}) == {"utility": 4}
    assert rules.by_category("UTILITY", {}) == {}


def test_held_is_apart_from_skipped():
    assert rules.held(10, "quiet hours until 09:00 Asia/Kolkata", 0) == {"quiet hours": 10}
    assert rules.held(10, None, 4) == {"messaging tier": 4}
    assert rules.held(0, "quiet hours until 09:00", 0) == {}


def test_cost_with_and_without_a_rate_card():
    table = pricing.RateTable("INR", {("marketing", "IN"): 800_000}, version=3)
    priced = rules.cost_view(pricing.estimate(table, {("marketing", "IN"): 5, ("marketing", "AE"): 2}))
    assert priced["cost"] == "4.000000" and priced["rate_card"] == "in force" and priced["unpriced_messages"] == 2
    assert "2 message(s) have no rate on version 3" in priced["note"]
    assert rules.cost_words(priced).startswith("4.000000 INR (rate card v3); 2 message(s)")
    none = rules.cost_view(pricing.estimate(None, {("marketing", "IN"): 5}))
    assert none["cost"] is None and none["currency"] is None and none["rate_card"] is None and none["note"] == rules.NO_RATE_CARD
    assert rules.cost_words(none) == rules.NO_RATE_CARD


def test_the_list_from_json():
    assert estimate_input.from_json({"destinations": ["+91", 4]}) == ["+91", 4]
    for bad, code in (([], "INVALID_BODY"), ({}, "FIELD_REQUIRED"), ({"destinations": "+91"}, "FIELD_INVALID"),
                      ({"destinations": ["1"] * (estimate_input.MAX_DESTINATIONS + 1)}, "TOO_MANY_DESTINATIONS")):
        with pytest.raises(WacastError) as caught:
            estimate_input.from_json(bad)
        assert caught.value.code == code


def test_the_list_from_csv():
    assert estimate_input.from_csv(b"\xef\xbb\xbfName,Destination\nA,+911\n\n,\nB,\nC\n") == ["+911", "", ""]
    assert estimate_input.from_csv(b"phone\n1\n2\n") == ["1", "2"]
    for bad in (b"", b"name\nx\n", b"\xff\xfe", b"destination\n\x00\n"):
        with pytest.raises(WacastError) as caught:
            estimate_input.from_csv(bad)
        assert caught.value.code == "CSV_INVALID"
    with pytest.raises(WacastError) as caught:
        estimate_input.from_csv(b"destination\n" + b"1\n" * (estimate_input.MAX_DESTINATIONS + 2))
    assert caught.value.code == "TOO_MANY_DESTINATIONS" and caught.value.details["given"] == estimate_input.MAX_DESTINATIONS + 2


def test_examples_are_safe_to_show():
    assert estimate_input.example("12ab") == "12ab" and estimate_input.example(42) == "<int>" and estimate_input.example(None) == "<NoneType>"
    assert estimate_input.example("a\x00b") == "a\\x00b" and len(estimate_input.example("9" * 100)) == 40


def test_a_destination_read_as_the_campaign_api_reads_it():
    assert unreadable("9876543210", "IN") == ("+919876543210", None)
    assert unreadable("+971 50 123 4567", "IN") == ("+971501234567", None)
    assert unreadable("", "IN") == (None, NO_DESTINATION) and unreadable(None, "IN") == (None, NO_DESTINATION)
    assert unreadable(919876543210, "IN") == (None, NOT_TEXT) and unreadable("98\x0076", "IN") == (None, NOT_TEXT)
    assert unreadable("9" * 41, "IN") == (None, TOO_LONG) and unreadable("12ab", "IN") == (None, INVALID_NUMBER)


def test_a_route_with_a_path_parameter_has_its_body_limit():
    limits = BodyLimits(default=10, forms=20, routes={("POST", "/a"): 30}, patterns=(("POST", re.compile(r"/c/[^/]+/estimate"), 40),))
    assert limits.of("POST", "/c/x1/estimate", b"application/json") == 40
    assert limits.of("POST", "/c/x1/estimate", b"text/csv") == 40
    assert limits.of("GET", "/c/x1/estimate", b"") == 10 and limits.of("POST", "/c/x/y/estimate", b"") == 10
    assert limits.of("POST", "/a", b"") == 30 and limits.of("POST", "/b", b"multipart/form-data; boundary=x") == 20


def test_a_list_read_with_its_examples():
    valid, skips, invalid = read_all(["9876543210", "x", None, "+971501234567", 5] + ["bad"] * 30, "IN")
    assert valid == ["+919876543210", "+971501234567"]
    assert skips == {INVALID_NUMBER: 31, NO_DESTINATION: 1, NOT_TEXT: 1}
    assert len(invalid) == 20 and invalid[0] == {"index": 1, "destination": "x", "reason": INVALID_NUMBER}
    assert invalid[1] == {"index": 2, "destination": "<NoneType>", "reason": NO_DESTINATION}
