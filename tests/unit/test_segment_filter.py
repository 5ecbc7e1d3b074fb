"""The segment filter language (contacts/segment_filter.py): parsing and normalizing without
I/O, and compiling to SQL (rendered, not run)."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import literal_column
from sqlalchemy.dialects import postgresql

from wacast.contacts.segment_filter import compile_filter, parse, tag_names, with_campaign_ids
from wacast.kit.errors import WacastError

IST = ZoneInfo("Asia/Kolkata")


def conditions(*items: dict) -> dict:
    return {"match": "all", "conditions": list(items)}


def test_parse_normalizes_values() -> None:
    flt = parse({"conditions": [
        {"field": "tags", "op": "any", "value": "vip"},
        {"field": "tags", "op": "all", "value": [" vip ", "customer", "vip"]},
        {"field": "source", "op": "in", "value": ["Web", "Web"]},
        {"field": "attribute", "name": " city ", "op": "equals", "value": " Pune "},
        {"field": "source", "op": "not_set", "value": "ignored"},
    ]}, IST)
    assert flt["match"] == "all"
    assert flt["conditions"] == [
        {"field": "tags", "op": "any", "value": ["vip"]},
        {"field": "tags", "op": "all", "value": ["vip", "customer"]},
        {"field": "source", "op": "in", "value": ["Web"]},
        {"field": "attribute", "name": "city", "op": "equals", "value": "Pune"},
        {"field": "source", "op": "not_set"},
    ]
    assert tag_names(flt) == ["vip", "customer"]


def test_dates_are_days_in_the_project_zone_and_to_is_inclusive() -> None:
    flt = parse(conditions({"field": "created", "op": "between", "value": {"from": "2026-11-01", "to": "2026-11-30"}}), IST)
    value = flt["conditions"][0]["value"]
    assert value == {"from": "2026-10-31T18:30:00+00:00", "to": "2026-11-30T18:30:00+00:00"}
    naive = parse(conditions({"field": "created", "op": "between", "value": {"from": "2026-11-01T10:00"}}), IST)
    assert naive["conditions"][0]["value"] == {"from": "2026-11-01T04:30:00+00:00"}


def test_campaign_conditions_keep_their_reference_until_resolved() -> None:
    flt = parse(conditions({"field": "campaign", "campaign": "Diwali", "op": "received", "status": ["READ", "replied"]},
                           {"field": "campaign", "campaign": "Diwali", "op": "not_received", "status": ["read"]}), IST)
    assert flt["conditions"][0] == {"field": "campaign", "campaign": "Diwali", "op": "received", "status": ["read", "replied"]}
    assert flt["conditions"][1] == {"field": "campaign", "campaign": "Diwali", "op": "not_received"}
    campaign_id = uuid.uuid4()
    stored = with_campaign_ids(flt, {"Diwali": campaign_id})
    assert stored["conditions"][0] == {"field": "campaign", "campaign_id": str(campaign_id), "op": "received", "status": ["read", "replied"]}


@pytest.mark.parametrize(("raw", "code", "field"), [
    ([], "SEGMENT_FILTER_INVALID", "filter"),
    ({"match": "maybe"}, "SEGMENT_FILTER_INVALID", "filter.match"),
    ({"conditions": {}}, "SEGMENT_FILTER_INVALID", "filter.conditions"),
    ({"conditions": [{"field": "tags"}] * 51}, "SEGMENT_FILTER_INVALID", "filter.conditions"),
    (conditions({"field": "colour"}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].field"),
    (conditions({"field": "tags", "op": "some", "value": ["a"]}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].op"),
    (conditions({"field": "tags", "op": "any", "value": []}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].value"),
    (conditions({"field": "tags", "op": "any", "value": ["x"] * 101}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].value"),
    (conditions({"field": "source", "op": "equals", "value": "x" * 201}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].value"),
    (conditions({"field": "created", "op": "between", "value": {"from": "yesterday"}}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].value.from"),
    (conditions({"field": "campaign", "campaign": "c", "op": "received", "status": ["opened"]}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].status"),
    (conditions({"field": "campaign", "campaign": "c", "op": "opened"}), "SEGMENT_FILTER_INVALID", "filter.conditions[0].op"),
    # the base text rule: NUL, control characters, lone surrogates
    (conditions({"field": "tags", "op": "any", "value": ["v\x00ip"]}), "FIELD_INVALID", "filter.conditions[0].value[0]"),
    (conditions({"field": "attribute", "name": "ci\x1bty", "op": "is_set"}), "FIELD_INVALID", "filter.conditions[0].name"),
    (conditions({"field": "attribute", "name": "city", "op": "equals", "value": "Pu\ud800ne"}), "FIELD_INVALID", "filter.conditions[0].value"),
    (conditions({"field": "source", "op": "equals", "value": "two\nlines"}), "FIELD_INVALID", "filter.conditions[0].value"),
])
def test_bad_filters_name_the_field(raw: object, code: str, field: str) -> None:
    with pytest.raises(WacastError) as raised:
        parse(raw, IST)
    assert raised.value.code == code and raised.value.details["field"] == field and raised.value.status_code == 400


def sql(flt: dict, outcomes: object = None) -> str:
    return str(compile_filter(flt, outcomes).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def test_compile_match_all_any_and_empty() -> None:
    assert sql({"conditions": []}) == "true"
    both = [{"field": "source", "op": "equals", "value": "Web"}, {"field": "attribute", "name": "city", "op": "is_set"}]
    assert " AND " in sql({"match": "all", "conditions": both}) and " OR " in sql({"match": "any", "conditions": both})
    assert "lower(contacts.source) = 'web'" in sql(conditions(both[0]))
    assert "NOT (EXISTS" in sql(conditions({"field": "tags", "op": "none", "value": ["vip"]}))


class FakeOutcomes:
    """The protocol's shape only (the campaigns floor provides the real one)."""

    def received(self, campaign_id: uuid.UUID):  # noqa: ANN201
        return literal_column(f"received_{campaign_id.hex[:4]}")

    def last_outcome_in(self, campaign_id: uuid.UUID, outcomes: list[str]):  # noqa: ANN201
        return literal_column(f"outcome_{campaign_id.hex[:4]}_{'_'.join(outcomes)}")


