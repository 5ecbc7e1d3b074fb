"""The read side of clicks and conversions over REST, on both backends: a message's `clicked`
outcome, a campaign's clicks and conversions on GET /api/v1/campaigns/{id} and /analytics,
the CLICKED and CONVERTED audiences (pages and CSV), and the segment conditions "clicked /
did not click / converted / did not convert in campaign X" with exact counts."""

from __future__ import annotations

import csv
import io

import pytest

from tests.links.scenario import ASHA, MEERA, RAVI, auth, build


async def test_a_message_shows_its_clicked_outcome_beside_the_status_ladder(client, db):
    s = await build(client, db)
    h = auth(s.setup.api_key)
    asha = (await client.get(f"/api/v1/messages/{s.messages[ASHA]}", headers=h)).json()
    assert asha["status"] == "read" and asha["clicked"]["clicks"] == 1 and asha["clicked"]["first_clicked_at"]
    ravi = (await client.get(f"/api/v1/messages/{s.messages[RAVI]}", headers=h)).json()
    assert ravi["clicked"]["clicks"] == 1  # the second tap seconds later is a repeat, not a click
    meera = (await client.get(f"/api/v1/messages/{s.messages[MEERA]}", headers=h)).json()
    assert meera["clicked"] is None  # a preview fetcher's request is no click
    listed = (await client.get("/api/v1/messages?campaign=order_update", headers=h)).json()["data"]
    assert {m["destination"]: (m["clicked"] or {}).get("clicks") for m in listed} == {ASHA: 1, RAVI: 1, MEERA: None}


async def test_the_campaign_shows_clicks_conversions_revenue_and_the_times_between(client, db):
    s = await build(client, db)
    h = auth(s.setup.api_key)
    got = await client.get(f"/api/v1/campaigns/{s.campaign_id}", headers=h)
    assert got.status_code == 200, got.text
    results = got.json()["results"]
    assert results["delivered"] == 3
    assert results["clicks"] == {"unique": 2, "total": 2, "rate": 0.6667, "per_button": {"0": {"clicks": 2, "unique": 2}}}
    conversions = results["conversions"]
    assert (conversions["total"], conversions["converted_messages"], conversions["rate"]) == (2, 1, 0.3333)
    assert conversions["revenue"] == {"INR": "1499.00"} and conversions["goals"] == {}
    assert conversions["other_goals"]["purchase"] == {"conversions": 1, "revenue": {"INR": "1499.00"}, "defined": False}
    assert conversions["other_goals"]["cart"]["conversions"] == 1
    assert results["median_seconds"] == {"read_to_click": 2370.0, "click_to_conversion": 120.0}
    assert results["tracking"] == {"utm": {}, "goals": [], "attribution_window_days": 7, "track_body_urls": False}
    analytics = (await client.get("/api/v1/campaigns/order_update/analytics", headers=h)).json()
    assert analytics["clicks"] == results["clicks"] and analytics["conversions"] == conversions


async def test_the_clicked_and_converted_audiences_page_and_export_to_csv(client, db):
    s = await build(client, db)
    h = auth(s.setup.api_key)
    clicked = (await client.get("/api/v1/campaigns/order_update/audience?outcome=CLICKED", headers=h)).json()["data"]
    assert sorted(m["phone"] for m in clicked) == sorted([ASHA, RAVI])
    converted = (await client.get("/api/v1/campaigns/order_update/audience?outcome=converted", headers=h)).json()["data"]
    assert [(m["phone"], m["conversions"], m["goals"], m["revenue"]) for m in converted] == [(ASHA, 2, ["cart", "purchase"], {"INR": "1499.00"})]
    first = (await client.get("/api/v1/campaigns/order_update/audience?outcome=CLICKED&limit=1", headers=h)).json()
    second = (await client.get(f"/api/v1/campaigns/order_update/audience?outcome=CLICKED&limit=1&cursor={first['next_cursor']}", headers=h)).json()
    assert {first["data"][0]["phone"], second["data"][0]["phone"]} == {ASHA, RAVI} and second["next_cursor"] is None
    read = (await client.get("/api/v1/campaigns/order_update/audience?outcome=READ", headers=h)).json()["data"]
    assert {m["phone"]: m["clicks"] for m in read} == {ASHA: 1, RAVI: 1, MEERA: 0}  # every list carries the clicks

    exported = await client.get("/api/v1/campaigns/order_update/audience.csv?outcome=CLICKED", headers=h)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert 'filename="order_update-clicked.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted((r["phone"], r["clicks"], r["conversions"], r["goals"], r["revenue"]) for r in rows) == [
        (ASHA, "1", "2", "cart, purchase", "INR 1499.00"), (RAVI, "1", "0", "", "")]
    assert all(r["clicked_at"] for r in rows) and rows[0]["submitted_message_id"]
    converted_csv = list(csv.DictReader(io.StringIO((await client.get("/api/v1/campaigns/order_update/audience.csv?outcome=CONVERTED", headers=h)).text)))
    assert [r["phone"] for r in converted_csv] == [ASHA] and converted_csv[0]["converted_at"]

    bad = await client.get("/api/v1/campaigns/order_update/audience.csv?outcome=BOUGHT", headers=h)
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_OUTCOME"
    missing = await client.get("/api/v1/campaigns/nope/audience.csv?outcome=CLICKED", headers=h)
    assert missing.status_code == 404 and missing.json()["code"] == "CAMPAIGN_NOT_FOUND"


