"""A number that protects itself (issue 17, part 5): Meta's phone_number_quality_update, posted
signed by the fake Meta and applied by the inbound loop. The number's rating is kept over time
with the portfolio's messaging limit (settings page, /metrics); when it falls, a running
marketing broadcast on it pauses (`on_quality_drop = pause`) or slows to half the pace (`slow`,
the default: each marketing message takes two of the number's send slots) while an API
(utility) message still goes out through the fake Meta; the broadcast's page says why; a
broadcast that would pass the portfolio's daily limit is warned about in its estimate. Both
backends."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from wacast.campaigns.broadcasts import estimate
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.kit.clock import utcnow
from wacast.messages.pacing import Pacer
from wacast.models.campaigns import Campaign
from wacast.models.messages import InboundEvent, Message
from wacast.models.notifications import Notification
from wacast.models.projects import Project
from wacast.models.quality import NumberQuality, NumberQualityEvent, PortfolioLimit
from wacast.projects import guardrails
from wacast.whatsapp.inbound import InboundEvents

TOKEN = "metrics-test-token"
METRICS = {"Authorization": f"Bearer {TOKEN}"}
NUMBER = "15550783881"  # the fake Meta's display number
CUSTOMERS = ("+917428526501", "+917428526502", "+917428526503")


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "metrics_cache_seconds": 0, "metrics_token": TOKEN})


def auth(setup) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def deliver(fake_meta, client, settings, db, payload) -> None:  # noqa: ANN001
    response = await fake_meta.post_webhook(payload, client=client)
    assert response.status_code == 200, response.text
    assert await InboundEvents(db, settings).tick() >= 1


async def send(client, setup, destination: str) -> str:  # noqa: ANN001
    accepted = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
    assert accepted.status_code == 200, accepted.text
    return accepted.json()["submitted_message_id"]


async def row(db, model, key):  # noqa: ANN001, ANN201
    async with db.read() as session:
        return await session.get(model, key)


def gauge(exposition: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # the exposition sorts labels
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", exposition, re.M)
    return float(found.group(1)) if found else None


async def marketing_project(client, db, settings, fake_meta, dispatcher, **options):  # noqa: ANN001, ANN003, ANN201
    """A Cloud API project on the fake Meta's number, three customers who got an order update,
    and a running marketing broadcast to them, fanned out (queued, not sent yet)."""
    fake_meta.add_template("promo", [{"type": "BODY", "text": "Hello {{1}}, our sale starts today"}], category="MARKETING")
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",), sender_number=f"+{NUMBER}", **options)
    for destination in CUSTOMERS:
        await send(client, setup, destination)
    await dispatcher.run_until_idle()
    segment = await client.post("/api/v1/segments", headers=auth(setup), json={"name": "all", "filter": {"match": "all", "conditions": []}})
    assert segment.status_code == 201, segment.text
    made = await client.post("/api/v1/campaigns", headers=auth(setup), json={
        "type": "broadcast", "name": "sale", "template": "promo", "segment": segment.json()["id"], "params": ["Friend"]})
    assert made.status_code == 201, made.text
    return setup, uuid.UUID(made.json()["id"])


async def broadcast_messages(db, campaign_id) -> list[Message]:  # noqa: ANN001
    async with db.read() as session:
        return list((await session.execute(select(Message).where(Message.broadcast_id == campaign_id))).scalars())


async def test_a_flagged_number_pauses_its_marketing_broadcast_while_api_messages_go_out(app, client, db, settings, dispatcher, fake_meta):
    setup, sale = await marketing_project(client, db, settings, fake_meta, dispatcher)
    chosen = await client.patch("/api/v1/settings/guardrails", headers=auth(setup), json={"on_quality_drop": "pause"})
    assert chosen.status_code == 200 and chosen.json()["on_quality_drop"] == "pause", chosen.text
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    assert len(await broadcast_messages(db, sale)) == 3

    # Meta flags the number (Meta's example shape) and reports the portfolio's limit.
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("FLAGGED", current_limit="TIER_10K", portfolio_limit="TIER_10K"))
    number = await row(db, NumberQuality, NUMBER)
    assert (number.waba_id, number.quality, number.flagged, number.last_event) == (fake_meta.waba_id, "RED", True, "FLAGGED")
    assert (await row(db, Project, setup.project_id)).number_quality == "FLAGGED"
    limit = await row(db, PortfolioLimit, fake_meta.waba_id)
    assert (limit.tier, limit.daily_limit) == ("TIER_10K", 10_000)
    campaign = await row(db, Campaign, sale)
    assert campaign.status == "paused" and campaign.status_reason.startswith("paused: the number's quality is FLAGGED")
    async with db.sessionmaker() as session:  # told in the notifications panel (and by webhook and email)
        told = (await session.execute(select(Notification).where(Notification.kind == "number.quality"))).scalars().all()
    assert [(n.severity, n.title) for n in told] == [("critical", f"Number {NUMBER}: quality FLAGGED")]
    assert "marketing broadcasts are paused" in told[0].text and told[0].data["paused"] == [campaign.name]

    # The broadcast's messages wait; an order update (utility, campaign API) still goes out.
    update = await send(client, setup, "+917428526509")
    await dispatcher.run_until_idle()
    assert (await row(db, Message, uuid.UUID(update))).status in ("sent", "delivered")
    assert [s for s in fake_meta.sends if s.message_id == update and s.wamid], "sent through the fake Meta"
    assert all(m.status == "queued" and m.held_reason for m in await broadcast_messages(db, sale))
    assert not [s for s in fake_meta.sends if s.body.get("template", {}).get("name") == "promo"]

    # Told: /metrics, the broadcast's page, the overview, the settings page with the number over time.
    exposition = (await client.get("/metrics", headers=METRICS)).text
    assert gauge(exposition, "wacast_number_quality", number=NUMBER, waba_id=fake_meta.waba_id, rating="FLAGGED") == 0.0
    assert gauge(exposition, "wacast_messaging_limit", number=NUMBER, waba_id=fake_meta.waba_id, tier="TIER_10K") == 10_000.0
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    assert "paused: the number&#39;s quality is FLAGGED" in (await client.get(f"/broadcasts/{sale}")).text
    overview = (await client.get("/")).text
    assert 'id="number-quality-down"' in overview and "FLAGGED" in overview
    page = (await client.get("/settings")).text
    assert 'id="number-quality"' in page and f'id="number-{NUMBER}"' in page and "10,000" in page

    # Resumed while the number is still down: the engine pauses it again, with the reason.
    resumed = await client.post(f"/api/v1/campaigns/{sale}/resume", headers=auth(setup))
    assert resumed.status_code == 200, resumed.text
    await BroadcastEngine(app.state.db, settings).tick()
    campaign = await row(db, Campaign, sale)
    assert campaign.status == "paused" and "FLAGGED" in campaign.status_reason
    await dispatcher.run_until_idle()
    assert not [s for s in fake_meta.sends if s.body.get("template", {}).get("name") == "promo"]

    # UNFLAGGED with a GREEN rating: the number is back; a person resumes the broadcast, and it goes out.
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("UNFLAGGED", quality_rating="GREEN"))
    assert (await row(db, Project, setup.project_id)).number_quality == "GREEN"
    assert (await row(db, Campaign, sale)).status == "paused", "a person resumes it"
    assert (await client.post(f"/api/v1/campaigns/{sale}/resume", headers=auth(setup))).status_code == 200
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    await dispatcher.run_until_idle()
    assert {m.status for m in await broadcast_messages(db, sale)} <= {"sent", "delivered"}
    assert len([s for s in fake_meta.sends if s.body.get("template", {}).get("name") == "promo" and s.wamid]) == 3
    async with db.read() as session:
        history = (await session.execute(select(NumberQualityEvent.event, NumberQualityEvent.rating, NumberQualityEvent.action)
                                         .order_by(NumberQualityEvent.id))).all()
    assert [tuple(h) for h in history] == [("FLAGGED", "FLAGGED", "pause"), ("UNFLAGGED", "GREEN", "none")]
    page = (await client.get("/settings")).text
    assert page.count("<code>FLAGGED</code>") == 1 and page.count("<code>UNFLAGGED</code>") == 1


async def test_a_yellow_number_slows_its_marketing_to_half_while_utility_keeps_the_full_pace(app, client, db, settings, dispatcher, fake_meta):
    setup, sale = await marketing_project(client, db, settings, fake_meta, dispatcher)  # on_quality_drop: slow (the default)
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body(
        "DOWNGRADE", old_limit="TIER_10K", current_limit="TIER_2K", portfolio_limit="TIER_2K", quality_rating="YELLOW"))
    project = await row(db, Project, setup.project_id)
    assert (project.number_quality, project.on_quality_drop) == ("YELLOW", "slow")
    campaign = await row(db, Campaign, sale)
    assert campaign.status == "running" and campaign.status_reason.startswith(guardrails.SLOWED_PREFIX)
    assert "half the number's pace" in campaign.status_reason

    # One order update beside the broadcast's three: the dispatcher gives each marketing message
    # two of the number's slots and the utility one one (on a pacer whose clock stands still).
    update = await send(client, setup, "+917428526519")
    await dispatcher.refresh_leases()
    lane = dispatcher.lanes[setup.project_id]
    lane.pacer = Pacer(lane.project.messages_per_second, clock=lambda: 0.0)
    interval = lane.pacer.interval
    assert await dispatcher.fill() == 4
    assert lane.pacer.next_slot == pytest.approx(interval * (3 * guardrails.SLOW_FACTOR + 1))
    await dispatcher.run_until_idle()
    assert (await row(db, Message, uuid.UUID(update))).status in ("sent", "delivered")
    assert {m.status for m in await broadcast_messages(db, sale)} <= {"sent", "delivered"}, "slowed, not stopped"

    # Back to GREEN: full pace, and the broadcast no longer says it is slowed.
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("UPGRADE", current_limit="TIER_10K", quality_rating="GREEN"))
    assert (await row(db, Project, setup.project_id)).number_quality == "GREEN"
    reason = (await row(db, Campaign, sale)).status_reason
    assert not (reason or "").startswith(guardrails.SLOWED_PREFIX)
    assert guardrails.slot_cost("GREEN", "slow", "MARKETING") == 1
    exposition = (await client.get("/metrics", headers=METRICS)).text
    assert gauge(exposition, "wacast_number_quality", number=NUMBER, waba_id=fake_meta.waba_id, rating="GREEN") == 3.0
    # current_limit alone (older payloads) is read as the portfolio's limit too.
    assert gauge(exposition, "wacast_messaging_limit", number=NUMBER, waba_id=fake_meta.waba_id, tier="TIER_10K") == 10_000.0


async def test_continue_keeps_the_pace_and_unknown_numbers_and_bodies_change_nothing(app, client, db, settings, dispatcher, fake_meta):
    setup, sale = await marketing_project(client, db, settings, fake_meta, dispatcher, on_quality_drop="continue")
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("FLAGGED"))
    campaign = await row(db, Campaign, sale)
    assert campaign.status == "running" and not campaign.status_reason
    assert guardrails.slot_cost((await row(db, Project, setup.project_id)).number_quality, "continue", "MARKETING") == 1
    await dispatcher.run_until_idle()
    assert {m.status for m in await broadcast_messages(db, sale)} <= {"sent", "delivered"}

    # Another number of the WABA, an unreadable one, an unknown event: recorded or noted, no project touched.
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("FLAGGED", display_phone_number="15550000000"))
    assert (await row(db, NumberQuality, "15550000000")).flagged
    for hostile in ({"display_phone_number": ["x"], "event": "FLAGGED"}, {"display_phone_number": "1" * 80}):
        payload = fake_meta.number_quality_body("FLAGGED")
        payload["entry"][0]["changes"][0]["value"] = hostile
        await deliver(fake_meta, client, settings, db, payload)
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("SOMETHING_NEW", quality_rating="PURPLE"))
    async with db.read() as session:
        notes = (await session.execute(select(InboundEvent.note).order_by(InboundEvent.id))).scalars().all()
    assert any("no project of WABA" in (n or "") for n in notes)
    assert sum("without a readable display_phone_number" in (n or "") for n in notes) == 2
    assert any("SOMETHING_NEW not known" in (n or "") for n in notes)
    assert (await row(db, Project, setup.project_id)).number_quality == "FLAGGED", "an unknown event keeps the rating"


async def test_the_estimate_warns_when_a_broadcast_would_pass_the_portfolios_daily_limit(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",), sender_number=f"+{NUMBER}")
    rows = [(f"+9174285{n:05d}", "", {}) for n in range(60)]
    async with db.read() as session:
        before = await estimate.csv_audience(session, setup.project_id, rows, [], "MARKETING", now=utcnow())
    assert before.portfolio_limit_warning is None, "no limit known yet"
    await deliver(fake_meta, client, settings, db, fake_meta.number_quality_body("DOWNGRADE", old_limit="TIER_250", current_limit="TIER_50",
                                                                                portfolio_limit="TIER_50"))
    async with db.read() as session:
        over = await estimate.csv_audience(session, setup.project_id, rows, [], "MARKETING", now=utcnow())
        under = await estimate.csv_audience(session, setup.project_id, rows[:40], [], "MARKETING", now=utcnow())
        segment = await estimate.audience(session, setup.project_id, {"match": "all", "conditions": []}, "MARKETING", now=utcnow())
    assert over.will_send == 60 and "60 contacts" in over.portfolio_limit_warning and "50 per 24 hours" in over.portfolio_limit_warning
    assert over.portfolio_limit_warning in over.warnings and over.as_dict()["portfolio_limit_warning"]
    assert under.portfolio_limit_warning is None and segment.portfolio_limit_warning is None
