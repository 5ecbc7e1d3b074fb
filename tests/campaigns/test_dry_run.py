"""Dry runs on both backends (docs/dry-run.md): a broadcast's dry run (`POST /api/v1/campaigns`
with "dry_run": true) creates nothing and its counts are what the real broadcast then does
through the engine, the dispatcher and the sandbox; the same validation as a create; a CSV
audience; the cost with and without a rate card; the dashboard's estimate; and the estimate
of a list of campaign API requests (JSON and CSV) against the campaign API's own answers."""

from __future__ import annotations

import json
import uuid
from collections import Counter

from sqlalchemy import func, insert, select

from tests.campaigns.test_broadcasts import PROMO, _window_around, add_contacts, add_promo, auth, engine_for, segment
from tests.campaigns.test_broadcasts_dashboard import PROMO_PARAMS, csrf, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.factories import body, make_project
from wacast.billing.pricing import country_of
from wacast.campaigns import service as campaigns
from wacast.kit.clock import utcnow
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact, FormerNumber
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.templates import service as templates
from wacast.users import service as users

CARD = {"currency": "INR", "rates": [{"category": "marketing", "country": "IN", "price": "0.80"},
                                     {"category": "marketing", "country": "AE", "price": "2.50"}]}
PARAMS = [{"attribute": "first", "fallback": "friend"}, "20%"]


