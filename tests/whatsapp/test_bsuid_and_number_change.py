"""People without a phone number (Meta's business-scoped user ids and usernames) and people who
changed number (Meta's published "System Message"), on both backends, through signed webhooks
from the fake Meta, real sends to it, the campaign API, broadcasts and a real customer-webhook
receiver."""

from __future__ import annotations

import copy
import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.meta_schema import webhook_examples
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from tests.whatsapp.test_meta_webhooks import PHONE_ID, deliver, sent_message
from wacast.campaigns.broadcasts import estimate
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.kit.clock import utcnow
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact, ContactTag, FormerNumber
from wacast.models.messages import InboundEvent, Message, Reply

BSUID = "US.13491208655302741918"
PARENT = "US.ENT.11815799212886844830"
OLD, NEW = "+16505551234", "+12195555358"  # the numbers of Meta's System Message example


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True,
                                       "webhook_retry_base_seconds": 0.0})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def auth(setup) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


def text_from(*, phone: str | None = None, user_id: str | None = None, username: str | None = None, name: str = "Sheena Nelson",
              text: str = "Does it come in another color?", parent: str | None = None, at: int | None = None) -> dict:
    """Meta's "Text Message" example, from a phone number and/or a BSUID (a username user has no `from`)."""
    payload = copy.deepcopy(webhook_examples()["Text Message"])
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_ID
    contact: dict = {"profile": {"name": name}}
    message = value["messages"][0]
    message.update(id=f"wamid.TEST{uuid.uuid4().hex}", timestamp=str(at or int(time.time())), text={"body": text})
    message.pop("from")
    if phone:
        contact["wa_id"] = message["from"] = phone.lstrip("+")
    if user_id:
        contact["user_id"] = message["from_user_id"] = user_id
    if parent:
        contact["parent_user_id"] = parent
    if username:
        contact["profile"]["username"] = username
    value["contacts"] = [contact]
    return payload


def notice(**system_changes) -> dict:  # noqa: ANN003
    """Meta's "System Message" example (user_changed_number), addressed to our test number."""
    payload = copy.deepcopy(webhook_examples()["System Message"])
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_ID
    value["messages"][0]["system"].update(system_changes)
    return payload


async def contact_of(db, **where) -> Contact | None:  # noqa: ANN001, ANN003
    async with db.read() as session:
        stmt = select(Contact)
        for column, wanted in where.items():
            stmt = stmt.where(getattr(Contact, column) == wanted)
        return (await session.execute(stmt)).scalar_one_or_none()


async def count(db, model) -> int:  # noqa: ANN001
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def last_notes(db) -> str:  # noqa: ANN001
    async with db.read() as session:
        return (await session.execute(select(InboundEvent.note).order_by(InboundEvent.id.desc()).limit(1))).scalar_one() or ""


# --- people without a phone number ---------------------------------------------------------------