def campaign(op: str, **more):  # noqa: ANN003, ANN201
    return {"field": "campaign", "campaign": "order_update", "op": op, **more}


@pytest.mark.parametrize(("conditions", "matching"), [
    ([campaign("clicked")], 2),
    ([campaign("not_clicked")], 1),
    ([campaign("converted")], 1),
    ([campaign("converted", goal=["cart"])], 1),
    ([campaign("converted", goal="refund")], 0),
    ([campaign("not_converted")], 2),
    ([campaign("not_converted", goal=["purchase"])], 2),
    ([campaign("clicked"), campaign("not_converted")], 1),  # retargeting: clicked but did not buy
    ([campaign("clicked"), campaign("converted")], 1),
    ([campaign("not_clicked"), campaign("received", status=["read"])], 1),
])
async def test_segments_filter_on_clicks_and_conversions_with_exact_counts(client, db, conditions, matching):
    s = await build(client, db)
    h = auth(s.setup.api_key)
    counted = await client.post("/api/v1/segments/count", headers=h, json={"filter": {"match": "all", "conditions": conditions}})
    assert counted.status_code == 200, counted.text
    assert counted.json()["count"]["matching"] == matching


async def test_clicked_but_did_not_buy_is_a_segment_of_exactly_those_people(client, db):
    s = await build(client, db)
    h = auth(s.setup.api_key)
    made = await client.post("/api/v1/segments", headers=h, json={"name": "clicked, no purchase", "filter": {
        "match": "all", "conditions": [campaign("clicked"), campaign("not_converted", goal=["purchase"])]}})
    assert made.status_code == 201, made.text
    assert made.json()["filter"]["conditions"][1] == {"field": "campaign", "campaign_id": str(s.campaign_id), "op": "not_converted", "goal": ["purchase"]}
    members = (await client.get(f"/api/v1/segments/{made.json()['id']}/contacts", headers=h)).json()
    assert [m["phone"] for m in members["contacts"]] == [RAVI]
    exported = (await client.get(f"/api/v1/segments/{made.json()['id']}/export", headers=h)).text
    assert RAVI in exported and ASHA not in exported and MEERA not in exported


@pytest.mark.parametrize(("condition", "code", "field"), [
    (campaign("clicked", status=["read"]), "SEGMENT_FILTER_INVALID", "filter.conditions[0].status"),
    (campaign("clicked", goal=["purchase"]), "SEGMENT_FILTER_INVALID", "filter.conditions[0].goal"),
    (campaign("converted", goal=["Big Sale!"]), "SEGMENT_FILTER_INVALID", "filter.conditions[0].goal"),
    (campaign("converted", goal=[]), "SEGMENT_FILTER_INVALID", "filter.conditions[0].goal"),
    (campaign("tapped"), "SEGMENT_FILTER_INVALID", "filter.conditions[0].op"),
    ({**campaign("clicked"), "campaign": "no such campaign"}, "CAMPAIGN_NOT_FOUND", "filter.conditions[0].campaign"),
])
async def test_bad_click_conditions_are_refused_and_save_nothing(client, db, condition, code, field):
    s = await build(client, db)
    h = auth(s.setup.api_key)
    refused = await client.post("/api/v1/segments", headers=h, json={"name": "x", "filter": {"conditions": [condition]}})
    assert refused.status_code == 400 and refused.json()["code"] == code and refused.json()["details"]["field"] == field, refused.text
    assert (await client.get("/api/v1/segments", headers=h)).json()["segments"] == []