def test_campaign_conditions_compile_through_the_protocol() -> None:
    campaign_id = uuid.UUID("abcd0000-0000-0000-0000-000000000000")
    received = {"field": "campaign", "campaign_id": str(campaign_id), "op": "received"}
    assert sql(conditions(received), FakeOutcomes()) == "received_abcd"
    assert sql(conditions({**received, "status": ["read"]}), FakeOutcomes()) == "outcome_abcd_read"
    assert sql(conditions({**received, "op": "not_received"}), FakeOutcomes()) == "NOT received_abcd"
    with pytest.raises(RuntimeError):
        compile_filter(conditions(received))


@pytest.mark.parametrize(("raw", "field"), [
    ({"match": "all", "conditions": [], "exclude": []}, "filter.exclude"),
    (conditions({"field": "tags", "op": "any", "value": "vip", "frobnicate": 1}), "filter.conditions[0].frobnicate"),
    (conditions({"field": "attribute", "name": "city", "op": "equals", "value": "Pune", "negate": True}), "filter.conditions[0].negate"),
    (conditions({"field": "created", "op": "between", "value": {"from": "2026-01-01", "until": "2026-02-01"}}), "filter.conditions[0].value.until"),
    (conditions({"field": "campaign", "campaign": "c", "op": "received", "within_days": 7}), "filter.conditions[0].within_days"),
])
def test_unknown_keys_are_refused_never_ignored(raw, field) -> None:  # noqa: ANN001
    """A key the filter does not know would be dropped and widen the audience: refused instead."""
    with pytest.raises(WacastError) as refused:
        parse(raw, IST)
    assert refused.value.code == "VALIDATION_ERROR" and refused.value.status_code == 422
    assert refused.value.details["fields"] == [field]