async def test_a_username_user_without_a_phone_becomes_a_contact_and_later_gets_its_phone(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await deliver(fake_meta, client, settings, db, text_from(user_id=BSUID, username="sheena.n", parent=PARENT))
    person = await contact_of(db, user_id=BSUID)
    assert person is not None and person.phone is None
    assert (person.username, person.parent_user_id, person.name, person.source) == ("sheena.n", PARENT, "Sheena Nelson", "WhatsApp inbound")
    async with db.read() as session:
        [reply] = (await session.execute(select(Reply))).scalars().all()
    assert reply.contact_id == person.id and reply.text == "Does it come in another color?"
    assert "without sender" not in await last_notes(db)

    # The REST API finds it by id, by BSUID, and in a search by username or BSUID.
    by_bsuid = await client.get(f"/api/v1/contacts/{BSUID}", headers=auth(setup))
    assert by_bsuid.status_code == 200, by_bsuid.text
    out = by_bsuid.json()
    assert (out["id"], out["phone"], out["user_id"], out["parent_user_id"], out["username"], out["former_numbers"]) == (
        str(person.id), None, BSUID, PARENT, "sheena.n", [])
    for term in ("@sheena", "SHEENA.N", BSUID):
        found = await client.get("/api/v1/contacts", params={"search": term}, headers=auth(setup))
        assert [c["id"] for c in found.json()["data"]] == [str(person.id)], term
    assert (await client.get("/api/v1/contacts", params={"search": "US.1349"}, headers=auth(setup))).json()["data"] == []

    # The same person writes again, now with a phone number too: the same contact, its phone filled.
    await deliver(fake_meta, client, settings, db, text_from(phone=OLD, user_id=BSUID, username="sheena.n", text="Red?"))
    assert await count(db, Contact) == 1
    person = await contact_of(db, id=person.id)
    assert person.phone == OLD and person.user_id == BSUID
    assert await count(db, Reply) == 2
    # ... and a message by phone alone finds it by its phone.
    await deliver(fake_meta, client, settings, db, text_from(phone=OLD, text="Blue?"))
    assert await count(db, Contact) == 1 and await count(db, Reply) == 3


async def test_a_phone_contact_gets_its_bsuid_and_a_sender_without_either_is_a_note(client, db, settings, dispatcher, fake_meta):
    setup, _, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=OLD)
    await deliver(fake_meta, client, settings, db, text_from(phone=OLD, user_id=BSUID, username="sheena"))
    person = await contact_of(db, phone=OLD)
    assert (person.user_id, person.username) == (BSUID, "sheena")
    assert await count(db, Contact) == 1

    # Neither a phone nor a BSUID (or only unusable ones): stored with a note, no contact, no reply.
    for user_id in (None, "not a bsuid", "US." + "1" * 200):
        payload = text_from(user_id=None)
        if user_id:
            payload["entry"][0]["changes"][0]["value"]["messages"][0]["from_user_id"] = user_id
        await deliver(fake_meta, client, settings, db, payload)
        assert "inbound message without sender" in await last_notes(db)
    assert await count(db, Contact) == 1 and await count(db, Reply) == 1

    # The campaign API keeps requiring a phone number: a BSUID there is an invalid number.
    refused = await client.post("/campaign/t1/api/v2", json=body(setup, destination=BSUID))
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_NUMBER"


async def test_a_broadcast_sends_to_a_bsuid_by_recipient_and_its_statuses_follow(client, app, db, settings, dispatcher, fake_meta):
    fake_meta.add_template("login_code", [{"type": "BODY", "text": "{{1}} is your verification code."}], category="AUTHENTICATION")
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await deliver(fake_meta, client, settings, db, text_from(user_id=BSUID, username="sheena.n"))
    await deliver(fake_meta, client, settings, db, text_from(phone="+917428526285", name="Asha"))
    segment = await client.post("/api/v1/segments", headers=auth(setup), json={"name": "all", "filter": {"match": "all", "conditions": []}})
    assert segment.status_code == 201, segment.text
    everyone = {"match": "all", "conditions": []}
    async with db.read() as session:  # the estimate counts what the engine will do
        utility = await estimate.audience(session, setup.project_id, everyone, "UTILITY", now=utcnow())
        authentication = await estimate.audience(session, setup.project_id, everyone, "AUTHENTICATION", now=utcnow())
    assert (utility.will_send, utility.skips) == (2, {})
    assert (authentication.will_send, authentication.skips) == (1, {"no_phone_number": 1})
    made = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": "bsuid-b", "template": "order_update", "segment": segment.json()["id"], "params": ["$name", "ORD-7"]})
    assert made.status_code == 201, made.text
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    await dispatcher.run_until_idle()
    sends = {s.to: s for s in fake_meta.sends if s.wamid}
    by_recipient = sends[BSUID]
    assert by_recipient.body["recipient"] == BSUID and "to" not in by_recipient.body
    assert sends["+917428526285"].body["to"] == "+917428526285" and "recipient" not in sends["+917428526285"].body
    async with db.read() as session:
        message = (await session.execute(select(Message).where(Message.destination == BSUID))).scalar_one()
    assert message.status == "sent" and message.wamid == by_recipient.wamid

    # Meta reports a send by BSUID with recipient_user_id and no recipient_id: followed all the same.
    for status in ("delivered", "read"):
        report = fake_meta.status_body(by_recipient, status)
        entry = report["entry"][0]["changes"][0]["value"]["statuses"][0]
        entry.pop("recipient_id")
        entry["recipient_user_id"] = BSUID
        if status == "read":
            entry.pop("biz_opaque_callback_data")  # found by its wamid alone
        await deliver(fake_meta, client, settings, db, report)
        async with db.read() as session:
            assert (await session.get(Message, message.id)).status == status

    # An authentication template cannot go to a BSUID (Meta: 131062): the person is skipped, with the reason.
    otp = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": "otp-b", "template": "login_code", "segment": segment.json()["id"], "params": ["123456"]})
    assert otp.status_code == 201, otp.text
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    async with db.read() as session:
        campaign = await session.get(Campaign, uuid.UUID(otp.json()["id"]))
        queued = (await session.execute(select(Message.destination).where(Message.broadcast_id == campaign.id))).scalars().all()
    assert campaign.skip_reasons == {"no_phone_number": 1} and queued == ["+917428526285"]


