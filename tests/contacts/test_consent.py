"""Marketing consent on both backends, through each entry point: the REST API, the campaign
API's `marketing_consent` (and its CONSENT_REQUIRED refusal), the CSV import's column, the
dashboard's contact page and settings, the CLI, and a double opt-in quick reply; an opt-out
withdraws it; the audience estimate counts the `no_consent` skips."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from tests.campaigns.test_broadcasts import EVERYONE, add_contacts, add_promo, broadcast, broadcast_messages, engine_for, segment
from tests.contacts.test_rest_api import auth, envelope
from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cli import run, run_json
from tests.support.factories import body, make_project, table_counts
from tests.whatsapp.test_inbound_kinds import PERSON, example
from tests.whatsapp.test_meta_webhooks import deliver, sent_message
from wacast.campaigns import service as campaigns
from wacast.campaigns.broadcasts import estimate
from wacast.contacts import consent, csv_import
from wacast.kit.clock import utcnow
from wacast.models.consent import ContactConsent
from wacast.models.contacts import Contact
from wacast.models.projects import Project
from wacast.templates import service as templates

OFFER = [{"type": "BODY", "text": "Hi {{1}}, 20% off this week."}]


async def marketing_campaign(db, setup) -> None:  # noqa: ANN001
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, {"name": "offer", "language": "en", "category": "MARKETING", "components": OFFER})
        await campaigns.create(session, setup.project_id, "offer", "offer", live=True)


async def history(db, phone: str) -> list[ContactConsent]:  # noqa: ANN001
    async with db.read() as session:
        contact_id = (await session.execute(select(Contact.id).where(Contact.phone == phone))).scalar_one()
        return list((await session.execute(select(ContactConsent).where(ContactConsent.contact_id == contact_id).order_by(ContactConsent.id))).scalars())


async def require(client, setup, on: bool = True) -> None:  # noqa: ANN001
    r = await client.put("/api/v1/consent-settings", headers=auth(setup.api_key), json={"require_marketing_consent": on})
    assert r.status_code == 200 and r.json()["require_marketing_consent"] is on, r.text


async def test_rest_records_consent_with_its_evidence_and_an_opt_out_withdraws_it(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    made = await client.post("/api/v1/contacts", headers=h, json={"phone": "+917428526285", "name": "Asha", "marketing_consent": {
        "granted": True, "source": "checkout form", "evidence": "ticked 'send me offers' on order 1042", "at": "2026-11-27T09:58:00Z"}})
    assert made.status_code == 201, made.text
    assert made.json()["marketing_consent"] is True and made.json()["consent_at"].startswith("2026-11-27T09:58")
    cid = made.json()["id"]
    seen = (await client.get(f"/api/v1/contacts/{cid}/consent", headers=h)).json()
    assert seen["marketing_consent"] is True
    assert [(e["granted"], e["method"], e["source"], e["evidence"]) for e in seen["history"]] == [
        (True, "rest", "checkout form", "ticked 'send me offers' on order 1042")]
    envelope(await client.post(f"/api/v1/contacts/{cid}/consent", headers=h, json={"granted": "yes"}), 400, "FIELD_INVALID")
    envelope(await client.post(f"/api/v1/contacts/{cid}/consent", headers=h, json={"granted": True, "at": "2999-01-01T00:00:00Z"}), 400, "FIELD_INVALID")
    envelope(await client.post(f"/api/v1/contacts/{cid}/consent", headers=h, json={"granted": True, "how": "x"}), 422, "VALIDATION_ERROR")
    envelope(await client.post("/api/v1/contacts", headers=h, json={"phone": "+917428526286", "marketing_consent": "yes"}), 400, "FIELD_INVALID")
    assert len(await history(db, "+917428526285")) == 1  # a rejection records nothing

    withdrawn = await client.post(f"/api/v1/contacts/{cid}/consent", headers=h, json={"granted": False, "source": "phone call"})
    assert withdrawn.status_code == 200 and withdrawn.json()["marketing_consent"] is False
    await client.post(f"/api/v1/contacts/{cid}/consent", headers=h, json={"granted": True})
    opted_out = await client.patch(f"/api/v1/contacts/{cid}", headers=h, json={"opted_in": False})
    assert opted_out.json()["marketing_consent"] is False
    assert [(e.granted, e.method) for e in await history(db, "+917428526285")] == [
        (True, "rest"), (False, "rest"), (True, "rest"), (False, "opt_out")]

    envelope(await client.put("/api/v1/consent-settings", headers=h, json={"require_marketing_consent": "on"}), 400, "INVALID_FIELD")
    envelope(await client.put("/api/v1/consent-settings", headers=h, json={"other": 1}), 422, "VALIDATION_ERROR")
    r = await client.put("/api/v1/consent-settings", headers=h, json={"consent_payloads": ["YES_OFFERS"]})
    assert r.json() == {"require_marketing_consent": False, "consent_payloads": ["YES_OFFERS"]}
    assert (await client.get("/api/v1/consent-settings", headers=h)).json()["consent_payloads"] == ["YES_OFFERS"]


async def test_campaign_api_refuses_marketing_without_consent_and_records_the_field(client, db):
    setup = await make_project(db)
    await marketing_campaign(db, setup)
    offer = {"campaignName": "offer", "templateParams": ["Asha"]}
    # Off by default: AiSensy's behaviour, the field only recorded.
    assert (await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526280", **offer))).status_code == 200
    await require(client, setup)
    before = await table_counts(db)
    refused = await client.post("/campaign/t1/api/v2", json=body(setup, **offer))
    envelope(refused, 400, "CONSENT_REQUIRED")
    assert refused.json()["details"]["field"] == "marketing_consent"
    assert await table_counts(db) == before  # nothing written
    # A utility template is not affected.
    assert (await client.post("/campaign/t1/api/v2", json=body(setup))).status_code == 200
    envelope(await client.post("/campaign/t1/api/v2", json=body(setup, marketing_consent="yes", **offer)), 400, "FIELD_INVALID")
    given = await client.post("/campaign/t1/api/v2", json=body(setup, marketing_consent={
        "granted": True, "source": "website signup", "evidence": "form #42, checkbox 'offers'"}, **offer))
    assert given.status_code == 200, given.text
    again = await client.post("/campaign/t1/api/v2", json=body(setup, **offer))  # the consent is kept
    assert again.status_code == 200, again.text
    envelope(await client.post("/campaign/t1/api/v2", json=body(setup, marketing_consent=False, **offer)), 400, "CONSENT_REQUIRED")
    entries = await history(db, "+917428526285")
    assert [(e.granted, e.method, e.source, e.evidence) for e in entries] == [(True, "campaign_api", "website signup", "form #42, checkbox 'offers'")]
    # A new contact granting consent with its first request.
    first = await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526281", marketing_consent=True, **offer))
    assert first.status_code == 200 and [e.granted for e in await history(db, "+917428526281")] == [True]


async def test_csv_column_records_consent_and_the_estimate_counts_no_consent(client, db):
    setup = await make_project(db)
    data = ("phone,name,marketing_consent\n+917428526285,Asha,yes\n+917428526286,Ravi,no\n+917428526287,Meera,\n"
            "+917428526288,Kiran,maybe\n").encode()
    async with db.transaction() as session:
        job = await csv_import.start_import(session, setup.project_id, None, "people.csv", data)
    await csv_import.run_import(db, job.id)
    async with db.read() as session:
        done = await csv_import.get_import(session, setup.project_id, job.id)
        consent = dict((await session.execute(select(Contact.phone, Contact.marketing_consent).where(Contact.project_id == setup.project_id))).all())
    assert done.error_count == 1 and "marketing_consent" in done.errors[0]["error"]
    assert consent == {"+917428526285": True, "+917428526286": False, "+917428526287": False}
    entries = await history(db, "+917428526285")
    assert entries[0].method == "csv" and "row 2" in entries[0].evidence
    assert [e.granted for e in await history(db, "+917428526286")] == [False]

    async with db.read() as session:
        free = await estimate.audience(session, setup.project_id, {}, "MARKETING", now=utcnow())
    assert "no_consent" not in free.skips and free.will_send == 3
    await require(client, setup)
    async with db.read() as session:
        held = await estimate.audience(session, setup.project_id, {}, "MARKETING", now=utcnow())
        utility = await estimate.audience(session, setup.project_id, {}, "UTILITY", now=utcnow())
        uploaded = await estimate.csv_audience(session, setup.project_id, [("+917428526285", "", {}), ("+917428526299", "", {})], [],
                                               "MARKETING", now=utcnow())
    assert held.skips["no_consent"] == 2 and held.will_send == 1
    assert "no_consent" not in utility.skips and utility.will_send == 3
    assert uploaded.skips["no_consent"] == 1 and uploaded.will_send == 1  # a number that is no contact has no consent


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


async def test_a_quick_reply_of_the_consent_button_is_a_double_opt_in_and_stop_withdraws(client, db, settings, dispatcher, fake_meta):
    setup, _, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    async with db.transaction() as session:
        (await session.get(Project, setup.project_id)).consent_payloads = ["YES_OFFERS"]
    await deliver(fake_meta, client, settings, db, example("Interactive Button Reply Message", interactive={
        "type": "button_reply", "button_reply": {"id": "NOT_THIS", "title": "Later"}}))
    assert await history(db, PERSON) == []
    await deliver(fake_meta, client, settings, db, example("Interactive Button Reply Message", interactive={
        "type": "button_reply", "button_reply": {"id": "YES_OFFERS", "title": "Yes, send me offers"}}))
    entries = await history(db, PERSON)
    assert [(e.granted, e.method) for e in entries] == [(True, "double_opt_in")] and "YES_OFFERS" in entries[0].evidence
    await deliver(fake_meta, client, settings, db, example("Text Message", text={"body": "STOP"}))
    assert [(e.granted, e.method) for e in await history(db, PERSON)] == [(True, "double_opt_in"), (False, "opt_out")]
    async with db.read() as session:
        assert (await session.execute(select(Contact.marketing_consent).where(Contact.phone == PERSON))).scalar_one() is False


async def test_dashboard_records_consent_and_the_settings_require_it(client, db):
    setup = await make_project(db)
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    made = await client.post("/api/v1/contacts", headers=auth(setup.api_key), json={"phone": "+917428526285", "name": "Asha"})
    cid = made.json()["id"]
    assert (await sign_in(client, "owner@acme.test", "password-owner")).status_code == 303
    token = await csrf_of(client, f"/contacts/{cid}")
    bad = await client.post(f"/contacts/{cid}/consent", data={"csrf": token, "granted": "maybe"})
    assert bad.status_code in (303, 400) and await history(db, "+917428526285") == []  # refused, nothing recorded
    saved = await client.post(f"/contacts/{cid}/consent", data={"csrf": token, "granted": "yes", "source": "shop counter",
                                                                 "evidence": "signed the paper form"})
    assert saved.status_code == 303, saved.text
    page = (await client.get(f"/contacts/{cid}")).text
    assert "consent recorded" in page and "signed the paper form" in page and "shop counter" in page
    assert [(e.method, e.source) for e in await history(db, "+917428526285")] == [("dashboard", "shop counter")]
    token = await csrf_of(client, "/settings")
    r = await client.post("/settings/consent", data={"csrf": token, "require_marketing_consent": "on", "consent_payloads": "YES_OFFERS, JOIN"})
    assert r.status_code == 303, r.text
    assert (await client.get("/api/v1/consent-settings", headers=auth(setup.api_key))).json() == {
        "require_marketing_consent": True, "consent_payloads": ["YES_OFFERS", "JOIN"]}
    assert 'name="require_marketing_consent" checked' in (await client.get("/settings")).text


async def test_cli_records_consent_and_sets_the_requirement(db, db_url):
    setup = await make_project(db)
    async with db.transaction() as session:
        session.add(Contact(project_id=setup.project_id, phone="+917428526285", name="Asha", attributes={}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url)
    out = run_json(env, "contacts", "consent", "+917428526285", "--project", "acme", "--granted", "--source", "call",
                   "--evidence", "said yes on the phone")
    assert out["marketing_consent"] is True
    assert run_json(env, "contacts", "consent-settings", "--project", "acme", "--require")["require_marketing_consent"] is True
    bad = run(env, "contacts", "consent", "+919999999999", "--project", "acme", "--granted", ok=False)
    assert bad.returncode == 2 and "not found" in bad.stderr.lower()
    assert [(e.method, e.evidence) for e in await history(db, "+917428526285")] == [("cli", "said yes on the phone")]
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Project).where(Project.require_marketing_consent.is_(True)))).scalar_one() == 1


async def test_a_marketing_broadcast_skips_contacts_without_consent_as_the_estimate_said(client, app, db, settings):
    """The estimate's `no_consent` is what the send then does: the broadcast queues only the
    contacts with consent and counts the others under that reason."""
    setup = await make_project(db)
    await add_promo(db, setup)
    ids = await add_contacts(db, setup.project_id, 5)
    async with db.transaction() as session:
        for contact_id in ids[:2]:
            await consent.set_consent(session, setup.project_id, contact_id, True, method="api")
    await require(client, setup)
    async with db.read() as session:
        expected = await estimate.audience(session, setup.project_id, EVERYONE, "MARKETING", now=utcnow())
    assert expected.skips["no_consent"] == 3 and expected.will_send == 2
    created = await broadcast(client, setup, await segment(client, setup, EVERYONE))
    await run_until_fanned_out(engine_for(app, settings))
    sent = {m.contact_id for m in await broadcast_messages(db, created["id"])}
    assert sent == set(ids[:2])
    shown = await client.get(f"/api/v1/campaigns/{created['id']}", headers=auth(setup.api_key))
    assert shown.json()["progress"]["skip_reasons"] == {"no_consent": 3}, shown.text
