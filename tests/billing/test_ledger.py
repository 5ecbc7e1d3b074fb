"""The ledger against sums computed by hand, on both backends: messages really sent to the fake
Meta, their statuses posted to /webhooks/whatsapp (signed) with Meta's pricing shapes (type
regular / free_customer_service, `billable` alone, pricing on sent and again on delivered), two
rate card versions, and the cost of each message at the version in force at its time."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from wacast.kit.clock import utcnow
from wacast.models.billing import MessagePricing
from wacast.whatsapp.inbound import InboundEvents

V1_CSV = "category,country,price,region\nmarketing,IN,0.80,\nmarketing,*,1.00,rest of world\nutility,IN,0.10,\nutility,*,0.20,\n"
V2_CSV = "category,country,price\nmarketing,IN,0.90\nutility,IN,0.15\nutility,*,0.25\n"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


def auth(setup) -> dict:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def send(client, dispatcher, fake_meta, setup, destination):  # noqa: ANN001, ANN201
    response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
    assert response.status_code == 200, response.text
    message_id = response.json()["submitted_message_id"]
    await dispatcher.run_until_idle()
    return next(s for s in fake_meta.sends if s.message_id == message_id and s.wamid)


async def status(client, db, settings, fake_meta, sent, kind, at: datetime, pricing: dict | None) -> None:  # noqa: ANN001
    payload = fake_meta.status_body(sent, kind, timestamp=int(at.timestamp()), pricing_category=None)
    if pricing is not None:
        payload["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = pricing
    response = await fake_meta.post_webhook(payload, client=client)
    assert response.status_code == 200, response.text
    await InboundEvents(db, settings).tick()


async def import_card(client, setup, csv_text: str, effective: str | None) -> dict:  # noqa: ANN001
    params = {"currency": "INR", **({"effective_from": effective} if effective else {})}
    response = await client.post("/api/v1/rate-cards", content=csv_text.encode(), params=params,
                                 headers={**auth(setup), "Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    return response.json()


async def test_ledger_matches_hand_computed_sums(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    v1 = await import_card(client, setup, V1_CSV, (utcnow() - timedelta(days=30)).date().isoformat())  # the first card may be dated back
    v2 = await import_card(client, setup, V2_CSV, None)  # from now on
    assert (v1["version"], v2["version"]) == (1, 2)
    starts = datetime.fromisoformat(v2["effective_from"])
    before, after = starts - timedelta(minutes=30), starts + timedelta(minutes=1)

    a = await send(client, dispatcher, fake_meta, setup, "+917428526201")
    b = await send(client, dispatcher, fake_meta, setup, "+917428526202")
    c = await send(client, dispatcher, fake_meta, setup, "+917428526203")
    d = await send(client, dispatcher, fake_meta, setup, "+971501234567")
    e = await send(client, dispatcher, fake_meta, setup, "+14155552671")
    regular = {"billable": True, "pricing_model": "PMP", "type": "regular"}
    # A: marketing to India before v2, on `sent` and again on `delivered`: kept once, at v1 (0.80).
    await status(client, db, settings, fake_meta, a, "sent", before, {**regular, "category": "marketing"})
    await status(client, db, settings, fake_meta, a, "delivered", after, {**regular, "category": "marketing"})
    # B: utility inside an open service window: free.
    await status(client, db, settings, fake_meta, b, "delivered", before,
                 {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "utility"})
    # C: no pricing on `sent`; utility on `delivered`, after v2 took effect: v2's 0.15.
    await status(client, db, settings, fake_meta, c, "sent", before, None)
    await status(client, db, settings, fake_meta, c, "delivered", after, {**regular, "category": "utility"})
    # D: marketing to the UAE, Meta's older shape (no `type`: `billable` decides), before v2: v1's * rate 1.00.
    await status(client, db, settings, fake_meta, d, "delivered", before, {"billable": True, "pricing_model": "PMP", "category": "marketing"})
    # E: utility to the US, `billable: false` and no type: free.
    await status(client, db, settings, fake_meta, e, "delivered", after, {"billable": False, "pricing_model": "PMP", "category": "utility"})

    async with db.sessionmaker() as session:
        kept = {(r.country, r.category, r.billable) for r in (await session.execute(select(MessagePricing))).scalars()}
    assert kept == {("IN", "marketing", True), ("IN", "utility", False), ("IN", "utility", True), ("AE", "marketing", True), ("US", "utility", False)}

    response = await client.get("/api/v1/ledger", headers=auth(setup))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["totals"] == [{"currency": "INR", "messages": 5, "billable": 3, "free": 2, "unpriced": 0, "cost": "1.950000"}]
    rows = {(r["month"], r["category"], r["country"]): (r["messages"], r["billable"], r["cost"]) for r in report["rows"]}
    month = {before.strftime("%Y-%m"), after.strftime("%Y-%m")}
    by_key: dict = {}
    for (m, category, country), value in rows.items():
        assert m in month
        prior = by_key.get((category, country), (0, 0, "0"))
        by_key[(category, country)] = (prior[0] + value[0], prior[1] + value[1], f"{float(prior[2]) + float(value[2]):.2f}")
    assert by_key == {("marketing", "AE"): (1, 1, "1.00"), ("marketing", "IN"): (1, 1, "0.80"), ("utility", "IN"): (2, 1, "0.15"),
                      ("utility", "US"): (1, 0, "0.00")}

    # By campaign and day, filtered by the campaign's name, and as CSV.
    by_day = (await client.get("/api/v1/ledger", params={"group_by": "campaign,day", "campaign_id": "order_update"}, headers=auth(setup))).json()
    assert {r["campaign"] for r in by_day["rows"]} == {"order_update"}
    assert sum(float(r["cost"]) for r in by_day["rows"]) == pytest.approx(1.95)
    assert {r["day"] for r in by_day["rows"]} == {before.strftime("%Y-%m-%d"), after.strftime("%Y-%m-%d")}
    exported = await client.get("/api/v1/ledger", params={"group_by": "campaign", "format": "csv"}, headers=auth(setup))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert sum(float(r["cost"]) for r in table) == pytest.approx(1.95)
    assert {r["campaign"] for r in table} == {"order_update"}

    # A window that ends before the messages holds nothing; a bad grouping is a clear 400.
    empty = (await client.get("/api/v1/ledger", params={"to": (before - timedelta(days=2)).date().isoformat()}, headers=auth(setup))).json()
    assert empty["rows"] == [] and empty["totals"] == []
    bad = await client.get("/api/v1/ledger", params={"group_by": "week"}, headers=auth(setup))
    assert bad.status_code == 400 and bad.json()["code"] == "INVALID_GROUP_BY"
    reversed_range = await client.get("/api/v1/ledger", params={"from": "2026-12-10", "to": "2026-12-01"}, headers=auth(setup))
    assert reversed_range.status_code == 400 and reversed_range.json()["code"] == "INVALID_DATE_RANGE"
    unknown = await client.get("/api/v1/ledger", params={"campaign_id": str(uuid.uuid4())}, headers=auth(setup))
    assert unknown.status_code == 404 and unknown.json()["code"] == "CAMPAIGN_NOT_FOUND"


async def test_a_new_version_never_reprices_the_past(client, db, settings, dispatcher, fake_meta):
    """A version dated in the past is refused once a card exists; the cost of a message stays
    the one of the version in force at its time when a newer version is imported."""
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await import_card(client, setup, V1_CSV, (utcnow() - timedelta(days=3)).date().isoformat())
    a = await send(client, dispatcher, fake_meta, setup, "+917428526211")
    await status(client, db, settings, fake_meta, a, "delivered", utcnow() - timedelta(hours=1),
                 {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"})

    async def total() -> str:
        return (await client.get("/api/v1/ledger", headers=auth(setup))).json()["totals"][0]["cost"]

    assert await total() == "0.800000"
    refused = await client.post("/api/v1/rate-cards", content=V2_CSV.encode(),
                                params={"currency": "INR", "effective_from": (utcnow() - timedelta(days=1)).date().isoformat()},
                                headers={**auth(setup), "Content-Type": "text/csv"})
    assert refused.status_code == 400 and refused.json()["code"] == "RATE_CARD_IN_PAST"
    future = await import_card(client, setup, V2_CSV, (utcnow() + timedelta(days=2)).date().isoformat())
    await import_card(client, setup, V2_CSV, None)
    assert await total() == "0.800000"  # v2 and v3 price later messages only
    cards = (await client.get("/api/v1/rate-cards", headers=auth(setup))).json()["data"]
    assert [(c["version"], c["in_force"]) for c in cards] == [(3, True), (2, False), (1, False)]
    assert datetime.fromisoformat(future["effective_from"]) == datetime.combine((utcnow() + timedelta(days=2)).date(), datetime.min.time(), UTC)
    # The version in force when the future one starts is the future one (its later date wins over v3's now).
    shown = (await client.get("/api/v1/rate-cards/2", headers=auth(setup))).json()
    assert {(r["category"], r["country"], r["price"]) for r in shown["rate_list"]} == {
        ("marketing", "IN", "0.900000"), ("utility", "IN", "0.150000"), ("utility", "*", "0.250000")}
    estimate = await client.post("/api/v1/billing/estimate", json={"counts": [{"category": "MARKETING", "country": "IN", "messages": 3},
                                                                               {"category": "utility", "country": "FR", "messages": 2}]},
                                 headers=auth(setup))
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["rate_card_version"] == 3 and estimate.json()["cost"] == "3.200000"  # 3 x 0.90 + 2 x 0.25
