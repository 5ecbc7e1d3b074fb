"""The pure parts of the clicks and conversions read side: the tracking form's fields, the
segment filter's click and conversion conditions (parsed and compiled through the protocol),
the builder's rows both ways, and the dashboard's words for durations and revenue."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import literal_column
from sqlalchemy.dialects import sqlite

from wacast.contacts.segment_filter import compile_filter, parse
from wacast.dashboard import segment_form
from wacast.dashboard.views import duration, money
from wacast.kit.errors import WacastError
from wacast.links import tracking

UTC = ZoneInfo("UTC")
CAMPAIGN = uuid.UUID("abcd0000-0000-0000-0000-000000000000")


def test_the_tracking_form_keeps_defaults_for_blank_fields_and_checks_through_parse() -> None:
    got = tracking.from_form({"utm_source": "", "utm_medium": " broadcast ", "utm_content": "shop"}, "purchase, Cart,, purchase", "3")
    assert got == tracking.Tracking({"utm_medium": "broadcast", "utm_content": "shop"}, ("purchase", "cart"), 3)
    assert tracking.from_form({}, "", "") == tracking.Tracking()
    assert tracking.parse(got.as_dict()) == got


@pytest.mark.parametrize(("utm", "goals", "days", "field"), [
    ({}, "", "0", "tracking.attribution_window_days"),
    ({}, "", "91", "tracking.attribution_window_days"),
    ({}, "", "seven", "tracking.attribution_window_days"),
    ({}, "", "-3", "tracking.attribution_window_days"),
    ({}, "", "١", "tracking.attribution_window_days"),
    ({}, "Big Sale!", "", "tracking.goals[0]"),
    ({}, "a,b,c,d,e,f", "", "tracking.goals"),
    ({"utm_id": "x"}, "", "", "tracking.utm.utm_id"),
])
def test_the_tracking_form_refuses_bad_values_naming_the_field(utm, goals, days, field) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as raised:
        tracking.from_form(utm, goals, days)
    assert raised.value.code == "FIELD_INVALID" and raised.value.details["field"] == field


class FakeOutcomes:
    def received(self, campaign_id: uuid.UUID):  # noqa: ANN201
        return literal_column("received")

    def clicked(self, campaign_id: uuid.UUID):  # noqa: ANN201
        return literal_column("clicked")

    def converted(self, campaign_id: uuid.UUID, goals):  # noqa: ANN001, ANN201
        return literal_column(f"converted_{'_'.join(goals or ['any'])}")


def sql(condition: dict) -> str:
    flt = {"match": "all", "conditions": [{"field": "campaign", "campaign_id": str(CAMPAIGN), **condition}]}
    return str(compile_filter(flt, FakeOutcomes()).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_click_and_conversion_conditions_compile_through_the_protocol() -> None:
    assert sql({"op": "clicked"}) == "clicked"
    assert sql({"op": "not_clicked"}) == "received AND NOT clicked"
    assert sql({"op": "converted"}) == "converted_any"
    assert sql({"op": "converted", "goal": ["purchase", "cart"]}) == "converted_purchase_cart"
    assert sql({"op": "not_converted", "goal": ["purchase"]}) == "received AND NOT converted_purchase"


def test_click_conditions_parse_and_normalise_goals() -> None:
    got = parse({"conditions": [{"field": "campaign", "campaign": "Diwali", "op": "converted", "goal": ["Purchase", "purchase"]},
                                {"field": "campaign", "campaign": "Diwali", "op": "not_clicked"}]}, UTC)
    assert got["conditions"] == [{"field": "campaign", "campaign": "Diwali", "op": "converted", "goal": ["purchase"]},
                                 {"field": "campaign", "campaign": "Diwali", "op": "not_clicked"}]


@pytest.mark.parametrize(("condition", "field"), [
    ({"op": "clicked", "status": ["read"]}, "filter.conditions[0].status"),
    ({"op": "not_clicked", "goal": ["purchase"]}, "filter.conditions[0].goal"),
    ({"op": "converted", "goal": ["no spaces"]}, "filter.conditions[0].goal"),
    ({"op": "converted", "goal": 5}, "filter.conditions[0].goal"),
    ({"op": "opened"}, "filter.conditions[0].op"),
])
def test_bad_click_conditions_name_the_part(condition, field) -> None:  # noqa: ANN001
    with pytest.raises(WacastError) as raised:
        parse({"conditions": [{"field": "campaign", "campaign": "Diwali", **condition}]}, UTC)
    assert raised.value.code == "SEGMENT_FILTER_INVALID" and raised.value.details["field"] == field


def test_the_builder_rows_of_click_conditions_go_both_ways_and_read_in_words() -> None:
    builder = segment_form.Builder("retarget", "all", [
        segment_form.Row(field="campaign", op="clicked", campaign=str(CAMPAIGN), value="ignored"),
        segment_form.Row(field="campaign", op="not_converted", campaign=str(CAMPAIGN), value="purchase, cart"),
    ])
    flt = segment_form.filter_of(builder)
    assert flt["conditions"] == [{"field": "campaign", "op": "clicked", "campaign": str(CAMPAIGN)},
                                 {"field": "campaign", "op": "not_converted", "campaign": str(CAMPAIGN), "goal": ["purchase", "cart"]}]
    stored = {"match": "all", "conditions": [{"field": "campaign", "campaign_id": str(CAMPAIGN), "op": "clicked"},
                                             {"field": "campaign", "campaign_id": str(CAMPAIGN), "op": "not_converted", "goal": ["purchase", "cart"]}]}
    back = segment_form.builder_of("retarget", stored, UTC)
    assert [(r.op, r.campaign, r.value) for r in back.rows] == [("clicked", str(CAMPAIGN), ""), ("not_converted", str(CAMPAIGN), "purchase, cart")]
    assert segment_form.describe(stored, {str(CAMPAIGN): "Diwali"}, UTC) == "clicked in Diwali and got Diwali, did not convert (purchase, cart)"


def test_durations_and_revenue_in_words() -> None:
    assert [duration(s) for s in (None, 41, 120, 5400, 3 * 3600, 3 * 86400)] == ["—", "41 s", "2 min", "1.5 h", "3.0 h", "3.0 days"]
    assert money({"USD": "5.00", "INR": "70453.00"}) == "INR 70,453.00 · USD 5.00" and money({}) == "—"
