"""Meta's template events (message_template_status_update and the quality, category and
components updates), posted signed by the fake Meta to /webhooks/whatsapp and applied by the
inbound loop: a rejection's reason and recommendation on the dashboard, in REST and in the
customer webhook (a real receiver); FLAGGED keeps sending (through the fake Meta) with a
warning; PAUSED holds and UNPAUSED releases; every event maps as docs/meta-events.md says;
hostile bodies change nothing and break nothing. Both backends."""

from __future__ import annotations

import copy
import uuid

import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from wacast.campaigns import service as campaigns
from wacast.models.messages import InboundEvent, Message
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import statuses
from wacast.whatsapp.inbound import InboundEvents

REASON = ("Your template has parameters placed next to each other. Templates with adjacent parameters, "
          "such as {{1}}{{2}}, are rejected because they can be used to send any text.")
RECOMMENDATION = "Separate parameters with descriptive text, for example: Hi {{1}}, your cart from {{2}} is waiting."


def rejection_example(waba_id: str) -> dict:
    """Meta's example of a rejection with rejection_info (webhooks/reference/
    message_template_status_update; the shape of ../shared/reference/whatsapp-cloud-api.md's "Template status webhook")."""
    return {"entry": [{"id": waba_id, "time": 1751247548, "changes": [{"field": "message_template_status_update", "value": {
        "event": "REJECTED", "message_template_id": 1689556908129835, "message_template_name": "abandoned_cart",
        "message_template_language": "en", "reason": "INVALID_FORMAT", "message_template_category": "MARKETING",
        "rejection_info": {"reason": REASON, "recommendation": RECOMMENDATION}}}]}],
        "object": "whatsapp_business_account"}


def status_event(waba_id: str, name: str, event: str, **extra) -> dict:  # noqa: ANN003
    value = {"event": event, "message_template_name": name, "message_template_language": "en", "reason": "NONE", **extra}
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "time": 1751247548, "changes": [
        {"field": "message_template_status_update", "value": value}]}]}


def change(waba_id: str, field: str, value: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "time": 1751247548, "changes": [{"field": field, "value": value}]}]}


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True,
                                       "webhook_retry_base_seconds": 0.0})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


async def deliver(fake_meta, client, settings, db, payload) -> None:  # noqa: ANN001
    response = await fake_meta.post_webhook(payload, client=client)
    assert response.status_code == 200, response.text
    assert await InboundEvents(db, settings).tick() >= 1


async def template(db, project_id, name: str) -> Template:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Template).where(Template.project_id == project_id, Template.name == name))).scalar_one()


async def message(db, message_id: str) -> Message:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Message).where(Message.id == uuid.UUID(message_id)))).scalar_one()


def auth(setup) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def test_a_rejection_keeps_metas_reason_and_recommendation_everywhere(app, client, db, settings, fake_meta, receiver):
    fake_meta.add_template("abandoned_cart", [{"type": "BODY", "text": "Hi {{1}}{{2}}"}], category="MARKETING", status="PENDING")
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup), json={
        "url": receiver.url, "topics": ["template.status.updated"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")

    # Meta's example, signed; its template id is not the fake's: found by name and language.
    await deliver(fake_meta, client, settings, db, rejection_example(fake_meta.waba_id))
    stored = await template(db, setup.project_id, "abandoned_cart")
    assert (stored.status, stored.status_event, stored.rejected_reason) == ("REJECTED", "REJECTED", "INVALID_FORMAT")
    assert stored.rejection_info == {"reason": REASON, "recommendation": RECOMMENDATION}
    async with db.sessionmaker() as session:
        [event] = (await session.execute(select(InboundEvent))).scalars().all()
    assert event.processed_at is not None and not event.note, "applied, nothing to report"

    # REST: one template, and the list.
    one = (await client.get("/api/v1/templates/abandoned_cart", headers=auth(setup))).json()
    assert one["rejection"] == {"reason": "INVALID_FORMAT", "details": REASON, "recommendation": RECOMMENDATION}
    assert (one["status"], one["sends"], one["rejected_reason"]) == ("REJECTED", "refuse", "INVALID_FORMAT")
    listed = (await client.get("/api/v1/templates", headers=auth(setup), params={"status": "rejected"})).json()["data"]
    assert [t["rejection"]["recommendation"] for t in listed] == [RECOMMENDATION]

    # The dashboard: the template's page and the list (Jinja escapes the {{...}} of Meta's text).
    page = (await client.get(f"/templates/{stored.id}")).text
    assert "INVALID_FORMAT" in page and REASON in page and f"Meta recommends: {RECOMMENDATION}" in page
    listing = (await client.get("/templates")).text
    assert REASON in listing and RECOMMENDATION in listing

    # The customer webhook, delivered to a real receiver.
    await deliver_all(app.state.webhooks)
    [hook] = receiver.accepted("template.status.updated")
    data = hook["data"]["template"]
    assert (data["name"], data["status"], data["previous_status"], data["event"]) == ("abandoned_cart", "REJECTED", "PENDING", "REJECTED")
    assert data["rejection"] == {"reason": "INVALID_FORMAT", "details": REASON, "recommendation": RECOMMENDATION}
    assert data["reason"] == "INVALID_FORMAT" and data["category"] == "MARKETING"

    # Approved after an edit: the rejection is gone everywhere.
    await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "abandoned_cart", "APPROVED"))
    one = (await client.get("/api/v1/templates/abandoned_cart", headers=auth(setup))).json()
    assert (one["status"], one["rejection"], one["rejected_reason"], one["sends"]) == ("APPROVED", None, None, "send")
    assert REASON not in (await client.get(f"/templates/{stored.id}")).text