async def test_the_contact_list_shows_a_username_where_there_is_no_phone(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    await deliver(fake_meta, client, settings, db, text_from(user_id=BSUID, username="sheena.n", name=""))
    await deliver(fake_meta, client, settings, db, text_from(user_id="IN.98765432109876543", name="Ravi"))
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    await sign_in(client, "agent@acme.test", "password-agent")
    page = (await client.get("/contacts")).text
    assert "@sheena.n" in page and "IN.98765432109876543" in page and page.count("no phone") >= 2
    searched = (await client.get("/contacts", params={"q": "sheena"})).text
    assert "@sheena.n" in searched and "IN.98765432109876543" not in searched
    exported = (await client.get("/contacts/export.csv")).text.splitlines()
    assert exported[0].startswith("phone,name,source,opted_in,blocked,tags,created_at,user_id,whatsapp_username,former_numbers")
    assert any(f",{BSUID},sheena.n," in line for line in exported[1:])


# --- a changed number (Meta's "System Message") ----------------------------------------------------


async def test_the_system_message_moves_the_contact_and_the_old_number_is_refused(client, app, db, settings, dispatcher, fake_meta, receiver):
    setup, first_id, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=OLD)
    assert (await client.post("/api/v1/tags", headers=auth(setup), json={"name": "vip"})).status_code == 201
    assert (await client.post("/api/v1/attributes", headers=auth(setup), json={"name": "city"})).status_code == 201
    again = await client.post("/campaign/t1/api/v2", json=body(setup, destination=OLD, tags=["vip"], attributes={"city": "Pune"}))
    assert again.status_code == 200, again.text
    await dispatcher.run_until_idle()
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup),
                                   json={"url": receiver.url, "topics": ["contact.number_changed"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    before = await contact_of(db, phone=OLD)
    assert before.attributes == {"city": "Pune"} and before.opted_in

    await deliver(fake_meta, client, settings, db, notice())
    moved = await contact_of(db, id=before.id)
    assert (moved.phone, moved.attributes, moved.opted_in, moved.blocked) == (NEW, {"city": "Pune"}, True, False)
    assert await count(db, Contact) == 1
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ContactTag).where(ContactTag.contact_id == before.id))).scalar_one() == 1
        former = (await session.execute(select(FormerNumber))).scalar_one()
        assert (former.phone, former.contact_id, former.new_phone) == (OLD, before.id, NEW)
        timeline = (await session.execute(select(Message).where(Message.contact_id == before.id))).scalars().all()
        assert {str(m.id) for m in timeline} == {first_id, again.json()["submitted_message_id"]}
        assert all(m.replied_at is None for m in timeline)  # the notice answers nothing
    assert await count(db, Reply) == 0  # and is no reply
    assert f"{OLD} changed number to {NEW}" in await last_notes(db)

    # The REST API shows the former number, and finds the contact by it.
    by_old = (await client.get(f"/api/v1/contacts/{OLD}", headers=auth(setup))).json()
    assert (by_old["id"], by_old["phone"], by_old["former_numbers"]) == (str(before.id), NEW, [OLD])

    # The campaign API refuses the old number, in AiSensy's envelope, and queues nothing.
    queued = await count(db, Message)
    refused = await client.post("/campaign/t1/api/v2", json=body(setup, destination=OLD))
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "PHONE_NUMBER_CHANGED" and NEW in refused.json()["message"]
    assert set(refused.json()) >= {"message", "code"}
    assert await count(db, Message) == queued
    to_new = await client.post("/campaign/t1/api/v2", json=body(setup, destination=NEW))
    assert to_new.status_code == 200
    async with db.read() as session:
        assert (await session.get(Message, uuid.UUID(to_new.json()["submitted_message_id"]))).contact_id == before.id

    # A broadcast to an uploaded list that still has the old number skips it, with the reason.
    campaign = {"type": "broadcast", "name": "csv-old", "template": "order_update", "params": ["$name", "ORD-9"]}
    made = await client.post("/api/v1/campaigns", headers=auth(setup), data={"campaign": json.dumps(campaign)},
                             files={"audience": ("list.csv", f"phone,name\n{OLD},Sheena\n+917428526299,Asha\n".encode(), "text/csv")})
    assert made.status_code == 201, made.text
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    async with db.read() as session:
        row = await session.get(Campaign, uuid.UUID(made.json()["id"]))
        destinations = (await session.execute(select(Message.destination).where(Message.broadcast_id == row.id))).scalars().all()
    assert row.skip_reasons == {"number_changed": 1} and destinations == ["+917428526299"]

    # The customer's receiver got contact.number_changed.
    await deliver_all(app.state.webhooks)
    [event] = receiver.accepted("contact.number_changed")
    data = event["data"]
    assert (data["old_phone_number"], data["new_phone_number"], data["contact_id"], data["previous_contact_id"]) == (OLD, NEW, str(before.id), None)
    assert data["contact"]["phone_number"] == NEW and "Sheena Nelson" in data["notice"]

    # Meta's notice again (delivered once more under another id): nothing changes.
    contacts = await count(db, Contact)  # the uploaded list made contacts of its two numbers
    repeat = notice()
    repeat["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.REPEATED"
    await deliver(fake_meta, client, settings, db, repeat)
    assert await count(db, FormerNumber) == 1 and await count(db, Reply) == 0
    assert await count(db, Contact) == contacts and (await contact_of(db, id=before.id)).phone == NEW
    # Later someone new writes from the old number: a new contact, and the number is released.
    await deliver(fake_meta, client, settings, db, text_from(phone=OLD, name="Someone New", text="hi"))
    newcomer = await contact_of(db, phone=OLD)  # the uploaded list had made a contact of the number
    assert newcomer is not None and newcomer.id != before.id
    assert await count(db, FormerNumber) == 0
    assert (await client.post("/campaign/t1/api/v2", json=body(setup, destination=OLD))).status_code == 200


async def test_a_new_number_that_is_already_a_contact_keeps_both(client, db, settings, dispatcher, fake_meta):
    setup, first_id, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=OLD)
    assert (await client.post("/api/v1/tags", headers=auth(setup), json={"name": "vip"})).status_code == 201
    assert (await client.post("/campaign/t1/api/v2", json=body(setup, destination=OLD, tags=["vip"]))).status_code == 200
    assert (await client.post("/campaign/t1/api/v2", json=body(setup, destination=NEW))).status_code == 200
    old_contact, new_contact = await contact_of(db, phone=OLD), await contact_of(db, phone=NEW)
    opted_out = await client.patch(f"/api/v1/contacts/{old_contact.id}", headers=auth(setup), json={"opted_in": False})
    assert opted_out.status_code == 200
    await deliver(fake_meta, client, settings, db, notice(user_id=BSUID))
    kept, live = await contact_of(db, id=old_contact.id), await contact_of(db, id=new_contact.id)
    # The old record keeps its history but no number; the contact at the new number gets its
    # tags and its opt-out (consent follows the person), and the new BSUID.
    assert (kept.phone, kept.user_id) == (None, None)
    assert (live.phone, live.opted_in, live.user_id) == (NEW, False, BSUID)
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ContactTag).where(ContactTag.contact_id == live.id))).scalar_one() == 1
        history = {str(i) for i in (await session.execute(select(Message.id).where(Message.contact_id == kept.id))).scalars()}
        former = (await session.execute(select(FormerNumber))).scalar_one()
    assert first_id in history and len(history) == 2
    assert (former.phone, former.contact_id, former.new_phone) == (OLD, live.id, NEW)
    assert "already contact" in await last_notes(db)
    refused = await client.post("/campaign/t1/api/v2", json=body(setup, destination=OLD))
    assert refused.json()["code"] == "PHONE_NUMBER_CHANGED"


async def test_a_notice_without_a_usable_new_number_changes_nothing(client, db, settings, dispatcher, fake_meta):
    await sent_message(client, db, settings, dispatcher, fake_meta, destination=OLD)
    for bad in ("", "not-a-number", None, 12):
        await deliver(fake_meta, client, settings, db, notice(wa_id=bad))
        assert (await contact_of(db, phone=OLD)) is not None
    assert await count(db, FormerNumber) == 0 and await count(db, Reply) == 0
    assert "without a valid new number" in await last_notes(db)
