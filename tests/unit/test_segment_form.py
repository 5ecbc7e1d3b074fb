"""The segment builder's rows to the filter language and back (dashboard/segment_form.py),
without I/O; the filter itself is then checked by the one parser, as here."""

from zoneinfo import ZoneInfo

import pytest

from wacast.contacts.segment_filter import MAX_CONDITIONS, parse
from wacast.dashboard import segment_form as sf

KOLKATA = ZoneInfo("Asia/Kolkata")


def posted(fields: dict) -> sf.Builder:
    def get(name):  # noqa: ANN001, ANN202
        value = fields.get(name, "")
        return value[-1] if isinstance(value, list) else value

    def get_all(name):  # noqa: ANN001, ANN202
        value = fields.get(name, [])
        return value if isinstance(value, list) else [value]

    return sf.rows_from_form(get, get_all)


def test_the_done_criterion_segment_from_rows():
    builder = posted({
        "name": "FB, read X, no reply", "match": "all",
        "c0_field": "source", "c0_op": "equals", "c0_value": "Facebook forms", "c0_tags": ["ignored"],
        "c3_field": "campaign", "c3_op": "received", "c3_campaign": "Diwali offer", "c3_status": ["read"], "c3_value": "ignored",
        "c1_field": "", "c1_value": "an empty row is left out",
    })
    flt = sf.filter_of(builder)
    assert flt == {"match": "all", "conditions": [
        {"field": "source", "op": "equals", "value": "Facebook forms"},
        {"field": "campaign", "op": "received", "campaign": "Diwali offer", "status": ["read"]},
    ]}
    assert parse(flt, KOLKATA)["conditions"][1]["status"] == ["read"]


@pytest.mark.parametrize("fields, condition", [
    ({"c0_field": "tags", "c0_op": "none", "c0_tags": ["vip", "churned"]}, {"field": "tags", "op": "none", "value": ["vip", "churned"]}),
    ({"c0_field": "source", "c0_op": "in", "c0_value": "Website, Facebook forms ,"}, {"field": "source", "op": "in", "value": ["Website", "Facebook forms"]}),
    ({"c0_field": "source", "c0_op": "not_set", "c0_value": "x"}, {"field": "source", "op": "not_set"}),
    ({"c0_field": "attribute", "c0_op": "contains", "c0_name": "city", "c0_value": "Pun"}, {"field": "attribute", "op": "contains", "name": "city", "value": "Pun"}),
    ({"c0_field": "attribute", "c0_op": "is_set", "c0_name": "city", "c0_value": "x"}, {"field": "attribute", "op": "is_set", "name": "city"}),
    ({"c0_field": "created", "c0_op": "between", "c0_from": "2026-11-01", "c0_to": ""}, {"field": "created", "op": "between", "value": {"from": "2026-11-01"}}),
    ({"c0_field": "campaign", "c0_op": "not_received", "c0_campaign": "X", "c0_status": ["read"]}, {"field": "campaign", "op": "not_received", "campaign": "X"}),
    ({"c0_field": "tags", "c0_tags": ["vip"]}, {"field": "tags", "op": "any", "value": ["vip"]}),  # no operator yet: the field's first
])
def test_each_field_posts_only_what_its_operator_needs(fields, condition):
    assert sf.filter_of(posted(fields))["conditions"] == [condition]


def test_a_half_filled_row_is_refused_by_the_parser_not_dropped():
    flt = sf.filter_of(posted({"c0_field": "tags", "c0_op": "any"}))
    with pytest.raises(Exception) as caught:
        parse(flt, KOLKATA)
    assert caught.value.code == "SEGMENT_FILTER_INVALID" and "conditions[0].value" in caught.value.message
    with pytest.raises(Exception) as caught:  # an operator the field does not offer stays as posted
        parse(sf.filter_of(posted({"c0_field": "tags", "c0_op": "contains", "c0_tags": ["vip"]})), KOLKATA)
    assert caught.value.code == "SEGMENT_FILTER_INVALID"


def test_a_stored_filter_comes_back_as_the_rows_that_made_it():
    rows = {"match": "any", "c0_field": "created", "c0_op": "between", "c0_from": "2026-11-01", "c0_to": "2026-11-30",
            "c1_field": "source", "c1_op": "in", "c1_value": "Website, Facebook forms",
            "c2_field": "attribute", "c2_op": "equals", "c2_name": "city", "c2_value": "Pune",
            "c3_field": "tags", "c3_op": "all", "c3_tags": ["vip", "new"]}
    stored = parse(sf.filter_of(posted(rows)), KOLKATA)  # dates become UTC datetimes
    again = sf.builder_of("seg", {**stored, "conditions": [*stored["conditions"], {"field": "campaign", "campaign_id": "c-1", "op": "received", "status": ["replied"]}]}, KOLKATA)
    assert again.match == "any"
    assert (again.rows[0].start, again.rows[0].end) == ("2026-11-01", "2026-11-30")  # days in the project's zone again
    assert (again.rows[1].op, again.rows[1].value) == ("in", "Website, Facebook forms")
    assert (again.rows[2].name, again.rows[2].value) == ("city", "Pune")
    assert again.rows[3].tags == ["vip", "new"]
    assert (again.rows[4].campaign, again.rows[4].status) == ("c-1", ["replied"])
    assert sf.filter_of(again)["conditions"][:4] == sf.filter_of(posted(rows))["conditions"]


def test_the_list_says_a_segment_in_words():
    stored = {"match": "all", "conditions": [
        {"field": "source", "op": "equals", "value": "Facebook forms"},
        {"field": "campaign", "campaign_id": "c-1", "op": "received", "status": ["read"]},
        {"field": "campaign", "campaign_id": "gone", "op": "not_received"},
    ]}
    assert sf.describe(stored, {"c-1": "Diwali offer"}, KOLKATA) == (
        "source is Facebook forms and got Diwali offer (last outcome read) and did not get a deleted campaign")
    assert sf.describe({"match": "all", "conditions": []}, {}, KOLKATA) == "every contact"


def test_the_form_allows_every_row_the_parser_allows():
    names = set(sf.field_names())
    assert f"c{MAX_CONDITIONS - 1}_status" in names and f"c{MAX_CONDITIONS}_field" not in names