async def test_flagged_warns_and_keeps_sending(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    # Queued while paused (held), then flagged: the held message goes; a new one goes too.
    await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "order_update", "PAUSED"))
    held = (await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526401"))).json()["submitted_message_id"]
    await dispatcher.run_until_idle()
    assert (await message(db, held)).status == "queued" and "PAUSED" in (await message(db, held)).held_reason
    assert not [s for s in fake_meta.sends if s.message_id == held]

    await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "order_update", "FLAGGED"))
    flagged = await template(db, setup.project_id, "order_update")
    assert flagged.status == "FLAGGED" and flagged.status_event == "FLAGGED"
    accepted = await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526402"))
    assert accepted.status_code == 200, accepted.text
    fresh = accepted.json()["submitted_message_id"]
    await dispatcher.run_until_idle()
    for message_id in (held, fresh):
        row = await message(db, message_id)
        assert row.status in ("sent", "delivered") and row.wamid, (message_id, row.status, row.held_reason)
        assert [s for s in fake_meta.sends if s.message_id == message_id and s.wamid], "sent through the fake Meta"

    page = (await client.get(f"/templates/{flagged.id}")).text
    assert 'id="template-warning"' in page and "flagged by Meta" in page and "it is still sent" in page
    assert "at risk: still sent" in (await client.get("/templates")).text
    one = (await client.get("/api/v1/templates/order_update", headers=auth(setup))).json()
    assert one["sends"] == "send" and "at risk" in one["warning"]
    async with db.sessionmaker() as session:
        shown = await campaigns.describe(session, await session.get(Project, setup.project_id), "order_update")
    assert shown["hold_reason"] is None and shown["held_messages"] == 0, "a flagged template holds nothing"


async def test_paused_holds_and_unpaused_or_reinstated_release(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    for pause, release in (("PAUSED", "UNPAUSED"), ("DISABLED", "REINSTATED"), ("IN_APPEAL", "APPROVED")):
        await deliver(fake_meta, client, settings, db, status_event(
            fake_meta.waba_id, "order_update", pause, other_info={"title": "FIRST_PAUSE", "description": "Paused for 3 hours."}))
        paused = await template(db, setup.project_id, "order_update")
        assert paused.status == pause and paused.status_detail == "FIRST_PAUSE: Paused for 3 hours."
        destination = f"+9174285265{len(pause):02d}"
        accepted = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
        assert accepted.status_code == 200, accepted.text  # accepted, and held
        message_id = accepted.json()["submitted_message_id"]
        await dispatcher.run_until_idle()
        row = await message(db, message_id)
        assert row.status == "queued" and pause in row.held_reason
        assert not [s for s in fake_meta.sends if s.message_id == message_id], "a held template's sends do not reach Meta"

        await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "order_update", release))
        released = await template(db, setup.project_id, "order_update")
        assert (released.status, released.status_event, released.status_detail) == ("APPROVED", release, None)
        await dispatcher.run_until_idle()
        row = await message(db, message_id)
        assert row.status in ("sent", "delivered") and row.attempts == 1, (release, row.status)


async def test_every_event_maps_as_the_table_says(client, db, settings, fake_meta):
    """For each of Meta's events: what is stored, and whether the campaign API accepts a send."""
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    for n, (event, rule) in enumerate(statuses.EVENTS.items()):
        await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "order_update", event, nonce=n))
        stored = await template(db, setup.project_id, "order_update")
        assert (stored.status, stored.status_event) == (rule.stored, event)
        answer = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+9174285266{n:02d}"))
        if rule.rule in (statuses.SendRule.send, statuses.SendRule.hold):
            assert answer.status_code == 200, (event, answer.text)
        else:
            assert answer.status_code >= 400 and answer.json()["code"] == "TEMPLATE_NOT_APPROVED", (event, answer.text)
        shown = (await client.get("/api/v1/templates/order_update", headers=auth(setup))).json()
        assert (shown["status"], shown["sends"], shown["status_event"]) == (rule.stored, rule.rule.value, event)

    # An event wacast does not know changes nothing but is noted.
    before = (await template(db, setup.project_id, "order_update")).status
    await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "order_update", "SOMETHING_NEW"))
    after = await template(db, setup.project_id, "order_update")
    assert after.status == before and after.status_event == "SOMETHING_NEW" and "does not know" in after.status_detail
    async with db.sessionmaker() as session:
        last = (await session.execute(select(InboundEvent).order_by(InboundEvent.id.desc()).limit(1))).scalar_one()
    assert "SOMETHING_NEW not known: status kept" in last.note


