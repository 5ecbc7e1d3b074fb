"""A template Meta recategorises from UTILITY to MARKETING under a running campaign (issue 17,
part 4), posted signed by the fake Meta and applied by the inbound loop: by default its queued
messages wait with the reason, new campaign-API sends are accepted and held, a running
broadcast of it waits with the reason; the owner is told on the template page, the overview, by
the customer webhook template.category_changed (a real receiver) and in /metrics; a manager
accepts the new category on the template page and the held sends go out through the fake Meta.
A project that chose `continue` keeps sending. Both backends."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from wacast.campaigns import service as campaigns
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.models.campaigns import Campaign
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.whatsapp.inbound import InboundEvents

TOKEN = "metrics-test-token"
METRICS = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True,
                                       "webhook_retry_base_seconds": 0.0, "metrics_cache_seconds": 0, "metrics_token": TOKEN})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def auth(setup) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def deliver(fake_meta, client, settings, db, payload) -> None:  # noqa: ANN001
    response = await fake_meta.post_webhook(payload, client=client)
    assert response.status_code == 200, response.text
    assert await InboundEvents(db, settings).tick() >= 1


async def template(db, project_id, name: str = "order_update") -> Template:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Template).where(Template.project_id == project_id, Template.name == name))).scalar_one()


async def message(db, message_id: str) -> Message:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Message).where(Message.id == uuid.UUID(message_id)))).scalar_one()


async def send(client, setup, destination: str) -> str:  # noqa: ANN001
    accepted = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
    assert accepted.status_code == 200, accepted.text
    return accepted.json()["submitted_message_id"]


def gauge(exposition: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", exposition, re.M)
    return float(found.group(1)) if found else None


async def broadcast(client, setup, name: str) -> str:  # noqa: ANN001
    segment = await client.post("/api/v1/segments", headers=auth(setup), json={"name": f"all-{name}", "filter": {"match": "all", "conditions": []}})
    assert segment.status_code == 201, segment.text
    made = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": name, "template": "order_update", "segment": segment.json()["id"], "params": ["$name", "ORD-7"]})
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def test_utility_to_marketing_holds_every_send_until_a_manager_accepts(app, client, db, settings, dispatcher, fake_meta, receiver):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup), json={
        "url": receiver.url, "topics": ["template.category_changed"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    # Two contacts already had an order update; a queued one has not gone out yet.
    for destination in ("+917428526401", "+917428526402"):
        await send(client, setup, destination)
    await dispatcher.run_until_idle()
    queued = await send(client, setup, "+917428526403")
    promo = await broadcast(client, setup, "promo-b")  # running, not fanned out yet
    sent_before = len([s for s in fake_meta.sends if s.wamid])

    # Meta moves order_update from UTILITY to MARKETING (the shape of webhooks/reference/template_category_update).
    await deliver(fake_meta, client, settings, db, fake_meta.template_category_body("order_update", "MARKETING", previous="UTILITY"))
    held = await template(db, setup.project_id)
    assert (held.category, held.previous_category) == ("MARKETING", "UTILITY")
    assert "from UTILITY to MARKETING" in held.category_hold and "accepts the new category" in held.category_hold
    assert (await message(db, queued)).held_reason == held.category_hold, "a queued message waits with the reason"

    # The campaign API still accepts; the dispatcher holds what it claims; nothing reaches Meta.
    fresh = await send(client, setup, "+917428526404")
    await dispatcher.run_until_idle()
    for message_id in (queued, fresh):
        row = await message(db, message_id)
        assert (row.status, row.held_reason, row.attempts) == ("queued", held.category_hold, 0), message_id
    assert len([s for s in fake_meta.sends if s.wamid]) == sent_before

    # A running broadcast of it waits with the reason and queues nobody.
    engine = BroadcastEngine(app.state.db, settings)
    await engine.tick()
    async with db.read() as session:
        campaign = await session.get(Campaign, uuid.UUID(promo))
        queued_by_broadcast = (await session.execute(select(Message.id).where(Message.broadcast_id == campaign.id))).all()
        shown = await campaigns.describe(session, await session.get(Project, setup.project_id), "order_update")
    assert campaign.status == "running" and campaign.status_reason == f"waiting: {held.category_hold}" and not queued_by_broadcast
    assert shown["held_messages"] == 2 and held.category_hold in shown["hold_reason"], "the campaign's page says why"

    # The owner is told: customer webhook, /metrics, the template page, the overview, the broadcast page.
    await deliver_all(app.state.webhooks)
    [hook] = receiver.accepted("template.category_changed")
    assert hook["data"]["template"].items() >= {"name": "order_update", "previous_category": "UTILITY", "new_category": "MARKETING",
                                                "held": True, "hold_reason": held.category_hold}.items()
    assert hook["data"]["impending"] is False
    exposition = (await client.get("/metrics", headers=METRICS)).text
    assert gauge(exposition, "wacast_templates_category_held", project="acme") == 1.0
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    await sign_in(client, "agent@acme.test", "password-agent")
    page = (await client.get(f"/templates/{held.id}")).text
    assert 'id="category-hold"' in page and "from UTILITY to MARKETING" in page and "2 queued messages wait" in page
    assert 'id="accept-category"' not in page, "an agent cannot release it"
    overview = (await client.get("/")).text
    assert 'id="guardrails-banner"' in overview and "Sends of template" in overview
    assert "waiting: Meta recategorised" in (await client.get(f"/broadcasts/{promo}")).text
    refused = await client.post(f"/templates/{held.id}/accept-category", data={"csrf": await csrf_of(client, "/")})
    assert refused.status_code == 403
    assert (await template(db, setup.project_id)).category_hold is not None

    # A manager accepts MARKETING: the held sends go out through the fake Meta, the broadcast goes on.
    await client.post("/logout", data={"csrf": await csrf_of(client, "/")})
    await add_user(db, setup.project_id, "manager@acme.test", "manager")
    await sign_in(client, "manager@acme.test", "password-manager")
    page = (await client.get(f"/templates/{held.id}")).text
    assert 'id="accept-category"' in page
    accepted = await client.post(f"/templates/{held.id}/accept-category", data={"csrf": await csrf_of(client, f"/templates/{held.id}")})
    assert accepted.status_code in (302, 303), accepted.text
    assert (await template(db, setup.project_id)).category_hold is None
    await dispatcher.run_until_idle()
    for message_id in (queued, fresh):
        row = await message(db, message_id)
        assert row.status in ("sent", "delivered") and row.wamid and row.held_reason is None, (message_id, row.status)
        assert [s for s in fake_meta.sends if s.message_id == message_id and s.wamid], "sent through the fake Meta"
    await run_until_fanned_out(engine)
    await dispatcher.run_until_idle()
    async with db.read() as session:
        campaign = await session.get(Campaign, uuid.UUID(promo))
        statuses = (await session.execute(select(Message.status).where(Message.broadcast_id == campaign.id))).scalars().all()
    assert campaign.status_reason is None or not campaign.status_reason.startswith("waiting")
    assert len(statuses) == 4 and set(statuses) <= {"sent", "delivered"}
    exposition = (await client.get("/metrics", headers=METRICS)).text
    assert not gauge(exposition, "wacast_templates_category_held", project="acme")
    assert 'id="guardrails-banner"' not in (await client.get("/")).text
    # Nothing held any more: a second release is refused and changes nothing.
    again = await client.post(f"/templates/{held.id}/accept-category", data={"csrf": await csrf_of(client, f"/templates/{held.id}")})
    assert again.status_code in (302, 303)
    followed = await client.get(again.headers["location"])
    assert "not held by a category change" in followed.text, followed.text[:2000]


async def test_a_project_that_chose_continue_keeps_sending(app, client, db, settings, dispatcher, fake_meta, receiver):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    assert (await client.get("/api/v1/settings/guardrails", headers=auth(setup))).json().items() >= {
        "on_category_change": "hold", "on_quality_drop": "slow"}.items()
    for bad in ({"on_category_change": "stop"}, {"on_category_change": 3}, {"on_quality_drop": "halve"}):
        refused = await client.patch("/api/v1/settings/guardrails", headers=auth(setup), json=bad)
        assert refused.status_code == 400 and refused.json()["code"] == "FIELD_INVALID", refused.text
    unknown = await client.patch("/api/v1/settings/guardrails", headers=auth(setup), json={"on_category_change": "continue", "pause_all": True})
    assert unknown.status_code == 422
    assert (await client.get("/api/v1/settings/guardrails", headers=auth(setup))).json()["on_category_change"] == "hold", "nothing changed"
    chosen = await client.patch("/api/v1/settings/guardrails", headers=auth(setup), json={"on_category_change": "continue"})
    assert chosen.status_code == 200 and chosen.json()["on_category_change"] == "continue", chosen.text
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup), json={
        "url": receiver.url, "topics": ["template.category_changed"], "secret": receiver.secret})
    assert subscribed.status_code == 201

    queued = await send(client, setup, "+917428526411")
    await deliver(fake_meta, client, settings, db, fake_meta.template_category_body("order_update", "MARKETING", previous="UTILITY"))
    changed = await template(db, setup.project_id)
    assert (changed.category, changed.previous_category, changed.category_hold) == ("MARKETING", "UTILITY", None)
    fresh = await send(client, setup, "+917428526412")
    await dispatcher.run_until_idle()
    for message_id in (queued, fresh):
        row = await message(db, message_id)
        assert row.status in ("sent", "delivered") and row.wamid, (message_id, row.status, row.held_reason)
    await deliver_all(app.state.webhooks)
    [hook] = receiver.accepted("template.category_changed")
    assert hook["data"]["template"]["held"] is False and hook["data"]["template"]["new_category"] == "MARKETING"


async def test_only_utility_to_marketing_holds_and_the_impending_notice_is_told(app, client, db, settings, dispatcher, fake_meta, receiver):
    fake_meta.add_template("promo", [{"type": "BODY", "text": "Hello {{1}}"}], category="MARKETING")
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup), json={
        "url": receiver.url, "topics": ["template.category_changed"], "secret": receiver.secret})
    assert subscribed.status_code == 201
    # Announced 24 hours ahead: shown and told, nothing held yet.
    await deliver(fake_meta, client, settings, db, fake_meta.template_category_body("order_update", "UTILITY", correct="MARKETING", at=1760711433))
    notice = await template(db, setup.project_id)
    assert notice.category == "UTILITY" and notice.category_hold is None and notice.category_notice["correct_category"] == "MARKETING"
    # MARKETING to UTILITY is cheaper: nothing to hold.
    await deliver(fake_meta, client, settings, db, fake_meta.template_category_body("promo", "UTILITY", previous="MARKETING"))
    assert (await template(db, setup.project_id, "promo")).category_hold is None
    queued = await send(client, setup, "+917428526421")
    await dispatcher.run_until_idle()
    assert (await message(db, queued)).status in ("sent", "delivered")
    await deliver_all(app.state.webhooks)
    hooks = receiver.accepted("template.category_changed")
    hooks.sort(key=lambda h: h["data"]["template"]["name"])
    assert [(h["data"]["template"]["name"], h["data"]["impending"], h["data"]["template"]["held"]) for h in hooks] == \
        [("order_update", True, False), ("promo", False, False)]
    assert hooks[0]["data"]["notice"]["correct_category"] == "MARKETING"
