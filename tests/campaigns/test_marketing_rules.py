"""Meta's marketing rules checked before sending (issue 17, part 3), on both backends: MARKETING
templates to US numbers refused by the campaign API (MARKETING_REGION_BLOCKED) and skipped by
broadcasts (`marketing_region_blocked`, counted by the estimate the same); Canadian +1 numbers,
utility templates, a project that accepts and an emptied setting let them through; Meta's
per-user marketing limit (131049) deferred a bounded number of times with a per-message spread,
shown as held, listed in the MARKETING_LIMITED audience, then failed with the reason in words."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select, update

from tests.campaigns.test_broadcasts import EVERYONE, add_promo, auth, broadcast, broadcast_messages, engine_for, segment
from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cloud import make_cloud_project
from tests.support.factories import body, make_project, table_counts
from wacast.app import create_app
from wacast.campaigns import service as campaigns
from wacast.campaigns.broadcasts import estimate
from wacast.campaigns.broadcasts import repository as broadcasts_repo
from wacast.kit.clock import utcnow
from wacast.messages import repository as messages_repo
from wacast.messages.pacing import PairRate
from wacast.meta.errors import MARKETING_LIMIT_HELD
from wacast.models.contacts import Contact
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.templates import service as templates

URL = "/campaign/t1/api/v2"
SF, DC, TORONTO, INDIA = "+14155550123", "+12025550143", "+14165550123", "+917428526285"
OFFER = [{"type": "BODY", "text": "Hi {{1}}, 20% off this week."}]
US = frozenset({"US"})


async def offer_campaign(db, setup) -> None:  # noqa: ANN001
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, {"name": "offer", "language": "en", "category": "MARKETING", "components": OFFER})
        await campaigns.create(session, setup.project_id, "offer", "offer", live=True)


def offer(setup, destination: str) -> dict:  # noqa: ANN001
    return body(setup, "offer", destination=destination, templateParams=["Asha"])


async def set_policy(client, setup, policy: str) -> None:  # noqa: ANN001
    r = await client.patch("/api/v1/settings/guardrails", headers=auth(setup), json={"marketing_region_policy": policy})
    assert r.status_code == 200 and r.json()["marketing_region_policy"] == policy, r.text


async def test_the_campaign_api_refuses_marketing_to_us_numbers_only(client, db):
    setup = await make_project(db)
    await offer_campaign(db, setup)
    before = await table_counts(db)
    refused = await client.post(URL, json=offer(setup, SF))
    assert refused.status_code == 400, refused.text
    answer = refused.json()
    assert answer["code"] == "MARKETING_REGION_BLOCKED"
    assert "US numbers" in answer["message"] and "since April 2025" in answer["message"]
    assert answer["details"] == {"destination": SF, "region": "US", "since": "2025-04-01"}
    assert (await client.post(URL, json=offer(setup, "12025550143"))).json()["code"] == "MARKETING_REGION_BLOCKED"  # read as +1 202
    assert await table_counts(db) == before, "a refusal writes nothing"

    for destination in (TORONTO, INDIA):  # Canada's +1 and others still go
        accepted = await client.post(URL, json=offer(setup, destination))
        assert accepted.status_code == 200, accepted.text
    utility = await client.post(URL, json=body(setup, "order_update", destination=SF))  # never a utility template
    assert utility.status_code == 200, utility.text
    async with db.read() as session:
        queued = set((await session.execute(select(Message.destination))).scalars())
    assert queued == {TORONTO, INDIA, SF}

    # The project may accept them, as AiSensy does (Meta then fails them); back to refuse.
    shown = await client.get("/api/v1/settings/guardrails", headers=auth(setup))
    assert shown.json()["marketing_region_policy"] == "refuse"
    bad = await client.patch("/api/v1/settings/guardrails", headers=auth(setup), json={"marketing_region_policy": "sometimes"})
    assert bad.status_code == 400 and bad.json()["code"] == "FIELD_INVALID" and bad.json()["details"]["allowed"] == ["refuse", "accept"]
    await set_policy(client, setup, "accept")
    let_through = await client.post(URL, json=offer(setup, SF))
    assert let_through.status_code == 200, let_through.text
    await set_policy(client, setup, "refuse")
    assert (await client.post(URL, json=offer(setup, SF))).status_code == 400


async def test_an_emptied_setting_turns_the_rule_off(db, settings):
    setup = await make_project(db)
    await offer_campaign(db, setup)
    off = create_app(settings.model_copy(update={"marketing_blocked_regions": ""}), run_dispatcher=False)
    async with off.router.lifespan_context(off):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=off), base_url="http://wacast.test") as c:
            accepted = await c.post(URL, json=offer(setup, SF))
    assert accepted.status_code == 200, accepted.text
    canada_too = create_app(settings.model_copy(update={"marketing_blocked_regions": "US,CA"}), run_dispatcher=False)
    async with canada_too.router.lifespan_context(canada_too):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=canada_too), base_url="http://wacast.test") as c:
            refused = await c.post(URL, json=offer(setup, TORONTO))
    assert refused.status_code == 400 and refused.json()["details"]["region"] == "CA"


async def add_people(db, project_id, phones) -> list[uuid.UUID]:  # noqa: ANN001
    now = utcnow()
    rows = [{"id": uuid.uuid4(), "project_id": project_id, "phone": p, "name": f"Person {i}", "source": "test", "opted_in": True,
             "blocked": False, "attributes": {"first": f"P{i}"}, "created_at": now, "updated_at": now} for i, p in enumerate(phones)]
    async with db.transaction() as session:
        await session.execute(insert(Contact), rows)
    return [r["id"] for r in rows]


US_PEOPLE = ["+14155550101", "+14155550102", "+12025550143", "+13125550199"]  # San Francisco, Washington, Chicago
OTHERS = ["+14165550123", "+16135550123", "+917428526285", "+447400123456"]  # Toronto, Ottawa, India, UK


async def test_a_marketing_broadcast_skips_us_numbers_as_the_estimate_said(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_people(db, setup.project_id, US_PEOPLE + OTHERS)
    async with db.read() as session:
        expected = await estimate.audience(session, setup.project_id, EVERYONE, "MARKETING", now=utcnow(), blocked_regions=US)
        by_default = await estimate.audience(session, setup.project_id, EVERYONE, "MARKETING", now=utcnow())
        utility = await estimate.audience(session, setup.project_id, EVERYONE, "UTILITY", now=utcnow(), blocked_regions=US)
        off = await estimate.audience(session, setup.project_id, EVERYONE, "MARKETING", now=utcnow(), blocked_regions=frozenset())
        uploaded = await estimate.csv_audience(session, setup.project_id, [(p, "", {}) for p in ["+12125550100", SF, TORONTO, INDIA]], [],
                                               "MARKETING", now=utcnow(), blocked_regions=US)
    assert expected.skips == {"marketing_region_blocked": 4} and expected.will_send == 4
    assert any("where Meta does not deliver marketing templates" in w for w in expected.warnings)
    assert by_default.skips == expected.skips  # the default is the setting's: US
    assert (utility.skips, utility.will_send) == ({}, 8)
    assert (off.skips, off.will_send) == ({}, 8)
    assert uploaded.skips == {"marketing_region_blocked": 2} and uploaded.will_send == 2  # contacts or not

    everyone = await segment(client, setup, EVERYONE)
    dry = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": "dry", "template": "promo", "segment": everyone["id"],
        "params": [{"attribute": "first", "fallback": "friend"}, "20%"], "dry_run": True})
    assert dry.status_code == 200, dry.text  # the dry run counts them and leaves them out of the countries and the cost
    assert dry.json()["skips"] == {"marketing_region_blocked": 4} and dry.json()["by_country"] == {"CA": 2, "IN": 1, "GB": 1}
    created = await broadcast(client, setup, everyone)
    await run_until_fanned_out(engine_for(app, settings))
    sent = {m.destination for m in await broadcast_messages(db, created["id"])}
    assert sent == set(OTHERS)
    shown = await client.get(f"/api/v1/campaigns/{created['id']}", headers=auth(setup))
    assert shown.json()["progress"]["skip_reasons"] == {"marketing_region_blocked": 4}, shown.text

    # A project that accepts: the estimate and the broadcast send to all (Meta decides).
    await set_policy(client, setup, "accept")
    async with db.read() as session:
        accepting = await estimate.audience(session, setup.project_id, EVERYONE, "MARKETING", now=utcnow(), blocked_regions=US)
    assert (accepting.skips, accepting.will_send) == ({}, 8)
    again = await broadcast(client, setup, await segment(client, setup, EVERYONE))
    await run_until_fanned_out(engine_for(app, settings))
    assert {m.destination for m in await broadcast_messages(db, again["id"])} == set(US_PEOPLE + OTHERS)


async def test_the_dashboard_settings_page_sets_the_policy(client, db):
    setup = await make_project(db)
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    page = await client.get("/settings")
    assert page.status_code == 200 and 'name="marketing_region_policy"' in page.text and "since April 2025" in page.text
    assert '<option value="refuse" selected>' in page.text
    saved = await client.post("/settings/guardrails", data={"csrf": await csrf_of(client, "/settings"), "marketing_region_policy": "accept"})
    assert saved.status_code == 303, saved.text
    async with db.read() as session:
        assert (await session.get(Project, setup.project_id)).marketing_region_policy == "accept"
    assert '<option value="accept" selected>' in (await client.get("/settings")).text
    bad = await client.post("/settings/guardrails", data={"csrf": await csrf_of(client, "/settings"), "marketing_region_policy": "never"})
    assert bad.status_code == 303  # back to the page, which says what was wrong
    assert "marketing_region_policy must be one of: refuse, accept" in (await client.get(bad.headers["location"])).text
    async with db.read() as session:
        assert (await session.get(Project, setup.project_id)).marketing_region_policy == "accept", "a bad choice changes nothing"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "retry_base_seconds": 0.01, "graph_api_timeout": 2})


async def row(db, message_id: str) -> Message:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Message).where(Message.id == uuid.UUID(message_id)))).scalar_one()


async def due_now(db, dispatcher, message_id: str) -> None:  # noqa: ANN001
    """The day has passed (the test moves the message's time, not the clock; a day later the
    recipient's pair-rate bucket is full again)."""
    dispatcher.pair = PairRate()
    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.id == uuid.UUID(message_id)).values(next_attempt_at=utcnow()))