async def test_quality_category_and_components_updates_are_recorded_and_shown(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    waba, meta_id = fake_meta.waba_id, int(next(t["id"] for t in fake_meta.templates if t["name"] == "order_update"))
    ref = {"message_template_id": meta_id, "message_template_name": "order_update", "message_template_language": "en"}
    # Meta's examples (webhooks/reference/...): quality down, a category change announced, then done.
    await deliver(fake_meta, client, settings, db, change(waba, "message_template_quality_update",
                                                          {"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", **ref}))
    await deliver(fake_meta, client, settings, db, change(waba, "template_category_update", {
        **ref, "correct_category": "MARKETING", "new_category": "UTILITY", "category_update_timestamp": 1760711433}))
    t = await template(db, setup.project_id, "order_update")
    assert (t.quality, t.previous_quality, t.category) == ("YELLOW", "GREEN", "UTILITY")
    assert t.category_notice == {"correct_category": "MARKETING", "current_category": "UTILITY", "at": "2025-10-17T14:30:33Z"}
    page = (await client.get(f"/templates/{t.id}")).text
    assert "YELLOW (was GREEN)" in page and "Meta will recategorise it as MARKETING" in page
    await deliver(fake_meta, client, settings, db, change(waba, "template_category_update",
                                                          {**ref, "previous_category": "UTILITY", "new_category": "MARKETING"}))
    t = await template(db, setup.project_id, "order_update")
    assert (t.category, t.previous_category, t.category_notice) == ("MARKETING", "UTILITY", None)
    assert "MARKETING (was UTILITY)" in (await client.get(f"/templates/{t.id}")).text

    # An edit at Meta: recorded, shown, and the project's template sync is due again.
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).templates_synced_at is not None
    await deliver(fake_meta, client, settings, db, change(waba, "message_template_components_update", {
        **ref, "message_template_element": "Hi {{1}}, your order {{2}} is on its way.", "message_template_footer": "Lucky Shrub",
        "message_template_buttons": [{"message_template_button_type": "URL", "message_template_button_text": "Track",
                                      "message_template_button_url": "https://www.luckyshrub.com/track"}]}))
    t = await template(db, setup.project_id, "order_update")
    assert t.components_update["body"] == "Hi {{1}}, your order {{2}} is on its way."
    assert t.components_update["buttons"] == [{"type": "URL", "text": "Track", "url": "https://www.luckyshrub.com/track"}]
    async with db.sessionmaker() as session:
        assert (await session.get(Project, setup.project_id)).templates_synced_at is None, "the next sync fetches the new components"
    one = (await client.get("/api/v1/templates/order_update", headers=auth(setup))).json()
    assert one["previous_category"] == "UTILITY" and one["previous_quality"] == "GREEN" and one["components_update"]["footer"] == "Lucky Shrub"
    assert "Edited at Meta" in (await client.get(f"/templates/{t.id}")).text


async def test_hostile_template_events_change_nothing_and_break_nothing(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    waba = fake_meta.waba_id
    before = await template(db, setup.project_id, "order_update")
    hostile = [
        status_event(waba, "order_update", 42),  # event of the wrong type
        status_event(waba, {"x": 1}, "REJECTED"),  # a name that is no name
        change(waba, "message_template_quality_update", {"message_template_name": "order_update", "message_template_language": "en",
                                                          "new_quality_score": ["RED"]}),
        change(waba, "template_category_update", {"message_template_name": "order_update", "message_template_language": "en",
                                                   "new_category": "SPAM" * 50}),
        change(waba, "message_template_status_update", "not an object"),  # type: ignore[arg-type]
    ]
    for payload in hostile:
        await deliver(fake_meta, client, settings, db, payload)
    after = await template(db, setup.project_id, "order_update")
    assert (after.status, after.quality, after.category) == (before.status, before.quality, before.category)
    # A rejection with huge, NUL-laden texts and a rejection_info of the wrong shape: stored capped and clean.
    huge = copy.deepcopy(status_event(waba, "order_update", "REJECTED", reason="INVALID_FORMAT\x00" + "x" * 5000,
                                      rejection_info={"reason": "bad\x00\x07\x1b " * 2000, "recommendation": {"no": "text"}}))
    await deliver(fake_meta, client, settings, db, huge)
    rejected = await template(db, setup.project_id, "order_update")
    assert rejected.status == "REJECTED" and len(rejected.rejected_reason) == 500 and "\x00" not in rejected.rejected_reason
    assert set(rejected.rejection_info) == {"reason"} and len(rejected.rejection_info["reason"]) == 2000
    # (the intake stores a NUL as U+FFFD: kit/text.scrub_tree; the other controls are dropped here)
    assert not {"\x00", "\x07", "\x1b"} & set(rejected.rejection_info["reason"])
    async with db.sessionmaker() as session:
        events = (await session.execute(select(InboundEvent))).scalars().all()
    assert all(e.processed_at is not None for e in events)
    assert not any("processing error" in (e.note or "") for e in events)
