"""campaign.status.updated from the broadcast engine, to a real customer webhook receiver:
a scheduled broadcast starting (once, whichever engine starts it) and one finishing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tests.support.broadcasts import run_until_fanned_out
from tests.support.factories import make_project
from tests.support.runtime import deliver_all
from tests.webhooks.test_customer_webhooks import auth, receiver, settings, subscribe  # noqa: F401 (fixtures)
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.kit.clock import utcnow
from wacast.models.campaigns import Campaign


def moves(receiver) -> list[tuple[str, str]]:  # noqa: ANN001, F811
    events = sorted(receiver.accepted("campaign.status.updated"), key=lambda e: e["created_at"])
    return [(e["data"]["campaign"]["previous_status"], e["data"]["campaign"]["status"]) for e in events]


async def test_a_scheduled_broadcast_starting_and_finishing_are_campaign_events(client, app, db, dispatcher, receiver, settings):  # noqa: ANN001, F811
    setup = await make_project(db)
    await subscribe(client, setup, receiver, ["campaign.status.updated"])
    await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": "+917428526290"})
    seg = (await client.post("/api/v1/segments", headers=auth(setup), json={"name": "all", "filter": {"match": "all", "conditions": []}})).json()
    created = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": "weekend", "template": "no_params", "segment": seg["id"], "send_at": "2099-01-01T10:00",
    })
    assert created.status_code == 201 and created.json()["status"] == "scheduled", created.text
    engines = [BroadcastEngine(db, settings), BroadcastEngine(db, settings)]
    await engines[0].tick()
    await deliver_all(app.state.webhooks)
    assert moves(receiver) == []  # not before its time

    # Its time comes: the schedule starts, once, however many engines look at it.
    async with db.transaction() as session:
        await session.execute(update(Campaign).where(Campaign.id == uuid.UUID(created.json()["id"])).values(send_at=utcnow() - timedelta(seconds=1)))
    for engine in engines:
        await engine.tick()
    await deliver_all(app.state.webhooks)
    assert moves(receiver) == [("scheduled", "running")]
    event = receiver.accepted("campaign.status.updated")[0]
    assert event["data"]["campaign"]["name"] == "weekend" and event["data"]["campaign"]["type"] == "broadcast"

    await run_until_fanned_out(engines[0])
    await dispatcher.run_until_idle()
    await engines[0].tick()
    await deliver_all(app.state.webhooks)
    assert moves(receiver) == [("scheduled", "running"), ("running", "completed")]