async def test_131049_is_deferred_a_bounded_number_of_times_with_a_spread_then_failed(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    ids = []
    for destination in ("+917428526201", "+917428526202"):
        r = await client.post(URL, json=body(setup, "order_update", destination=destination))
        assert r.status_code == 200, r.text
        ids.append(r.json()["submitted_message_id"])
        fake_meta.inject(131049, times=None, to=destination)
    fine = await client.post(URL, json=body(setup, "order_update", destination="+917428526203"))
    await dispatcher.run_until_idle()

    first, second = await row(db, ids[0]), await row(db, ids[1])
    for r in (first, second):
        assert (r.status, r.error_code, r.marketing_deferrals) == ("queued", 131049, 1)
        assert r.held_reason == MARKETING_LIMIT_HELD and r.held_reason.startswith("held by Meta's marketing limit")
        assert utcnow() + timedelta(hours=23, minutes=59) <= r.next_attempt_at <= utcnow() + timedelta(hours=28, minutes=1)
    assert first.next_attempt_at != second.next_attempt_at, "each message has its own spread"

    # Shown as held (the message API, the campaign's held count), listed for a later retry.
    shown = (await client.get(f"/api/v1/messages/{ids[0]}", headers=auth(setup))).json()
    assert shown["status"] == "queued" and shown["held_reason"] == MARKETING_LIMIT_HELD
    audience = await client.get("/api/v1/campaigns/order_update/audience", params={"outcome": "MARKETING_LIMITED"}, headers=auth(setup))
    assert audience.status_code == 200, audience.text
    assert {m["submitted_message_id"] for m in audience.json()["data"]} == set(ids)
    assert fine.json()["submitted_message_id"] not in {m["submitted_message_id"] for m in audience.json()["data"]}
    async with db.read() as session:
        campaign_id = (await session.execute(select(Message.campaign_id).where(Message.id == uuid.UUID(ids[0])))).scalar_one()
        assert await messages_repo.held_summary(session, campaign_id) == (2, MARKETING_LIMIT_HELD)
    # The campaign page lists them too, and exports them.
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    page = await client.get(f"/campaigns/{campaign_id}", params={"outcome": "MARKETING_LIMITED"})
    assert page.status_code == 200 and ">Marketing limited</a>" in page.text
    assert "+917428526201" in page.text and "+917428526202" in page.text and "+917428526203" not in page.text
    exported = await client.get(f"/campaigns/{campaign_id}/audience.csv", params={"outcome": "MARKETING_LIMITED"})
    assert exported.status_code == 200 and exported.text.count("+9174285262") == 2, exported.text
    # Releasing a project's held sends (an operator cleared a halt) leaves the marketing limit's time alone.
    waiting_until = first.next_attempt_at
    async with db.transaction() as session:
        await messages_repo.release_held_for_project(session, setup.project_id, utcnow())
    assert (await row(db, ids[0])).next_attempt_at == waiting_until

    # Deferred again twice (WACAST_MARKETING_LIMIT_MAX_DEFERRALS is 3), then failed in words.
    for deferrals in (2, 3):
        await due_now(db, dispatcher, ids[0])
        await dispatcher.run_until_idle()
        r = await row(db, ids[0])
        assert (r.status, r.marketing_deferrals, r.held_reason) == ("queued", deferrals, MARKETING_LIMIT_HELD)
    await due_now(db, dispatcher, ids[0])
    await dispatcher.run_until_idle()
    failed = await row(db, ids[0])
    assert (failed.status, failed.error_code, failed.marketing_deferrals, failed.held_reason) == ("failed", 131049, 3, None)
    assert failed.error_title == "Meta's per-user marketing limit kept refusing this message (deferred 3 times by about a day, then given up)"
    assert "MARKETING_LIMITED" in failed.error_detail
    assert len([s for s in fake_meta.sends if s.message_id == ids[0]]) == 4, "one send and three deferred tries"
    again = await client.get("/api/v1/campaigns/order_update/audience", params={"outcome": "marketing_limited"}, headers=auth(setup))
    assert {m["submitted_message_id"] for m in again.json()["data"]} == set(ids), "failed by the limit: still in the audience"
    shown = (await client.get(f"/api/v1/messages/{ids[0]}", headers=auth(setup))).json()
    assert shown["status"] == "failed" and "a few times" in shown["error"]["what_to_do"], shown

    # Retried later (a broadcast's "Retry failed" queues from scratch): the deferrals start again.
    async with db.transaction() as session:
        await broadcasts_repo.requeue_failed(session, [uuid.UUID(ids[0])], utcnow(), None, utcnow())
    assert ((await row(db, ids[0])).status, (await row(db, ids[0])).marketing_deferrals) == ("queued", 0)
    dispatcher.pair = PairRate()
    await dispatcher.run_until_idle()
    assert ((await row(db, ids[0])).status, (await row(db, ids[0])).marketing_deferrals) == ("queued", 1)


async def test_max_deferrals_zero_fails_at_once(client, db, settings, dispatcher, fake_meta):
    dispatcher.dispatcher.settings = settings.model_copy(update={"marketing_limit_max_deferrals": 0})
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    r = await client.post(URL, json=body(setup, "order_update", destination="+917428526211"))
    fake_meta.inject(131049, to="+917428526211")
    await dispatcher.run_until_idle()
    failed = await row(db, r.json()["submitted_message_id"])
    assert (failed.status, failed.error_code, failed.marketing_deferrals) == ("failed", 131049, 0)
    assert "no deferrals allowed" in failed.error_title
