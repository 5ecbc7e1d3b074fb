"""A person's data on both backends: the export holds everything wacast keeps about them, and
after erasure no text column of any table holds their number, name or an attribute value,
while the campaign's totals and analytics stay the same."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import JSON, String, Text, cast, func, select

from tests.contacts.test_rest_api import auth, envelope
from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.cli import run, run_json
from tests.support.webhook_receiver import WebhookReceiver
from tests.whatsapp.test_inbound_kinds import PERSON, example
from tests.whatsapp.test_meta_webhooks import deliver, sent_message
from wacast.campaigns import analytics
from wacast.contacts import csv_import
from wacast.models import Base
from wacast.models.contacts import Contact
from wacast.models.messages import Message

NAME = "Zorawar Quixote"
CITY = "Kolhapurvalley"
DIGITS = PERSON.lstrip("+")  # 16505551234
NATIONAL = "6505551234"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


async def person_everywhere(client, db, settings, dispatcher, fake_meta, receiver):  # noqa: ANN001, ANN201
    """A person with messages, replies, a reaction, webhook events, a stored idempotent
    response, a CSV import row and a consent history."""
    setup, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    h = auth(setup.api_key)
    subscribed = await client.post("/api/v1/webhooks", headers=h, json={"url": receiver.url, "topics": [
        "message.status.updated", "message.received", "contact.tag.updated"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    for name in ("city", "plan"):
        await client.post("/api/v1/attributes", headers=h, json={"name": name})
    await client.post("/api/v1/tags", headers=h, json={"name": "vip"})
    second = await client.post("/campaign/t1/api/v2", json={"apiKey": setup.api_key, "campaignName": "order_update", "destination": PERSON,
                                                             "userName": NAME, "templateParams": [NAME, "ORD-7"], "attributes": {"city": CITY},
                                                             "tags": ["vip"], "marketing_consent": {"granted": True, "evidence": f"{NAME} said yes"}})
    assert second.status_code == 200, second.text
    await dispatcher.run_until_idle()
    reply = example("Text Message", text={"body": f"Thanks, this is {NAME} from {CITY}"})
    reply["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": {"name": NAME}, "wa_id": DIGITS}]
    await deliver(fake_meta, client, settings, db, reply)
    patched = await client.patch(f"/api/v1/contacts/{PERSON}", headers={**h, "Idempotency-Key": "erase-me-1"},
                                 json={"attributes": {"plan": "gold"}})
    assert patched.status_code == 200 and CITY in patched.text
    async with db.transaction() as session:
        job = await csv_import.start_import(session, setup.project_id, None, "people.csv",
                                            f"phone,name,city\n+1 {NATIONAL},{NAME},{CITY}\n+917428526299,Other Person,Pune\n".encode())
    await csv_import.run_import(db, job.id)
    return setup, message_id


async def grep_database(db, needles: list[str]) -> list[tuple[str, str, str]]:  # noqa: ANN001
    """(table, column, needle) for every text or JSON column of every table holding a needle."""
    found = []
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, Text, JSON)) and "JSON" not in type(column.type).__name__.upper() \
                        and "ENCRYPTED" not in type(column.type).__name__.upper():
                    continue
                for needle in needles:
                    stmt = select(func.count()).select_from(table).where(cast(column, Text).contains(needle, autoescape=True))
                    if (await session.execute(stmt)).scalar_one():
                        found.append((table.name, column.name, needle))
    return found


async def test_export_holds_everything_and_erase_leaves_no_personal_data(client, db, settings, dispatcher, fake_meta, receiver):
    setup, message_id = await person_everywhere(client, db, settings, dispatcher, fake_meta, receiver)
    h = auth(setup.api_key)
    async with db.read() as session:
        campaign_id = (await session.get(Message, uuid.UUID(message_id))).campaign_id
        before = (await analytics.summary(session, setup.project_id, campaign_id)).__dict__
    assert await grep_database(db, [DIGITS, NAME, CITY])  # the person is all over the database

    exported = await client.get(f"/api/v1/contacts/{PERSON}/export", headers=h)
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert data["contact"]["phone_number"] == PERSON and data["contact"]["name"] == NAME
    assert data["attributes"]["city"] == CITY and data["tags"] == ["vip"]
    assert data["consent_history"][0]["granted"] is True and NAME in data["consent_history"][0]["evidence"]
    assert len(data["messages"]) == 2 and all(m["events"] for m in data["messages"])
    assert {m["status"] for m in data["messages"]} <= {"sent", "delivered", "read"}
    assert any(CITY in (r["text"] or "") for r in data["replies"])
    assert data["webhooks"] and "message.received" in {w["topic"] for w in data["webhooks"]}
    for key in ("reactions", "media", "links", "clicks", "conversions"):
        assert isinstance(data[key], list)
    envelope(await client.get("/api/v1/contacts/+919999999999/export", headers=h), 404, "CONTACT_NOT_FOUND")

    erased = await client.post(f"/api/v1/contacts/{PERSON}/erase", headers=h)
    assert erased.status_code == 200, erased.text
    assert erased.json()["messages_kept"] == 2 and erased.json()["replies_deleted"] >= 1
    leftovers = await grep_database(db, [DIGITS, NATIONAL, NAME, CITY])
    assert leftovers == [], leftovers
    async with db.read() as session:
        after = (await analytics.summary(session, setup.project_id, campaign_id)).__dict__
        kept = (await session.execute(select(func.count()).select_from(Message).where(Message.campaign_id == campaign_id))).scalar_one()
        assert (await session.execute(select(func.count()).select_from(Contact).where(Contact.erased_at.is_not(None)))).scalar_one() == 1
    assert after == before and kept == 2  # the campaign counts the same
    envelope(await client.get(f"/api/v1/contacts/{PERSON}", headers=h), 404, "CONTACT_NOT_FOUND")
    envelope(await client.get(f"/api/v1/contacts/{erased.json()['id']}", headers=h), 404, "CONTACT_NOT_FOUND")
    assert PERSON not in (await client.get("/api/v1/contacts", headers=h)).text
    # The number may write again: a new, empty contact.
    again = await client.post("/campaign/t1/api/v2", json={"apiKey": setup.api_key, "campaignName": "order_update", "destination": PERSON,
                                                            "userName": "New", "templateParams": ["New", "ORD-8"]})
    assert again.status_code == 200
    assert (await client.get(f"/api/v1/contacts/{PERSON}", headers=h)).json()["attributes"] == {}


async def test_dashboard_and_cli_export_and_erase(client, db, db_url):
    from tests.support.factories import make_project

    setup = await make_project(db)
    h = auth(setup.api_key)
    for phone, name in (("+917428526285", NAME), ("+917428526286", "Other Person")):
        made = await client.post("/api/v1/contacts", headers=h, json={"phone": phone, "name": name, "attributes": {"city": CITY}})
        assert made.status_code == 201
    first = (await client.get("/api/v1/contacts/+917428526285", headers=h)).json()["id"]
    await add_user(db, setup.project_id, "manager@acme.test", "manager")
    assert (await sign_in(client, "manager@acme.test", "password-manager")).status_code == 303
    page = (await client.get(f"/contacts/{first}")).text
    assert "Export data" in page and "Erase personal data" in page
    exported = await client.get(f"/contacts/{first}/export.json")
    assert exported.status_code == 200 and exported.json()["contact"]["name"] == NAME
    assert "attachment" in exported.headers["content-disposition"]
    token = await csrf_of(client, f"/contacts/{first}")
    unconfirmed = await client.post(f"/contacts/{first}/erase", data={"csrf": token, "confirm": "yes"})
    assert unconfirmed.status_code in (303, 400)
    assert (await client.get("/api/v1/contacts/+917428526285", headers=h)).status_code == 200  # not erased
    done = await client.post(f"/contacts/{first}/erase", data={"csrf": token, "confirm": "ERASE"})
    assert done.status_code == 303, done.text
    assert (await client.get("/api/v1/contacts/+917428526285", headers=h)).status_code == 404

    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url)
    exported = run_json(env, "contacts", "export-person", "+917428526286", "--project", "acme")
    assert exported["contact"]["name"] == "Other Person"
    assert run_json(env, "contacts", "erase", "+917428526286", "--project", "acme", "--yes")["messages_kept"] == 0
    assert run(env, "contacts", "export-person", "+917428526286", "--project", "acme", ok=False).returncode == 2
    assert await grep_database(db, [NAME, CITY, "Other Person", "7428526285", "7428526286"]) == []