async def counts(db) -> dict[str, int]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return {model.__tablename__: (await session.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (Campaign, Contact, Message)}


async def add_number(db, project_id, phone, **extra) -> uuid.UUID:  # noqa: ANN001, ANN003
    now = utcnow()
    contact_id = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(insert(Contact), [{"id": contact_id, "project_id": project_id, "phone": phone, "name": phone, "source": "t",
                                                 "opted_in": extra.get("opted_in", True), "blocked": extra.get("blocked", False),
                                                 "marketing_consent": extra.get("marketing_consent", False),
                                                 "attributes": {"first": "X"}, "created_at": now, "updated_at": now}])
    return contact_id


async def move(db, project_id, contact_id, phone) -> None:  # noqa: ANN001
    async with db.transaction() as session:
        await session.execute(insert(FormerNumber), [{"project_id": project_id, "phone": phone, "contact_id": contact_id,
                                                      "new_phone": "+919000000999", "changed_at": utcnow()}])


async def test_a_dry_run_creates_nothing_and_matches_the_real_send(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    headers = auth(setup)
    await add_contacts(db, setup.project_id, 6)  # +91700...: India
    for i in range(3):
        await add_number(db, setup.project_id, f"+97150123456{i}")  # the UAE
    await add_contacts(db, setup.project_id, 1, start=50, opted_in=False)
    await add_contacts(db, setup.project_id, 2, start=60, blocked=True)
    moved = await add_number(db, setup.project_id, "+919812345670")
    await move(db, setup.project_id, moved, "+919812345670")
    # One contact got a marketing message already: with a cap of 1 a week it is skipped.
    first = await segment(client, setup, {"match": "all", "conditions": [{"field": "attribute", "name": "first", "op": "equals", "value": "P0"}]})
    made = await client.post("/api/v1/campaigns", json={"type": "broadcast", "name": "warm-up", "template": "promo", "segment": first["id"],
                                                        "params": PARAMS}, headers=headers)
    assert made.status_code == 201, made.text
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    assert (await client.put("/api/v1/send-policy", json={"frequency_cap": {"messages": 1, "days": 7}}, headers=headers)).status_code == 200
    assert (await client.post("/api/v1/rate-cards", json=CARD, headers=headers)).status_code == 201

    everyone = await segment(client, setup, {"match": "all", "conditions": []}, name="everyone")
    request = {"type": "broadcast", "name": "Sale", "template": "promo", "segment": everyone["id"], "params": PARAMS}
    before = await counts(db)
    dry = await client.post("/api/v1/campaigns", json={**request, "dry_run": True}, headers=headers)
    assert dry.status_code == 200, dry.text
    out = dry.json()
    assert await counts(db) == before  # nothing created: no campaign, contact or message
    assert out["dry_run"] is True and out["name"] == "Sale" and out["template"]["category"] == "MARKETING"
    assert out["matching"] == 13 and out["will_send"] == 8
    assert out["skips"] == {"opted out": 1, "blocked": 2, "frequency cap": 1, "number_changed": 1} and out["skipped"] == 5
    assert out["by_country"] == {"IN": 5, "AE": 3} and out["by_category"] == {"marketing": 8} and out["messages"] == 8
    assert out["held"] == {}
    assert out["cost"]["currency"] == "INR" and out["cost"]["cost"] == "11.500000"  # 5 x 0.80 + 3 x 2.50
    assert out["cost"]["rate_card"] == "in force" and out["cost_line"].startswith("11.500000 INR (rate card v")

    # The same broadcast for real: the engine and the dispatcher (sandbox) do what the dry run said.
    real = await client.post("/api/v1/campaigns", json=request, headers=headers)
    assert real.status_code == 201, real.text
    assert real.json()["audience"] == out["audience"] == {"segment_id": everyone["id"], "segment": "everyone"}
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        campaign = await session.get(Campaign, uuid.UUID(real.json()["id"]))
        messages = (await session.execute(select(Message).where(Message.broadcast_id == campaign.id))).scalars().all()
    sent = [m for m in messages if m.status in ("sent", "delivered", "read")]
    assert len(sent) == len(messages) == campaign.queued_count == out["will_send"]
    # A segment's opted-out and blocked members are never its audience (total is the sendable
    # ones); the engine skips the rest of the dry run's skips, one by one, with the same reasons.
    not_sendable = out["skips"]["opted out"] + out["skips"]["blocked"]
    assert campaign.total_count == out["matching"] - not_sendable
    assert campaign.skipped_count == out["skipped"] - not_sendable
    assert campaign.skip_reasons == {k: v for k, v in out["skips"].items() if k not in ("opted out", "blocked")}
    assert dict(Counter(country_of(m.destination) for m in sent)) == out["by_country"]


async def test_held_by_quiet_hours_and_the_tier_is_what_the_engine_holds(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    headers = auth(setup)
    await add_contacts(db, setup.project_id, 260)
    start, end = _window_around(utcnow(), "Asia/Kolkata")
    policy = {"quiet_hours": {"start": start, "end": end}, "messaging_tier": 250}
    assert (await client.put("/api/v1/send-policy", json=policy, headers=headers)).status_code == 200
    everyone = await segment(client, setup, {"match": "all", "conditions": []})
    request = {"type": "broadcast", "name": "Night", "template": "promo", "segment": everyone["id"], "params": PARAMS}
    out = (await client.post("/api/v1/campaigns", json={**request, "dry_run": True}, headers=headers)).json()
    assert out["will_send"] == 260 and out["skips"] == {} and out["held"] == {"quiet hours": 260, "messaging tier": 10}
    assert out["quiet_until"].startswith(f"quiet hours until {end}") and out["waits_for_tier"] == 10
    assert out["by_country"] == {"IN": 260}

    real = await client.post("/api/v1/campaigns", json=request, headers=headers)
    assert real.status_code == 201, real.text
    await engine_for(app, settings, batch=500).tick()
    async with db.sessionmaker() as session:
        campaign = await session.get(Campaign, uuid.UUID(real.json()["id"]))
        messages = (await session.execute(select(Message).where(Message.broadcast_id == campaign.id))).scalars().all()
    # The tier lets 250 through now; the other 10 wait. Every queued one waits for the quiet hours' end.
    assert campaign.queued_count == len(messages) == out["will_send"] - out["held"]["messaging tier"]
    assert campaign.fanout_done_at is None and campaign.status_reason and "tier" in campaign.status_reason
    assert all((m.held_reason or "").startswith("quiet hours until") for m in messages)


async def test_a_dry_run_is_validated_as_a_create(client, db, media_server):
    setup = await make_project(db)
    await add_promo(db, setup)
    headers = auth(setup)
    await add_contacts(db, setup.project_id, 2)
    everyone = await segment(client, setup, {"match": "all", "conditions": []})
    good = {"type": "broadcast", "name": "Sale", "template": "promo", "segment": everyone["id"], "params": PARAMS}
    made = await client.post("/api/v1/campaigns", json={**good, "name": "Taken"}, headers=headers)
    assert made.status_code == 201
    before = await counts(db)
    for bad in ({**good, "name": ""}, {**good, "template": "ghost"}, {**good, "name": "Taken"}, {**good, "segment": "nope"},
                {**good, "params": ["one"]}, {**good, "colour": "red"}, {**good, "send_at": "tomorrow"}, {**good, "params": [{"attribute": "a", "x": 1}, "b"]}):
        real = await client.post("/api/v1/campaigns", json=bad, headers=headers)
        dry = await client.post("/api/v1/campaigns", json={**bad, "dry_run": True}, headers=headers)
        assert real.status_code in (400, 404, 409, 422), real.text
        assert (dry.status_code, dry.json()["code"]) == (real.status_code, real.json()["code"]), (bad, dry.text, real.text)
    # The media URL is checked as a create checks it: the same refusals, and a good one passes.
    media = {**good, "template": "image_header"}
    for path in ("/missing.jpg", "/invoice.pdf"):
        bad = {**media, "media": {"url": media_server.url(path)}}
        real = await client.post("/api/v1/campaigns", json=bad, headers=headers)
        dry = await client.post("/api/v1/campaigns", json={**bad, "dry_run": True}, headers=headers)
        assert real.status_code == 400 and real.json()["code"].startswith("MEDIA_"), real.text
        assert (dry.status_code, dry.json()["code"]) == (real.status_code, real.json()["code"])
    fine = await client.post("/api/v1/campaigns", json={**media, "media": {"url": media_server.url("/photo.jpg")}, "dry_run": True}, headers=headers)
    assert fine.status_code == 200 and fine.json()["will_send"] == 2, fine.text
    wrong = await client.post("/api/v1/campaigns", json={**good, "dry_run": "yes"}, headers=headers)
    assert wrong.status_code == 400 and wrong.json()["code"] == "FIELD_INVALID" and wrong.json()["details"]["field"] == "dry_run"
    api = await client.post("/api/v1/campaigns", json={"type": "api", "name": "x", "template": "promo", "dry_run": True}, headers=headers)
    assert api.status_code == 400 and api.json()["details"]["field"] == "dry_run"
    assert await counts(db) == before


async def test_a_csv_dry_run_without_a_rate_card(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_number(db, setup.project_id, "+919812300001", opted_in=False)
    csv_text = "phone,name,first\n+919812300001,Out,A\n+919812300002,New,B\n+971501234567,Gulf,C\nnot-a-number,Bad,D\n+919812300002,Twice,E\n"
    campaign = {"type": "broadcast", "name": "Leads", "template": "promo", "params": PARAMS, "dry_run": True}
    before = await counts(db)
    response = await client.post("/api/v1/campaigns", headers=auth(setup), data={"campaign": json.dumps(campaign)},
                                 files={"audience": ("leads.csv", csv_text.encode(), "text/csv")})
    assert response.status_code == 200, response.text
    out = response.json()
    assert await counts(db) == before  # the file's new numbers did not become contacts
    assert out["audience"] == {"csv": True, "rows": 3, "rejected_rows": 1, "rejected": [{"line": 5, "phone": "not-a-number", "reason": "invalid number"}]}
    assert out["will_send"] == 2 and out["skips"] == {"invalid row": 1, "opted out": 1}
    assert out["by_country"] == {"AE": 1, "IN": 1}
    assert out["cost"]["cost"] is None and out["cost"]["currency"] is None and out["cost"]["rate_card"] is None
    assert out["cost"]["note"].startswith("no rate card") and out["cost_line"].startswith("no rate card")
    assert out["cost"]["unpriced_messages"] == 2

    # For real: the file's rows are the audience; the engine skips the opted-out one and sends the rest.
    del campaign["dry_run"]
    real = await client.post("/api/v1/campaigns", headers=auth(setup), data={"campaign": json.dumps(campaign)},
                             files={"audience": ("leads.csv", csv_text.encode(), "text/csv")})
    assert real.status_code == 201, real.text
    assert real.json()["audience"] == out["audience"]
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        made = await session.get(Campaign, uuid.UUID(real.json()["id"]))
        messages = (await session.execute(select(Message).where(Message.broadcast_id == made.id))).scalars().all()
    assert made.queued_count == len(messages) == out["will_send"] and all(m.status in ("sent", "delivered", "read") for m in messages)
    assert made.skip_reasons == {"opted out or blocked": out["skips"]["opted out"]}
    assert dict(Counter(country_of(m.destination) for m in messages)) == out["by_country"]


async def test_the_dashboard_estimate_shows_countries_and_cost(client, db):
    setup = await make_project(db)
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, PROMO)
        await users.create_or_update(session, setup.project_id, "manager@acme.test", "password-manager", "manager")
    await add_contacts(db, setup.project_id, 3)
    await add_number(db, setup.project_id, "+971501234560")
    assert (await client.post("/api/v1/rate-cards", json=CARD, headers=auth(setup))).status_code == 201
    everyone = await segment(client, setup, {"match": "all", "conditions": []})
    await sign_in(client, "manager@acme.test", "password-manager")
    token = await csrf(client, "/broadcasts/new")
    answer = await client.post("/broadcasts/preview", data={"csrf": token, "name": "W", "template": "promo|en", "segment": everyone["id"],
                                                            **PROMO_PARAMS, "when": "now"})
    assert answer.status_code == 200, answer.text
    estimate = answer.json()["estimate"]
    assert estimate["will_send"] == 4 and estimate["by_country"] == {"IN": 3, "AE": 1}
    assert estimate["cost"]["cost"] == "4.900000" and estimate["cost_line"].startswith("4.900000 INR")
    page = await client.get(f"/broadcasts/new?segment={everyone['id']}&template=promo|en")
    assert 'data-testid="by-country">By country: IN 3, AE 1' in page.text and "Estimated cost: 4.900000 INR" in page.text


# --- an API campaign's list of requests ------------------------------------------------------------


async def test_the_estimate_of_campaign_api_requests_is_what_the_campaign_api_answers(client, db, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    async with db.transaction() as session:
        await campaigns.create(session, setup.project_id, "promo_api", "promo", None, live=True)
        project = await session.get(Project, setup.project_id)
        project.require_marketing_consent = True
    headers = auth(setup)
    await add_number(db, setup.project_id, "+919812300001", opted_in=False)
    await add_number(db, setup.project_id, "+919812300002", blocked=True)
    moved = await add_number(db, setup.project_id, "+919812300003", marketing_consent=True)
    await move(db, setup.project_id, moved, "+919812300003")
    await add_number(db, setup.project_id, "+919812300004", marketing_consent=False)
    await add_number(db, setup.project_id, "+919812300005", marketing_consent=True)
    await add_number(db, setup.project_id, "+971501234567", marketing_consent=True)
    destinations = ["+919812300001", "+919812300002", "+919812300003", "+919812300004", "9812300005", "+971501234567",
                    "+919812300099", "12ab", "", 42]
    assert (await client.post("/api/v1/rate-cards", json=CARD, headers=headers)).status_code == 201
    before = await counts(db)
    response = await client.post("/api/v1/campaigns/promo_api/estimate", json={"destinations": destinations}, headers=headers)
    assert response.status_code == 200, response.text
    out = response.json()
    assert await counts(db) == before
    assert out["destinations"] == 10 and out["will_send"] == 2 and out["by_country"] == {"AE": 1, "IN": 1}
    # A new number has no consent: under require_marketing_consent it is refused like an existing one without.
    assert out["skips"] == {"invalid number": 1, "no destination": 1, "destination not text": 1, "opted out": 1, "blocked": 1,
                            "number_changed": 1, "no_consent": 2}
    assert out["invalid_examples"] == [{"index": 7, "destination": "12ab", "reason": "invalid number"},
                                       {"index": 8, "destination": "", "reason": "no destination"},
                                       {"index": 9, "destination": "<int>", "reason": "destination not text"}]
    assert out["cost"]["cost"] == "3.300000" and out["warnings"] == []

    # What the campaign API answers the same requests, one by one.
    answers: Counter = Counter()
    for destination in destinations:
        sent = await client.post("/campaign/t1/api/v2", json=body(setup, campaign="promo_api", destination=destination, templateParams=["A", "B"]))
        answers["accepted" if sent.status_code == 200 else sent.json()["code"]] += 1
    expected = Counter({out["codes"][reason]: n for reason, n in out["skips"].items()})
    expected["accepted"] = out["will_send"]
    assert answers == expected, (answers, expected)


async def test_the_estimate_takes_a_csv_and_refuses_what_it_cannot_read(client, db):
    setup = await make_project(db)
    headers = auth(setup)
    await add_number(db, setup.project_id, "+917428526200", opted_in=False)
    csv_headers = {**headers, "Content-Type": "text/csv"}
    csv_text = "destination,name\n+917428526200,Out\n7428526285,Asha\n\nnope,Bad\n+442071234567,UK\n"
    response = await client.post("/api/v1/campaigns/order_update/estimate", content=csv_text.encode(), headers=csv_headers)
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["destinations"] == 4 and out["will_send"] == 2 and out["skips"] == {"opted out": 1, "invalid number": 1}
    assert out["codes"] == {"opted out": "CONTACT_OPTED_OUT", "invalid number": "INVALID_NUMBER"}
    assert out["by_country"] == {"GB": 1, "IN": 1} and out["by_category"] == {"utility": 2}
    assert out["cost"]["cost"] is None and out["cost_line"].startswith("no rate card")

    by_id = await client.post(f"/api/v1/campaigns/{out['campaign']['id']}/estimate", json={"destinations": ["7428526285"]}, headers=headers)
    assert by_id.status_code == 200 and by_id.json()["will_send"] == 1
    refused = [
        (await client.post("/api/v1/campaigns/order_update/estimate", content=b"name\nx\n", headers=csv_headers), 400, "CSV_INVALID"),
        (await client.post("/api/v1/campaigns/order_update/estimate", json={"destinations": "+917428526285"}, headers=headers), 400, "FIELD_INVALID"),
        (await client.post("/api/v1/campaigns/order_update/estimate", json={"numbers": []}, headers=headers), 422, "VALIDATION_ERROR"),
        (await client.post("/api/v1/campaigns/order_update/estimate", json={"destinations": ["1"] * 100_001}, headers=headers), 400, "TOO_MANY_DESTINATIONS"),
        (await client.post("/api/v1/campaigns/order_update/estimate", content=b"destination\n" + b"+917428526285\n" * 300_000, headers=csv_headers),
         413, "BODY_TOO_LARGE"),
        (await client.post("/api/v1/campaigns/ghost/estimate", json={"destinations": []}, headers=headers), 404, "CAMPAIGN_NOT_FOUND"),
    ]
    for answer, status, code in refused:
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 1)
    everyone = await segment(client, setup, {"match": "all", "conditions": []})
    made = await client.post("/api/v1/campaigns", json={"type": "broadcast", "name": "B", "template": "promo", "segment": everyone["id"],
                                                        "params": PARAMS}, headers=headers)
    assert made.status_code == 201
    not_api = await client.post("/api/v1/campaigns/B/estimate", json={"destinations": []}, headers=headers)
    assert not_api.status_code == 400 and not_api.json()["code"] == "NOT_AN_API_CAMPAIGN"
