"""Budgets on both backends: a running broadcast paused by its budget before the batch that
would pass it (the reason on the campaign, the checkpoint kept), the 80 % warning and the
pause as customer-webhook events (once each), a raised budget and a resume finishing the
broadcast, the project's monthly budget counting what Meta priced, and the REST refusals."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tests.campaigns.test_broadcasts import EVERYONE, add_contacts, add_promo, auth, broadcast, broadcast_messages, engine_for, segment
from tests.support.factories import make_project
from wacast.models.billing import BroadcastSpend
from wacast.models.campaigns import Campaign
from wacast.models.notifications import Notification
from wacast.models.webhooks import WebhookEvent
from wacast.webhooks import service as webhooks

CARD = {"currency": "INR", "rates": [{"category": "marketing", "country": "IN", "price": "1.00"},
                                     {"category": "utility", "country": "IN", "price": "0.50"}]}


async def subscribe(db, project_id) -> None:  # noqa: ANN001
    async with db.transaction() as session:
        await webhooks.create(session, project_id, url="http://127.0.0.1:9/hook", topics=["budget.warning", "budget.exceeded"],
                              allow_private=True)


async def events(db, topic) -> list[dict]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return [e.data for e in (await session.execute(select(WebhookEvent).where(WebhookEvent.topic == topic))).scalars()]


async def campaign_row(db, campaign_id) -> Campaign:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return await session.get(Campaign, uuid.UUID(campaign_id))


async def test_a_running_broadcast_pauses_before_passing_its_budget(app, client, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 60)
    await subscribe(db, setup.project_id)
    assert (await client.post("/api/v1/rate-cards", json=CARD, headers=auth(setup))).status_code == 201
    seg = await segment(client, setup, EVERYONE)
    made = await broadcast(client, setup, seg)
    budget = await client.put("/api/v1/budgets", json={"scope": "broadcast", "campaign_id": made["id"], "amount": "25"}, headers=auth(setup))
    assert budget.status_code == 200, budget.text
    assert budget.json()["currency"] == "INR" and budget.json()["amount"] == "25.000000"

    engine = engine_for(app, settings, batch=10)
    for _ in range(5):
        await engine.tick(max_batches=1)
    row = await campaign_row(db, made["id"])
    # Batches of 10 at 1.00: 10, then 20 (80 % of 25: warned); the third would make 30 > 25.
    assert row.status == "paused"
    assert row.status_reason.startswith("paused: budget: the next batch would take this broadcast's budget past 25.000000 INR")
    assert len(await broadcast_messages(db, made["id"])) == 20
    warned, exceeded = await events(db, "budget.warning"), await events(db, "budget.exceeded")
    assert len(warned) == 1 and warned[0]["percent"] == 80 and warned[0]["scope"] == "broadcast"
    assert len(exceeded) == 1 and exceeded[0]["with_next_batch"] == "30.000000" and exceeded[0]["campaign_id"] == made["id"]
    async with db.sessionmaker() as session:  # and in the notifications panel (with the owners' emails)
        told = (await session.execute(select(Notification).order_by(Notification.created_at))).scalars().all()
    assert [(n.kind, n.severity, n.link) for n in told] == [("budget", "warning", f"/broadcasts/{made['id']}"),
                                                             ("budget", "critical", f"/broadcasts/{made['id']}")]
    assert told[0].title == f"Budget at 80 %: broadcast {made['name']}" and "paused" in told[1].title
    async with db.sessionmaker() as session:
        spend = await session.get(BroadcastSpend, uuid.UUID(made["id"]))
    assert (spend.messages, spend.amount_micros, spend.currency) == (20, 20_000_000, "INR")

    # Resumed with the same budget: paused again at once, and not announced twice.
    assert (await client.post(f"/api/v1/campaigns/{made['id']}/resume", headers=auth(setup))).status_code == 200
    await engine.tick(max_batches=1)
    assert (await campaign_row(db, made["id"])).status == "paused"
    assert len(await events(db, "budget.exceeded")) == 1

    # A raised budget lets it finish; the messages sent and priced by Meta (the sandbox reports
    # utility pricing) count at their actual price.
    raised = await client.put("/api/v1/budgets", json={"scope": "broadcast", "campaign_id": made["name"], "amount": 100, "currency": "INR"},
                              headers=auth(setup))
    assert raised.status_code == 200 and raised.json()["warned"] is None
    assert (await client.post(f"/api/v1/campaigns/{made['id']}/resume", headers=auth(setup))).status_code == 200
    for _ in range(8):
        await engine.tick(max_batches=1)
    assert len(await broadcast_messages(db, made["id"])) == 60
    await dispatcher.run_until_idle()
    cost = (await client.get(f"/api/v1/ledger/broadcasts/{made['id']}", headers=auth(setup))).json()
    assert cost["estimate"] == {"currency": "INR", "messages": 60, "cost": "60.000000", "unpriced": 0}
    assert cost["actual"]["messages"] == 60 and cost["actual"]["currencies"] == {"INR": "30.000000"}  # 60 x utility 0.50
    listed = (await client.get("/api/v1/budgets", headers=auth(setup))).json()["data"]
    assert [(b["scope"], b["spent"]) for b in listed] == [("broadcast", "30.000000")]


async def test_the_monthly_budget_counts_the_whole_project(app, client, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 30)
    assert (await client.post("/api/v1/rate-cards", json=CARD, headers=auth(setup))).status_code == 201
    # API messages already sent this month and priced by Meta: 4 x utility 0.50 = 2.00.
    for i in range(4):
        sent = await client.post("/campaign/t1/api/v2", json={"apiKey": setup.api_key, "campaignName": "order_update",
                                                              "destination": f"+9174285262{i:02d}", "userName": "A", "templateParams": ["A", "B"]})
        assert sent.status_code == 200, sent.text
    await dispatcher.run_until_idle()
    month = await client.put("/api/v1/budgets", json={"scope": "month", "amount": "15"}, headers=auth(setup))
    assert month.status_code == 200, month.text
    assert (await client.get("/api/v1/budgets", headers=auth(setup))).json()["data"][0]["spent"] == "2.000000"
    made = await broadcast(client, setup, await segment(client, setup, EVERYONE))
    engine = engine_for(app, settings, batch=10)
    for _ in range(4):
        await engine.tick(max_batches=1)
    row = await campaign_row(db, made["id"])
    # 2.00 + 10 = 12 fits; 12 + 10 would pass 15.
    assert row.status == "paused" and "the project's monthly budget past 15.000000 INR" in row.status_reason
    assert len(await broadcast_messages(db, made["id"])) == 10


async def test_budget_refusals(client, db):
    setup = await make_project(db)
    headers = auth(setup)
    cases = [
        ({"scope": "month", "amount": "5"}, 400, "FIELD_REQUIRED"),  # no card, no currency
        ({"scope": "month", "amount": "-5", "currency": "INR"}, 400, "BUDGET_INVALID"),
        ({"scope": "year", "amount": "5", "currency": "INR"}, 400, "BUDGET_INVALID"),
        ({"scope": "broadcast", "amount": "5", "currency": "INR"}, 400, "FIELD_REQUIRED"),
        ({"scope": "broadcast", "campaign_id": "nope", "amount": "5", "currency": "INR"}, 404, "CAMPAIGN_NOT_FOUND"),
        ({"scope": "month", "amount": "5", "currency": "rupees"}, 400, "INVALID_CURRENCY"),
        ({"scope": "month", "amount": "5", "currency": "INR", "limit": 1}, 422, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        response = await client.put("/api/v1/budgets", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), (body, response.text)
    assert (await client.post("/api/v1/rate-cards", json=CARD, headers=headers)).status_code == 201
    mismatch = await client.put("/api/v1/budgets", json={"amount": "5", "currency": "USD"}, headers=headers)
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "BUDGET_CURRENCY_MISMATCH"
    missing = await client.delete("/api/v1/budgets", params={"scope": "month"}, headers=headers)
    assert missing.status_code == 404 and missing.json()["code"] == "BUDGET_NOT_FOUND"
    assert (await client.put("/api/v1/budgets", json={"amount": "5"}, headers=headers)).status_code == 200
    assert (await client.delete("/api/v1/budgets", headers=headers)).status_code == 204
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(BroadcastSpend))).scalar() == 0
