"""The broadcast plan, parsed without I/O: parameter sources, buttons, media, send_at, the
auto-pause settings, per-contact resolution, and the audience CSV."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from wacast.campaigns.broadcasts.audience_csv import parse_csv
from wacast.campaigns.broadcasts.plan import (
    Plan,
    Source,
    components_for,
    failure_settings,
    param_shorthand,
    parse_plan,
    parse_send_at,
    parse_source,
    resolve,
)
from wacast.kit.errors import WacastError
from wacast.templates.params import analyze

BODY = [{"type": "BODY", "text": "Hi {{1}}, {{2}} off today."}]
WITH_IMAGE_AND_URL = [
    {"type": "HEADER", "format": "IMAGE"},
    {"type": "BODY", "text": "Hi {{1}}"},
    {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Go", "url": "https://shop.test/{{1}}"}, {"type": "QUICK_REPLY", "text": "No"}]},
]
NAMED = [{"type": "BODY", "text": "Hi {{first_name}}, use {{code}}"}]
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
KOLKATA = ZoneInfo("Asia/Kolkata")


def contact(name: str = "Asha Verma", phone: str = "+917428526285", **attributes: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, phone=phone, attributes=attributes)


@pytest.mark.parametrize(("raw", "expected"), [
    ("$city", Source(attribute="city")),
    ("  $city ", Source(attribute="city")),
    ("SALE20", Source(text="SALE20")),
    ("$", Source(text="$")),
    ({"attribute": "$city", "fallback": "there"}, Source(attribute="city", fallback="there")),
    ({"attribute": "city", "fallback": ""}, Source(attribute="city")),
    ({"text": "20%"}, Source(text="20%")),
])
def test_parse_source(raw, expected) -> None:  # noqa: ANN001
    assert parse_source(raw, "params[0]") == expected


@pytest.mark.parametrize(("raw", "code"), [
    ("", "PARAM_EMPTY"),
    ("   ", "PARAM_EMPTY"),
    (5, "FIELD_INVALID"),
    ({"attribute": "  "}, "FIELD_INVALID"),
    ({"attribute": "city", "fallback": 3}, "FIELD_INVALID"),
    ({"attribute": "city", "fallback": "x" * 1025}, "FIELD_INVALID"),
    ({}, "FIELD_INVALID"),
])
def test_parse_source_refuses(raw, code) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        parse_source(raw, "params[0]")
    assert caught.value.code == code


@pytest.mark.parametrize(("typed", "expected"), [
    ("$first|there", {"attribute": "first", "fallback": "there"}),
    ("$first | there ", {"attribute": "first", "fallback": "there"}),
    ("$first", "$first"),
    ("30%", "30%"),
    ("a|b", "a|b"),
])
def test_param_shorthand(typed, expected) -> None:  # noqa: ANN001
    assert param_shorthand(typed) == expected


def test_plan_by_position_and_by_name_round_trips() -> None:
    plan = parse_plan(analyze(BODY, "POSITIONAL"), {"params": [{"attribute": "first", "fallback": "friend"}, "20%"]})
    assert plan.params == [Source(attribute="first", fallback="friend"), Source(text="20%")]
    assert Plan.from_json(plan.to_json()) == plan
    named = parse_plan(analyze(NAMED, "NAMED"), {"params": {"code": "SALE", "first_name": "$first"}})
    assert named.params == [Source(attribute="first"), Source(text="SALE")]


@pytest.mark.parametrize(("components", "fmt", "body", "code"), [
    (BODY, "POSITIONAL", {"params": ["a"]}, "TEMPLATE_PARAMS_MISMATCH"),
    (BODY, "POSITIONAL", {"params": "a,b"}, "FIELD_INVALID"),
    (NAMED, "NAMED", {"params": {"first_name": "a"}}, "TEMPLATE_PARAMS_MISMATCH"),
    (NAMED, "NAMED", {"params": {"first_name": "a", "code": "b", "other": "c"}}, "PARAM_UNKNOWN"),
    (WITH_IMAGE_AND_URL, "POSITIONAL", {"params": ["a"], "media": {"url": "https://x.test/a.png"}}, "BUTTON_PARAM_MISSING"),
    (WITH_IMAGE_AND_URL, "POSITIONAL", {"params": ["a"], "buttons": {"0": "$code"}}, "MEDIA_URL_MISSING"),
    (WITH_IMAGE_AND_URL, "POSITIONAL", {"params": ["a"], "buttons": {"0": "x", "5": "y"}, "media": {"url": "https://x.test/a.png"}}, "FIELD_INVALID"),
    (WITH_IMAGE_AND_URL, "POSITIONAL", {"params": ["a"], "buttons": ["x"], "media": {"url": "https://x.test/a.png"}}, "FIELD_INVALID"),
    (WITH_IMAGE_AND_URL, "POSITIONAL", {"params": ["a"], "buttons": {"0": "x"}, "media": "https://x.test/a.png"}, "FIELD_INVALID"),
])
def test_plan_refuses(components, fmt, body, code) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        parse_plan(analyze(components, fmt), body)
    assert caught.value.code == code


def test_plan_with_media_and_button() -> None:
    plan = parse_plan(analyze(WITH_IMAGE_AND_URL, "POSITIONAL"), {"params": ["$first"], "buttons": {"0": "$code"}, "media": {"url": "https://x.test/a.png"}})
    assert plan.media.url == "https://x.test/a.png" and plan.buttons == {0: Source(attribute="code")}


@pytest.mark.parametrize(("source", "values", "person", "expected"), [
    (Source(text="SALE"), {}, contact(), "SALE"),
    (Source(attribute="city"), {"city": "Pune"}, contact(city="Delhi"), "Pune"),
    (Source(attribute="City"), {}, contact(city="Delhi"), "Delhi"),
    (Source(attribute="city"), {"city": " "}, contact(city="Delhi"), "Delhi"),
    (Source(attribute="FirstName"), {}, contact(), "Asha"),
    (Source(attribute="name"), {}, contact(), "Asha Verma"),
    (Source(attribute="phone"), {}, contact(), "+917428526285"),
    (Source(attribute="city", fallback="there"), {}, contact(), "there"),
    (Source(attribute="city"), {}, contact(), None),
])
def test_resolve(source, values, person, expected) -> None:  # noqa: ANN001
    assert resolve(source, person, values) == expected


def test_components_for_one_contact_and_a_missing_value() -> None:
    needs = analyze(BODY, "POSITIONAL")
    plan = parse_plan(needs, {"params": ["$first", "20%"]})
    components = components_for(needs, plan, contact(first="Asha"), {})
    assert [p["text"] for p in components[0]["parameters"]] == ["Asha", "20%"]
    with pytest.raises(WacastError) as caught:
        components_for(needs, plan, contact(), {})
    assert caught.value.code == "PARAM_UNRESOLVED"


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),
    ("", None),
    ("now", None),
    ("2026-11-28T10:00", datetime(2026, 11, 28, 4, 30, tzinfo=UTC)),
    ("2026-11-28T10:00Z", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
    ("2026-11-28T10:00+01:00", datetime(2026, 11, 28, 9, 0, tzinfo=UTC)),
    ((NOW - timedelta(seconds=30)).isoformat(), NOW - timedelta(seconds=30)),
])
def test_send_at(value, expected) -> None:  # noqa: ANN001
    assert parse_send_at(value, KOLKATA, NOW) == expected


@pytest.mark.parametrize(("value", "code"), [
    ("tomorrow", "FIELD_INVALID"),
    (1700000000, "FIELD_INVALID"),
    ("2020-01-01T10:00", "SEND_AT_IN_PAST"),
])
def test_send_at_refuses(value, code) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        parse_send_at(value, KOLKATA, NOW)
    assert caught.value.code == code


@pytest.mark.parametrize(("body", "expected"), [
    ({}, {"failure_threshold": 0.2, "failure_window": 50}),
    ({"failure_threshold": 0.5, "failure_window": 10}, {"failure_threshold": 0.5, "failure_window": 10}),
    ({"failure_threshold": 1}, {"failure_threshold": 1.0, "failure_window": 50}),
])
def test_failure_settings(body, expected) -> None:  # noqa: ANN001
    assert failure_settings(body, 0.2, 50) == expected


@pytest.mark.parametrize("body", [{"failure_threshold": 0}, {"failure_threshold": 1.5}, {"failure_threshold": True}, {"failure_window": 4}, {"failure_window": 2.5}])
def test_failure_settings_refuse(body) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        failure_settings(body, 0.2, 50)
    assert caught.value.code == "FIELD_INVALID"


def test_audience_csv_rows_values_and_rejects() -> None:
    data = "phone,name,discount\n+917011111111,Asha,30%\n7022222222,Ravi,\nnot-a-number,X,5%\n+917011111111,Dup,1%\n7033333333,Bad\x07,1%\n\n"
    rows, rejected = parse_csv(data.encode(), "IN")
    assert rows == [("+917011111111", "Asha", {"name": "Asha", "discount": "30%"}), ("+917022222222", "Ravi", {"name": "Ravi"})]
    assert [r["line"] for r in rejected] == [4, 6]
    assert rejected[0]["reason"] == "invalid number" and rejected[1]["reason"] == "name must not contain control characters"


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"name\nAsha\n", b"phone\n+91\x0070\n", b"phone\nnope\n"])
def test_audience_csv_refused(data) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as caught:
        parse_csv(data, "IN")
    assert caught.value.code == "CSV_INVALID"
