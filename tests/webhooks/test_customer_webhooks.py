"""Webhooks to the customer: signed envelopes received by a real receiver on loopback, the
durable outbox (a receiver that fails then recovers gets every event), the delivery log, the
test send, disabling after a day of failures, and events for every status, reply and opt-out."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from wacast.kit.clock import utcnow
from wacast.models.messages import InboundEvent
from wacast.models.webhooks import WebhookDelivery, WebhookEvent, WebhookSubscription
from wacast.whatsapp.inbound import InboundEvents
from wacast.meta.types import dedupe_key
from tests.support.factories import body, make_project
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver

ALL_TOPICS = [
    "message.status.updated", "message.sender.user", "contact.created", "contact.tag.updated",
    "contact.opted_out", "template.status.updated", "campaign.status.updated",
]


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201
    # Loopback receivers are allowed here; retries are due at once so a test can drain them.
    return settings.model_copy(update={"allow_private_webhook_hosts": True, "webhook_retry_base_seconds": 0.0})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def auth(setup) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def subscribe(client, setup, receiver, topics=None) -> dict:  # noqa: ANN001
    response = await client.post("/api/v1/webhooks", headers=auth(setup), json={
        "url": receiver.url, "topics": topics or ALL_TOPICS, "secret": receiver.secret,
    })
    assert response.status_code == 201, response.text
    return response.json()


async def test_status_events_are_signed_and_carry_the_submitted_message_id(client, db, dispatcher, receiver, app):
    setup = await make_project(db)
    await subscribe(client, setup, receiver)
    sent = await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526285"))
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["submitted_message_id"]
    await dispatcher.run_until_idle()
    await deliver_all(app.state.webhooks)

    assert receiver.bad_signatures == 0
    for r in receiver.received:  # verified independently of the receiver's own check
        expected = hmac.new(receiver.secret.encode(), r.raw, hashlib.sha256).hexdigest()
        assert r.headers["X-Wacast-Signature"] == expected
    statuses = receiver.accepted("message.status.updated")
    assert sorted(e["data"]["status"] for e in statuses) == ["delivered", "read", "sent"]
    for event in statuses:
        assert set(event) == {"id", "created_at", "topic", "delivery_attempt", "project_id", "data"}
        assert event["project_id"] == str(setup.project_id) and event["delivery_attempt"] == 1
        assert event["data"]["submitted_message_id"] == message_id
        assert event["data"]["message"]["messageId"] == message_id
        assert event["data"]["message"]["phone_number"] == "+917428526285"
    created = receiver.accepted("contact.created")
    assert [e["data"]["contact"]["phone_number"] for e in created] == ["+917428526285"]
    # A second send to the same person creates no second contact.created.
    await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526285"))
    await deliver_all(app.state.webhooks)
    assert len(receiver.accepted("contact.created")) == 1


async def test_a_receiver_that_fails_then_recovers_gets_every_event(client, db, dispatcher, receiver, app):
    setup = await make_project(db)
    sub = await subscribe(client, setup, receiver, ["message.status.updated"])
    receiver.fail_next = 5
    ids = []
    for i in range(3):
        response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+91742852630{i}"))
        ids.append(response.json()["submitted_message_id"])
    await dispatcher.run_until_idle()
    await deliver_all(app.state.webhooks)

    delivered = receiver.accepted("message.status.updated")
    got = {(e["data"]["submitted_message_id"], e["data"]["status"]) for e in delivered}
    assert got == {(m, s) for m in ids for s in ("sent", "delivered", "read")}
    assert len([r for r in receiver.received if r.status == 503]) == 5
    assert max(e["delivery_attempt"] for e in delivered) >= 2  # retried events say which attempt they are
    # The log shows the failed attempts, with status code, latency and the receiver's answer.
    log = (await client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=auth(setup))).json()
    assert all(d["status"] == "delivered" for d in log["data"]) and len(log["data"]) == 9
    attempts = [a for d in log["data"] for a in d["log"]]
    failed = [a for a in attempts if a["status_code"] == 503]
    assert len(failed) == 5 and all(a["response_excerpt"] == "down for maintenance" and a["latency_ms"] >= 0 for a in failed)
    sub_now = (await client.get(f"/api/v1/webhooks/{sub['id']}", headers=auth(setup))).json()
    assert sub_now["active"] is True and sub_now["failing_since"] is None


async def test_a_day_of_failures_disables_the_subscription_with_a_notice(client, db, dispatcher, receiver, app):
    setup = await make_project(db)
    sub = await subscribe(client, setup, receiver, ["contact.created"])
    receiver.always_fail = True
    await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": "+917428526201"})
    await app.state.webhooks.deliver_due()
    # The receiver has been failing for a day: the next failure disables it; the event is
    # older than the retry window and is given up.
    async with db.transaction() as session:
        day_ago = utcnow() - timedelta(hours=25)
        await session.execute(update(WebhookSubscription).where(WebhookSubscription.id == uuid.UUID(sub["id"])).values(failing_since=day_ago))
        await session.execute(update(WebhookEvent).values(created_at=day_ago))
    await deliver_all(app.state.webhooks)
    shown = (await client.get(f"/api/v1/webhooks/{sub['id']}", headers=auth(setup))).json()
    assert shown["active"] is False
    assert "failed for 24 hours" in shown["disabled_reason"] and "HTTP 503" in shown["disabled_reason"]
    log = (await client.get(f"/api/v1/webhooks/{sub['id']}/deliveries?status=failed", headers=auth(setup))).json()
    assert len(log["data"]) == 1 and log["data"][0]["attempts"] == 2
    # Disabled: new events are not queued for it; re-enabling clears the notice.
    await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": "+917428526202"})
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(WebhookDelivery))).scalar_one() == 1
    patched = await client.patch(f"/api/v1/webhooks/{sub['id']}", headers=auth(setup), json={"active": True})
    assert patched.json()["active"] is True and patched.json()["disabled_reason"] is None


async def test_test_send_reports_the_receivers_answer(client, db, receiver):
    setup = await make_project(db)
    sub = await subscribe(client, setup, receiver, ["contact.created"])
    response = await client.post(f"/api/v1/webhooks/{sub['id']}/test", headers=auth(setup))
    assert response.status_code == 200, response.text
    assert response.json()["delivered"] is True and response.json()["status_code"] == 200
    assert receiver.accepted("webhook.test")[0]["data"]["webhook_id"] == sub["id"]
    receiver.always_fail = True
    failed = (await client.post(f"/api/v1/webhooks/{sub['id']}/test", headers=auth(setup))).json()
    assert failed["delivered"] is False and failed["status_code"] == 503 and failed["response_excerpt"] == "down for maintenance"
    # A wrong secret on our side is what the receiver's check catches.
    await client.patch(f"/api/v1/webhooks/{sub['id']}", headers=auth(setup), json={"secret": "another-secret-of-enough-length"})
    receiver.always_fail = False
    wrong = (await client.post(f"/api/v1/webhooks/{sub['id']}/test", headers=auth(setup))).json()
    assert wrong["status_code"] == 401 and receiver.bad_signatures == 1


async def _inbound(db, settings, setup, sender: str, text: str) -> None:  # noqa: ANN001
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": f"sandbox:{setup.project_id}"},
        "contacts": [{"wa_id": sender, "profile": {"name": "Asha"}}],
        "messages": [{"from": sender, "id": f"wamid.in.{uuid.uuid4().hex}", "timestamp": "1764237600", "type": "text", "text": {"body": text}}],
    }}]}]}
    async with db.transaction() as session:
        session.add(InboundEvent(source="sandbox", dedupe_key=dedupe_key(payload), body=payload))
    await InboundEvents(db, settings).tick()


async def test_replies_opt_outs_tags_campaign_and_template_changes_are_events(client, db, dispatcher, receiver, app, settings):
    setup = await make_project(db)
    await subscribe(client, setup, receiver)
    sent = await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526285"))
    message_id = sent.json()["submitted_message_id"]
    await dispatcher.run_until_idle()
    await _inbound(db, settings, setup, "917428526285", "Where is my order?")
    await _inbound(db, settings, setup, "917428526285", "STOP")
    await client.post("/api/v1/contacts/+917428526285/tags", headers=auth(setup), json={"tags": ["vip"]})
    await client.post("/api/v1/campaigns/order_update/pause", headers=auth(setup))
    # Meta's verdict on a template arrives by webhook (template.status.updated).
    async with db.transaction() as session:
        from wacast.models.projects import Project

        await session.execute(update(Project).where(Project.id == setup.project_id).values(waba_id="waba-1"))
    template_event = {"object": "whatsapp_business_account", "entry": [{"id": "waba-1", "changes": [{
        "field": "message_template_status_update",
        "value": {"event": "PAUSED", "message_template_name": "order_update", "message_template_language": "en"},
    }]}]}
    async with db.transaction() as session:
        session.add(InboundEvent(source="meta", dedupe_key=dedupe_key(template_event), body=template_event))
    await InboundEvents(db, settings).tick()
    await deliver_all(app.state.webhooks)

    # Deliveries run concurrently, so the receiver may see them in either order.
    replies = sorted(receiver.accepted("message.sender.user"), key=lambda e: e["data"]["message"]["text"] != "Where is my order?")
    texts = [e["data"]["message"]["text"] for e in replies]
    assert texts == ["Where is my order?", "STOP"]
    assert replies[0]["data"]["submitted_message_id"] == message_id
    assert replies[0]["data"]["message"]["phone_number"] == "+917428526285"
    opted = receiver.accepted("contact.opted_out")
    assert [e["data"]["reason"] for e in opted] == ["keyword"] and opted[0]["data"]["contact"]["opted_in"] is False
    tagged = receiver.accepted("contact.tag.updated")
    assert tagged[0]["data"]["added"] == ["vip"] and "vip" in tagged[0]["data"]["contact"]["tags"]
    campaign = receiver.accepted("campaign.status.updated")
    assert [(e["data"]["campaign"]["previous_status"], e["data"]["campaign"]["status"]) for e in campaign] == [("live", "paused")]
    template = receiver.accepted("template.status.updated")
    assert [(e["data"]["template"]["name"], e["data"]["template"]["status"]) for e in template] == [("order_update", "PAUSED")]
    # A stranger writing in becomes a contact: contact.created (via inbound).
    await _inbound(db, settings, setup, "919000000001", "hello")
    await deliver_all(app.state.webhooks)
    strangers = [e for e in receiver.accepted("contact.created") if e["data"]["via"] == "inbound"]
    assert [e["data"]["contact"]["phone_number"] for e in strangers] == ["+919000000001"]
    assert receiver.bad_signatures == 0


async def test_events_are_written_only_with_their_change_and_only_for_subscribers(client, db, receiver, app):
    setup = await make_project(db)
    other = await make_project(db, "other")
    await subscribe(client, setup, receiver, ["contact.created"])
    # A rejected change writes no event; another project's changes reach no one here.
    bad = await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": "+917428526203", "tags": ["nope"]})
    assert bad.status_code == 400
    await client.post("/api/v1/contacts", headers=auth(other), json={"phone": "+917428526204"})
    await client.patch("/api/v1/contacts/+917428526204", headers=auth(other), json={"opted_in": False})
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(WebhookEvent))).scalar_one() == 0
    await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": "+917428526205"})
    await deliver_all(app.state.webhooks)
    assert [e["data"]["contact"]["phone_number"] for e in receiver.accepted()] == ["+917428526205"]


async def test_the_background_loop_delivers_while_the_app_runs(settings, receiver):
    """`wacast serve` runs the delivery loop in its lifespan (run_dispatcher on)."""
    import asyncio

    import httpx

    from wacast.app import create_app

    application = create_app(settings, run_dispatcher=True)
    async with application.router.lifespan_context(application):
        setup = await make_project(application.state.db)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://wacast.test") as c:
            await subscribe(c, setup, receiver, ["message.status.updated"])
            await c.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526285"))
            for _ in range(400):
                if len(receiver.accepted()) >= 3:
                    break
                await asyncio.sleep(0.05)
    assert sorted(e["data"]["status"] for e in receiver.accepted()) == ["delivered", "read", "sent"]


async def test_broadcast_state_changes_are_campaign_events(client, db, receiver, app):
    setup = await make_project(db)
    await subscribe(client, setup, receiver, ["campaign.status.updated"])
    await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": "+917428526290"})
    seg = (await client.post("/api/v1/segments", headers=auth(setup), json={"name": "all", "filter": {"match": "all", "conditions": []}})).json()
    created = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": "weekend", "template": "no_params", "segment": seg["id"], "send_at": "2099-01-01T10:00",
    })
    assert created.status_code == 201, created.text
    for action in ("pause", "resume", "cancel"):
        r = await client.post(f"/api/v1/campaigns/weekend/{action}", headers=auth(setup))
        assert r.status_code == 200, r.text
    await deliver_all(app.state.webhooks)
    events = sorted(receiver.accepted(), key=lambda e: e["created_at"])  # delivery order is not guaranteed
    moves = [(e["data"]["campaign"]["previous_status"], e["data"]["campaign"]["status"]) for e in events]
    assert moves == [("scheduled", "paused"), ("paused", "scheduled"), ("scheduled", "cancelled")]
    assert all(e["data"]["campaign"]["type"] == "broadcast" for e in receiver.accepted())


async def test_two_delivery_loops_share_the_outbox_and_send_each_event_once(client, db, receiver, settings):
    """Two senders on two engines (as two `wacast worker` processes): SKIP LOCKED and the lease
    on PostgreSQL, the write lock on SQLite; every event reaches the receiver exactly once."""
    import asyncio

    from wacast.db.engine import Database
    from wacast.webhooks.tasks import WebhookSender

    setup = await make_project(db)
    await subscribe(client, setup, receiver, ["contact.created"])
    for i in range(60):
        assert (await client.post("/api/v1/contacts", headers=auth(setup), json={"phone": f"+9198765{i:05d}"})).status_code == 201
    databases = [Database(settings.database_url) for _ in range(2)]
    senders = [WebhookSender(d, settings) for d in databases]
    try:
        async def drain(sender: WebhookSender) -> int:
            total = 0
            while True:
                done = await sender.deliver_due(limit=7)
                if not done:
                    return total
                total += done

        made = await asyncio.gather(*(drain(s) for s in senders))
    finally:
        for s, d in zip(senders, databases, strict=True):
            await s.close()
            await d.dispose()
    ids = [e["id"] for e in receiver.accepted()]
    assert len(ids) == 60 and len(set(ids)) == 60 and sum(made) == 60
