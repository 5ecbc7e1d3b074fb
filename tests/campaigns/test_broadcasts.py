"""Segments and broadcasts on both backends: filters of each kind, the fan-out engine (resume
after a stop or a kill -9, exactly once), pause/resume/cancel, quiet hours, frequency cap,
messaging tier, auto-pause, retry-failed, API messages overtaking a broadcast, and the issue's
"Done when" scenario end to end through the REST API with the sandbox provider."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update

from tests.support.broadcasts import run_until_fanned_out
from tests.support.factories import body, make_project
from wacast.campaigns.broadcasts import draft
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.contacts import repository as contacts_repo
from wacast.kit.clock import utcnow
from wacast.meta.types import dedupe_key
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.messages import InboundEvent, Message
from wacast.models.projects import Project
from wacast.templates import service as templates
from wacast.whatsapp.sandbox import sandbox_phone_number_id

PROMO = {"name": "promo", "language": "en", "category": "MARKETING", "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off today only."}]}


def auth(setup) -> dict:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def add_contacts(db, project_id, n, *, source="Facebook forms", start=0, **extra) -> list[uuid.UUID]:  # noqa: ANN001, ANN003
    now = utcnow()
    rows = [
        {"id": uuid.uuid4(), "project_id": project_id, "phone": f"+91700{start + i:07d}", "name": f"Person {start + i}",
         "source": source, "opted_in": extra.get("opted_in", True), "blocked": extra.get("blocked", False),
         "attributes": extra.get("attributes", {"first": f"P{start + i}"}), "created_at": extra.get("created_at", now), "updated_at": now}
        for i in range(n)
    ]
    async with db.transaction() as session:
        for chunk in range(0, n, 500):
            await session.execute(insert(Contact), rows[chunk : chunk + 500])
    return [r["id"] for r in rows]


async def add_promo(db, setup) -> None:  # noqa: ANN001
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        await templates.add_from_definition(session, project, PROMO)


async def segment(client, setup, filt, name=None) -> dict:  # noqa: ANN001
    response = await client.post("/api/v1/segments", json={"name": name or f"s-{uuid.uuid4().hex[:6]}", "filter": filt}, headers=auth(setup))
    assert response.status_code == 201, response.text
    return response.json()


async def broadcast(client, setup, seg, name=None, **fields) -> dict:  # noqa: ANN001, ANN003
    data = {"type": "broadcast", "name": name or f"b-{uuid.uuid4().hex[:6]}", "template": "promo", "segment": seg["id"],
            "params": [{"attribute": "first", "fallback": "friend"}, "20%"], **fields}
    response = await client.post("/api/v1/campaigns", json=data, headers=auth(setup))
    assert response.status_code == 201, response.text
    return response.json()


async def broadcast_messages(db, campaign_id) -> list:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Message).where(Message.broadcast_id == uuid.UUID(campaign_id)))).scalars().all()


def engine_for(app, settings, batch=20) -> BroadcastEngine:  # noqa: ANN001
    return BroadcastEngine(app.state.db, settings.model_copy(update={"broadcast_batch_size": batch}))


EVERYONE = {"match": "all", "conditions": []}


# --- segments ----------------------------------------------------------------------------------


async def test_segment_filters_of_each_kind(client, db, dispatcher):
    setup = await make_project(db)
    headers = auth(setup)
    old = utcnow() - timedelta(days=40)
    fb = await add_contacts(db, setup.project_id, 4, source="Facebook forms", attributes={"city": "Pune", "plan": "gold"})
    web = await add_contacts(db, setup.project_id, 3, source="Website", start=100, attributes={"city": "Mumbai"}, created_at=old)
    await add_contacts(db, setup.project_id, 1, source="Facebook forms", start=200, opted_in=False)
    await add_contacts(db, setup.project_id, 1, source="Facebook forms", start=300, blocked=True)
    async with db.transaction() as session:
        tags = await contacts_repo.tag_ids_by_name(session, setup.project_id, ["customer", "vip"])
        await contacts_repo.add_tags(session, fb[0], tags.values())
        await contacts_repo.add_tags(session, fb[1], [tags["customer"]])
        await contacts_repo.add_tags(session, web[0], [tags["vip"]])

    async def count(*conditions, match="all") -> dict:  # noqa: ANN002
        response = await client.post("/api/v1/segments/count", json={"filter": {"match": match, "conditions": list(conditions)}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["count"]

    assert await count({"field": "source", "op": "equals", "value": "facebook FORMS"}) == {"matching": 6, "sendable": 4, "opted_out": 1, "blocked": 1}
    assert (await count({"field": "source", "op": "in", "value": ["Website"]}))["matching"] == 3
    assert (await count({"field": "tags", "op": "any", "value": ["customer", "vip"]}))["matching"] == 3
    assert (await count({"field": "tags", "op": "all", "value": ["customer", "vip"]}))["matching"] == 1
    assert (await count({"field": "tags", "op": "none", "value": ["customer"]}))["matching"] == 7
    assert (await count({"field": "attribute", "name": "city", "op": "equals", "value": "pune"}))["matching"] == 4
    assert (await count({"field": "attribute", "name": "city", "op": "contains", "value": "mba"}))["matching"] == 3
    assert (await count({"field": "attribute", "name": "plan", "op": "is_set"}))["matching"] == 4
    assert (await count({"field": "attribute", "name": "plan", "op": "not_set"}))["matching"] == 5
    recent = (utcnow() - timedelta(days=2)).date().isoformat()
    assert (await count({"field": "created", "op": "between", "value": {"from": recent}}))["matching"] == 6
    assert (await count({"field": "created", "op": "between", "value": {"to": (utcnow() - timedelta(days=30)).date().isoformat()}}))["matching"] == 3
    assert (await count({"field": "source", "op": "equals", "value": "Website"}, {"field": "tags", "op": "any", "value": ["customer"]}, match="any"))["matching"] == 5

    # Campaign outcomes: the API campaign reaches three contacts; one fails, one replies.
    for i, phone in enumerate(["+917000000000", "+917000000001", "+917000000100"]):
        response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=phone, templateParams=["A", f"O{i}"]))
        assert response.status_code == 200, response.text
    await dispatcher.run_until_idle()
    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.destination == "+917000000100").values(status="failed"))
    await reply_to_last(db, setup, "917000000001")
    await dispatcher.run_until_idle()

    def outcome(*statuses, op="received"):  # noqa: ANN002, ANN202
        c = {"field": "campaign", "campaign": "order_update", "op": op}
        if statuses:
            c["status"] = list(statuses)
        return c

    assert (await count(outcome()))["matching"] == 3
    assert (await count(outcome("read")))["matching"] == 1
    assert (await count(outcome("replied")))["matching"] == 1
    assert (await count(outcome("failed")))["matching"] == 1
    assert (await count(outcome("read", "replied")))["matching"] == 2
    assert (await count(outcome(op="not_received")))["matching"] == 6

    # Bad filters: a clear 400, nothing saved.
    for bad in (
        {"match": "maybe"},
        {"conditions": [{"field": "tags", "op": "any", "value": ["nope"]}]},
        {"conditions": [{"field": "campaign", "campaign": "ghost", "op": "received"}]},
        {"conditions": [{"field": "campaign", "campaign": "order_update", "op": "received", "status": ["opened"]}]},
        {"conditions": [{"field": "created", "op": "between", "value": {"from": "yesterday"}}]},
        {"conditions": [{"field": "colour"}]},
    ):
        response = await client.post("/api/v1/segments", json={"name": "bad", "filter": bad}, headers=headers)
        assert response.status_code in (400, 404), response.text
        assert response.json()["code"] in ("SEGMENT_FILTER_INVALID", "TAG_NOT_FOUND", "CAMPAIGN_NOT_FOUND")
    assert (await client.get("/api/v1/segments", headers=headers)).json()["segments"] == []


async def test_segment_contacts_pages_and_csv_export(client, db):
    setup = await make_project(db)
    await add_contacts(db, setup.project_id, 25, attributes={"city": "Pune"})
    seg = await segment(client, setup, {"conditions": [{"field": "source", "op": "equals", "value": "Facebook forms"}]}, name="fb")
    assert seg["count"]["sendable"] == 25
    seen, after = [], None
    while True:
        response = await client.get(f"/api/v1/segments/{seg['id']}/contacts", params={"limit": 10, **({"after": after} if after else {})}, headers=auth(setup))
        page = response.json()
        seen += [c["phone"] for c in page["contacts"]]
        after = page["next_after"]
        if not after:
            break
    assert len(seen) == len(set(seen)) == 25
    response = await client.get("/api/v1/segments/fb/export", headers=auth(setup))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("phone,name,source,opted_in,blocked,created_at,tags") and "city" in lines[0]
    assert len(lines) == 26 and all(",Pune" in line for line in lines[1:])
    assert (await client.get("/api/v1/segments/nope", headers=auth(setup))).status_code == 404
    assert (await client.get("/api/v1/segments/n%00pe/count", headers=auth(setup))).status_code == 400  # kit/request_text.py
    assert (await client.post("/api/v1/campaigns/n%00pe/resume", headers=auth(setup))).status_code == 400


# --- the engine --------------------------------------------------------------------------------


async def test_stopped_between_batches_and_restarted_queues_each_contact_once(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 95)
    await add_contacts(db, setup.project_id, 5, start=500, opted_in=False)
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg)
    assert created["status"] == "running" and created["progress"]["total"] == 95

    first = engine_for(app, settings)
    await first.tick(max_batches=2)
    async with db.sessionmaker() as session:
        campaign = await session.get(Campaign, uuid.UUID(created["id"]))
    # The checkpoint and the queued messages moved together.
    assert 0 < campaign.queued_count == len(await broadcast_messages(db, created["id"])) <= 40
    assert campaign.fanout_done_at is None and campaign.checkpoint
    # The first engine "dies" holding the lease; a second engine takes over after it expires.
    async with db.transaction() as session:
        await session.execute(update(Campaign).where(Campaign.id == uuid.UUID(created["id"])).values(lease_until=utcnow() - timedelta(seconds=1)))
    second = engine_for(app, settings, batch=7)
    await run_until_fanned_out(second)
    messages = await broadcast_messages(db, created["id"])
    assert len(messages) == 95 and len({m.contact_id for m in messages}) == 95
    assert all(m.priority > 0 for m in messages)


KILL_SCRIPT = """
import asyncio, sys
from wacast.campaigns.broadcasts import draft
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.config import Settings
from wacast.db.engine import Database

async def main():
    db = Database(sys.argv[1])
    engine = BroadcastEngine(db, Settings(database_url=sys.argv[1], broadcast_batch_size=10))
    while True:
        await engine.tick(max_batches=1)
        print("batch", flush=True)
        await asyncio.sleep(0.02)

asyncio.run(main())
"""


async def test_killed_mid_fan_out_resumes_exactly_once(client, app, db, settings, tmp_path):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 120)
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg)
    script = tmp_path / "engine.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), settings.database_url], stdout=subprocess.PIPE, env={**os.environ, "WACAST_ENVIRONMENT": "test"})
    try:
        for _ in range(4):
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.startswith(b"batch"), line
    finally:
        proc.kill()  # SIGKILL: no shutdown, possibly mid-transaction
        proc.wait()
    before = len(await broadcast_messages(db, created["id"]))
    assert 0 < before < 120
    async with db.transaction() as session:
        await session.execute(update(Campaign).where(Campaign.id == uuid.UUID(created["id"])).values(lease_until=utcnow() - timedelta(seconds=1)))
    await run_until_fanned_out(engine_for(app, settings, batch=13))
    messages = await broadcast_messages(db, created["id"])
    assert len(messages) == 120 and len({m.contact_id for m in messages}) == 120
    async with db.sessionmaker() as session:
        assert (await session.get(Campaign, uuid.UUID(created["id"]))).queued_count == 120


async def test_pause_holds_resume_releases_cancel_withdraws(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 60)
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg)
    engine = engine_for(app, settings)
    await engine.tick(max_batches=1)
    paused = await client.post(f"/api/v1/campaigns/{created['id']}/pause", headers=auth(setup))
    assert paused.status_code == 200 and paused.json()["status"] == "paused" and paused.json()["result"]["held"] == 20
    await engine.tick()
    await dispatcher.run_until_idle()
    data = (await client.get(f"/api/v1/campaigns/{created['id']}", headers=auth(setup))).json()
    assert data["progress"]["queued"] == 20 and data["progress"]["held"] == 20 and data["progress"]["read"] == 0
    assert (await client.post(f"/api/v1/campaigns/{created['id']}/pause", headers=auth(setup))).status_code == 409
    resumed = await client.post(f"/api/v1/campaigns/{created['id']}/resume", headers=auth(setup))
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    await run_until_fanned_out(engine)
    await dispatcher.run_until_idle()
    await engine.tick()
    data = (await client.get(f"/api/v1/campaigns/{created['id']}", headers=auth(setup))).json()
    assert data["status"] == "completed" and data["progress"]["read"] == 60 and data["progress"]["percent_done"] == 100.0

    other = await broadcast(client, setup, seg, name="to-cancel", params=["$first", "10%"])
    await engine.tick(max_batches=1)
    cancelled = await client.post("/api/v1/campaigns/to-cancel/cancel", headers=auth(setup))
    assert cancelled.status_code == 200 and cancelled.json()["result"]["withdrawn"] == 20
    await engine.tick()
    assert await broadcast_messages(db, other["id"]) == []
    assert (await client.post("/api/v1/campaigns/to-cancel/resume", headers=auth(setup))).status_code == 409


def _window_around(now: datetime, zone: str) -> tuple[str, str]:
    local = now.astimezone(ZoneInfo(zone))
    return (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=2)).strftime("%H:%M")


async def test_quiet_hours_hold_messages_until_the_window_ends(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 10)
    start, end = _window_around(utcnow(), "Asia/Kolkata")
    response = await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": start, "end": end}}, headers=auth(setup))
    assert response.status_code == 200 and response.json()["quiet_hours"] == {"start": start, "end": end}
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg)
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    messages = await broadcast_messages(db, created["id"])
    assert len(messages) == 10 and all(m.status == "queued" for m in messages)
    assert all(m.held_reason.startswith(f"quiet hours until {end}") for m in messages)
    assert all(m.next_attempt_at > utcnow() + timedelta(minutes=100) for m in messages)
    # An API (transactional) message is not held by quiet hours.
    response = await client.post("/campaign/t1/api/v2", json=body(setup))
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        api = await session.get(Message, uuid.UUID(response.json()["submitted_message_id"]))
    assert api.status == "read"
    assert (await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": "25:00", "end": "09:00"}}, headers=auth(setup))).status_code == 400


async def test_quiet_hours_sweep_holds_messages_queued_before_the_window(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 5)
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg)
    engine = engine_for(app, settings)
    await run_until_fanned_out(engine)
    start, end = _window_around(utcnow(), "Asia/Kolkata")
    await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": start, "end": end}}, headers=auth(setup))
    assert await engine.hold_quiet_hours() == 5
    assert all(m.held_reason and m.next_attempt_at > utcnow() for m in await broadcast_messages(db, created["id"]))


async def test_a_segment_is_renamed_and_refiltered_and_its_broadcasts_keep_their_audience(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 3)
    await add_contacts(db, setup.project_id, 2, source="Website", start=3)
    seg = await segment(client, setup, EVERYONE)
    other = await segment(client, setup, EVERYONE, name="other")
    web = {"match": "all", "conditions": [{"field": "source", "op": "equals", "value": "Website"}]}
    changed = await client.patch(f"/api/v1/segments/{seg['id']}", json={"name": "web", "filter": web}, headers=auth(setup))
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "web" and changed.json()["count"]["sendable"] == 2
    taken = await client.patch("/api/v1/segments/web", json={"name": "other"}, headers=auth(setup))
    assert taken.status_code == 409 and taken.json()["code"] == "SEGMENT_EXISTS"
    bad = await client.patch("/api/v1/segments/web", json={"filter": {"conditions": [{"field": "tags", "op": "any"}]}}, headers=auth(setup))
    assert bad.status_code == 400 and bad.json()["code"] == "SEGMENT_FILTER_INVALID"
    assert (await client.patch("/api/v1/segments/web", json={"name": None}, headers=auth(setup))).status_code == 400
    assert (await client.get("/api/v1/segments/web", headers=auth(setup))).json()["filter"] == web  # nothing half-changed
    # A broadcast keeps the audience it was made for when its segment changes afterwards.
    made = await broadcast(client, setup, {"id": other["id"]}, name="later", send_at="2099-01-01T10:00:00Z")
    assert (await client.patch(f"/api/v1/segments/{other['id']}", json={"filter": web}, headers=auth(setup))).status_code == 200
    async with db.sessionmaker() as session:
        kept = (await session.get(Campaign, uuid.UUID(made["id"]))).broadcast["filter"]
    assert kept == EVERYONE


async def test_the_estimate_counts_skips_waits_and_repeats_before_a_broadcast(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    ids = await add_contacts(db, setup.project_id, 6)
    async with db.transaction() as session:
        await session.execute(update(Contact).where(Contact.id == ids[0]).values(opted_in=False))
    seg = await segment(client, setup, EVERYONE)
    body = {"name": "next", "template": "promo", "segment": seg["id"], "params": [{"attribute": "first", "fallback": "friend"}, "20%"]}
    async with db.read() as session:
        first = await draft.preview(session, setup.project_id, body)
    assert first.problem is None and first.components
    assert (first.estimate.matching, first.estimate.will_send, first.estimate.skips) == (6, 5, {"opted out": 1})
    assert first.estimate.warnings == [] and first.sample
    # The preview's estimate is the dry run's (campaigns/broadcasts/dry_run.measure): with the countries and the cost.
    assert first.dry_run.estimate is first.estimate and first.dry_run.by_country == {"IN": 5}
    assert first.dry_run.as_dict()["cost_line"].startswith("no rate card")

    await broadcast(client, setup, seg, name="first")
    await run_until_fanned_out(engine_for(app, settings))
    await dispatcher.run_until_idle()
    await client.put("/api/v1/send-policy", json={"frequency_cap": {"messages": 1, "days": 7}, "messaging_tier": 250}, headers=auth(setup))
    start, end = _window_around(utcnow(), "Asia/Kolkata")
    await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": start, "end": end}}, headers=auth(setup))
    async with db.read() as session:
        again = (await draft.preview(session, setup.project_id, body)).estimate
    assert again.skips == {"opted out": 1, "frequency cap": 5} and again.will_send == 0
    assert again.recent_repeat == 0 and again.quiet_until.startswith(f"quiet hours until {end}")
    assert "Nobody in this audience can be messaged." in again.warnings
    await client.put("/api/v1/send-policy", json={"frequency_cap": None, "quiet_hours": None}, headers=auth(setup))
    async with db.read() as session:
        third = (await draft.preview(session, setup.project_id, body)).estimate
    assert third.will_send == 5 and third.recent_repeat == 5 and third.quiet_until is None
    assert "5 of these contacts got a broadcast in the last 24 hours." in third.warnings
    async with db.read() as session:
        incomplete = await draft.preview(session, setup.project_id, {**body, "params": ["only one"]})
    assert incomplete.problem.code == "TEMPLATE_PARAMS_MISMATCH" and incomplete.problem.details == {
        "field": "params", "expected": 2, "given": 1, "names": ["1", "2"]}
    assert incomplete.estimate.will_send == 5  # the audience is known even while the message is not


async def test_held_messages_follow_the_quiet_hours_when_they_change(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 6)
    start, end = _window_around(utcnow(), "Asia/Kolkata")
    await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": start, "end": end}}, headers=auth(setup))
    created = await broadcast(client, setup, await segment(client, setup, EVERYONE))
    await run_until_fanned_out(engine_for(app, settings))
    held = await broadcast_messages(db, created["id"])
    # The reason is what the messages API shows while a message waits.
    shown = (await client.get(f"/api/v1/messages/{held[0].id}", headers=auth(setup))).json()
    assert shown["status"] == "queued" and shown["held_reason"] == f"quiet hours until {end} Asia/Kolkata"

    # A new window that still covers now: held until its new end, with the new reason.
    later_end = (utcnow().astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(hours=3)).strftime("%H:%M")
    await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": start, "end": later_end}}, headers=auth(setup))
    moved = await broadcast_messages(db, created["id"])
    assert {m.held_reason for m in moved} == {f"quiet hours until {later_end} Asia/Kolkata"}
    assert all(m.next_attempt_at > utcnow() + timedelta(minutes=170) for m in moved)

    # Quiet hours off: released at once and sent.
    await client.put("/api/v1/send-policy", json={"quiet_hours": None}, headers=auth(setup))
    released = await broadcast_messages(db, created["id"])
    assert all(m.held_reason is None and m.next_attempt_at <= utcnow() for m in released)
    await dispatcher.run_until_idle()
    assert {m.status for m in await broadcast_messages(db, created["id"])} == {"read"}


async def test_a_paused_broadcast_stays_paused_when_the_quiet_hours_change(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 4)
    created = await broadcast(client, setup, await segment(client, setup, EVERYONE))
    await run_until_fanned_out(engine_for(app, settings))
    assert (await client.post(f"/api/v1/campaigns/{created['name']}/pause", headers=auth(setup))).status_code == 200
    start, end = _window_around(utcnow(), "Asia/Kolkata")
    await client.put("/api/v1/send-policy", json={"quiet_hours": {"start": start, "end": end}}, headers=auth(setup))
    await client.put("/api/v1/send-policy", json={"quiet_hours": None}, headers=auth(setup))
    assert {m.held_reason for m in await broadcast_messages(db, created["id"])} == {"campaign paused"}


async def test_frequency_cap_and_messaging_tier(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 30)
    await client.put("/api/v1/send-policy", json={"frequency_cap": {"messages": 1, "days": 7}}, headers=auth(setup))
    seg = await segment(client, setup, EVERYONE)
    engine = engine_for(app, settings)
    first = await broadcast(client, setup, seg)
    await run_until_fanned_out(engine)
    second = await broadcast(client, setup, seg)
    await run_until_fanned_out(engine)
    assert len(await broadcast_messages(db, first["id"])) == 30
    assert await broadcast_messages(db, second["id"]) == []
    data = (await client.get(f"/api/v1/campaigns/{second['id']}", headers=auth(setup))).json()
    assert data["progress"]["skipped"] == 30 and data["progress"]["skip_reasons"] == {"frequency cap": 30}
    # A cap of 2 lets a second marketing message through.
    await client.put("/api/v1/send-policy", json={"frequency_cap": {"messages": 2, "days": 7}, "messaging_tier": 250}, headers=auth(setup))
    third = await broadcast(client, setup, seg)
    await run_until_fanned_out(engine)
    assert len(await broadcast_messages(db, third["id"])) == 30

    # Tier 250 unique contacts per 24 h: 30 used so far, so 220 of 300 new contacts go out.
    await add_contacts(db, setup.project_id, 300, source="Website", start=1000)
    web = await segment(client, setup, {"conditions": [{"field": "source", "op": "equals", "value": "Website"}]})
    fourth = await broadcast(client, setup, web)
    for _ in range(30):
        await engine.tick()
    assert len(await broadcast_messages(db, fourth["id"])) == 220
    data = (await client.get(f"/api/v1/campaigns/{fourth['id']}", headers=auth(setup))).json()
    assert data["status"] == "running" and "messaging tier of 250" in data["status_reason"]
    assert (await client.put("/api/v1/send-policy", json={"messaging_tier": 300}, headers=auth(setup))).status_code == 400


async def test_api_messages_overtake_a_running_broadcast(client, app, db, settings, dispatcher):
    setup = await make_project(db, messages_per_second=5)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 40)
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg)
    await run_until_fanned_out(engine_for(app, settings))
    response = await client.post("/campaign/t1/api/v2", json=body(setup))
    api_id = uuid.UUID(response.json()["submitted_message_id"])
    await dispatcher.tick()  # claims about one second of sending: 5 messages
    if dispatcher.tasks:
        await asyncio.wait(dispatcher.tasks)
    await dispatcher.record_outcomes()
    async with db.sessionmaker() as session:
        api = await session.get(Message, api_id)
        claimed = (await session.execute(select(func.count()).where(Message.broadcast_id == uuid.UUID(created["id"]), Message.attempts > 0))).scalar_one()
    # The API message was queued last but went in the first claim, ahead of 35+ broadcast messages.
    assert api.attempts == 1 and api.status != "queued"
    assert claimed <= 4
    await dispatcher.run_until_idle(timeout=60)


async def test_auto_pause_on_failures_and_retry_failed_requeues_only_retryable(client, app, db, settings):
    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 12)
    seg = await segment(client, setup, EVERYONE)
    created = await broadcast(client, setup, seg, failure_window=10, failure_threshold=0.5)
    engine = engine_for(app, settings)
    await run_until_fanned_out(engine)
    messages = await broadcast_messages(db, created["id"])
    now = utcnow()
    async with db.transaction() as session:
        # What the dispatcher records for Meta's answers: 4 transient (131000), 4 permanent (131026), 2 sent.
        for m, code in zip(messages[:10], [131000] * 4 + [131026] * 4 + [None] * 2, strict=True):
            values = {"status": "failed", "failed_at": now, "error_code": code, "error_title": "x"} if code else {"status": "sent", "sent_at": now}
            await session.execute(update(Message).where(Message.id == m.id).values(**values))
    await engine.tick()
    data = (await client.get(f"/api/v1/campaigns/{created['id']}", headers=auth(setup))).json()
    assert data["status"] == "paused" and data["status_reason"].startswith("auto-paused: 8 of the last 10")
    assert data["progress"]["held"] == 2
    retried = await client.post(f"/api/v1/campaigns/{created['id']}/retry-failed", headers=auth(setup))
    assert retried.status_code == 200 and retried.json()["result"] == {"requeued": 4, "not_retryable": 4}
    async with db.sessionmaker() as session:
        requeued = (await session.execute(select(Message).where(Message.broadcast_id == uuid.UUID(created["id"]), Message.status == "queued"))).scalars().all()
    assert len(requeued) == 6 and all(m.held_reason == "campaign paused" for m in requeued)


async def test_csv_audience_with_values_and_rejections(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    await add_promo(db, setup)
    data = "phone,name,discount\n+917011111111,Asha,30%\n7022222222,Ravi,\nnot-a-number,X,5%\n+917011111111,Dup,1%\n"
    campaign = {"type": "broadcast", "name": "csv-drop", "template": "promo", "params": ["$name", {"attribute": "discount", "fallback": "15%"}]}
    response = await client.post(
        "/api/v1/campaigns", headers=auth(setup),
        data={"campaign": json.dumps(campaign)}, files={"audience": ("list.csv", data.encode(), "text/csv")},
    )
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["audience"]["rows"] == 2 and out["audience"]["rejected_rows"] == 1 and out["progress"]["total"] == 2
    await run_until_fanned_out(engine_for(app, settings))
    messages = sorted(await broadcast_messages(db, out["id"]), key=lambda m: m.destination)
    texts = [[p["text"] for p in m.payload["components"][0]["parameters"]] for m in messages]
    assert texts == [["Asha", "30%"], ["Ravi", "15%"]]
    # Bad requests are 4xx and create nothing.
    for bad in (
        {"type": "broadcast", "name": "x", "template": "promo", "segment": "nope", "params": ["a", "b"]},
        {"type": "broadcast", "name": "x", "template": "promo", "params": ["a", "b"]},
        {"type": "broadcast", "name": "csv-drop", "template": "promo", "params": ["a", "b"]},
        {"type": "broadcast", "name": "x", "template": "promo", "segment": "s", "params": ["a"]},
        {"type": "broadcast", "name": "x", "template": "image_header", "segment": "s", "params": ["a", "b"]},
        {"type": "broadcast", "name": "x", "template": "promo", "segment": "s", "params": ["a", "b"], "send_at": "2020-01-01T10:00"},
        {"type": "sms", "name": "x"},
        {"type": "broadcast", "name": "nul\u0000", "template": "promo", "segment": "s", "params": ["a", "b"]},
    ):
        response = await client.post("/api/v1/campaigns", json=bad, headers=auth(setup))
        assert 400 <= response.status_code < 500, (bad, response.text)
        assert set(response.json()) >= {"message", "code"}
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Campaign).where(Campaign.type == "broadcast"))).scalar_one() == 1


async def reply_to_last(db, setup, wa_id: str, text: str = "Interested!") -> None:  # noqa: ANN001
    """The contact answers on WhatsApp: the sandbox's inbound-message event (Meta's shape),
    stored the way the sandbox stores its reports and processed by the dispatcher."""
    event = {"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "sandbox", "phone_number_id": sandbox_phone_number_id(str(setup.project_id))},
        "contacts": [{"wa_id": wa_id, "profile": {"name": "Someone"}}],
        "messages": [{"from": wa_id, "id": f"wamid.in.{uuid.uuid4().hex}", "timestamp": str(int(utcnow().timestamp())), "type": "text", "text": {"body": text}}],
    }}]}]}
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(insert(InboundEvent).values(source="sandbox", dedupe_key=dedupe_key(event), body=event, received_at=now, process_after=now))


async def test_done_when_retarget_schedule_pause_resume_finish(client, app, db, settings, dispatcher):
    """A marketer builds "source = Facebook forms and read campaign X but did not reply",
    schedules a broadcast to it for tomorrow 10:00, pauses it, resumes it, and sees it finish
    with every contact messaged once."""
    setup = await make_project(db)
    await add_promo(db, setup)
    headers = auth(setup)
    # Campaign X (an API campaign) goes to 12 people from Facebook forms and 4 from the website.
    for i in range(16):
        source = "Facebook forms" if i < 12 else "Website"
        response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+91710000{i:04d}", userName=f"Lead {i}", source=source, templateParams=[f"Lead{i}", f"X{i}"]))
        assert response.status_code == 200, response.text
    await dispatcher.run_until_idle()
    for i in (0, 1, 2):  # three Facebook leads answered
        await reply_to_last(db, setup, f"91710000{i:04d}")
    await dispatcher.run_until_idle()

    seg = await segment(client, setup, {"match": "all", "conditions": [
        {"field": "source", "op": "equals", "value": "Facebook forms"},
        {"field": "campaign", "campaign": "order_update", "op": "received", "status": ["read"]},
    ]}, name="FB read X, no reply")
    assert seg["count"]["sendable"] == 9

    tomorrow = (utcnow().astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)).date()
    created = await broadcast(client, setup, seg, name="Retarget", send_at=f"{tomorrow}T10:00", params=["$FirstName", "25%"])
    assert created["status"] == "scheduled"
    assert created["send_at"] == datetime.fromisoformat(f"{tomorrow}T10:00").replace(tzinfo=ZoneInfo("Asia/Kolkata")).astimezone(ZoneInfo("UTC")).isoformat()
    # Windows of 8 of the project's 16 contacts: the first holds 1 to 8 of the 9 members.
    engine = engine_for(app, settings, batch=8)
    await engine.tick()
    assert await broadcast_messages(db, created["id"]) == []  # not before its time

    # Tomorrow, 10:00 comes (the clock moves on: the schedule is now due).
    async with db.transaction() as session:
        await session.execute(update(Campaign).where(Campaign.id == uuid.UUID(created["id"])).values(send_at=utcnow() - timedelta(seconds=1)))
    await engine.tick(max_batches=1)
    running = (await client.get("/api/v1/campaigns/Retarget", headers=headers)).json()
    first = running["progress"]["queued"]
    assert running["status"] == "running" and 0 < first < 9 and running["progress"]["not_yet_queued"] == 9 - first

    assert (await client.post("/api/v1/campaigns/Retarget/pause", headers=headers)).json()["status"] == "paused"
    await engine.tick()
    await dispatcher.run_until_idle()
    paused = (await client.get("/api/v1/campaigns/Retarget", headers=headers)).json()
    assert paused["progress"]["queued"] == paused["progress"]["held"] == first and paused["progress"]["read"] == 0

    assert (await client.post("/api/v1/campaigns/Retarget/resume", headers=headers)).json()["status"] == "running"
    await run_until_fanned_out(engine)
    await dispatcher.run_until_idle()
    await engine.tick()
    done = (await client.get("/api/v1/campaigns/Retarget", headers=headers)).json()
    assert done["status"] == "completed"
    assert done["progress"]["total"] == 9 and done["progress"]["read"] == 9 and done["progress"]["percent_done"] == 100.0
    messages = await broadcast_messages(db, created["id"])
    assert len(messages) == 9 and len({m.contact_id for m in messages}) == 9
    destinations = sorted(m.destination for m in messages)
    assert destinations == [f"+91710000{i:04d}" for i in range(3, 12)]
    assert messages[0].payload["components"][0]["parameters"][0]["text"] == "Lead"

    # From the campaign's analytics: one action makes a segment of its audience by outcome.
    response = await client.post("/api/v1/campaigns/Retarget/segment", json={"status": ["read"]}, headers=headers)
    assert response.status_code == 201 and response.json()["count"]["matching"] == 9


async def test_two_engines_side_by_side_queue_each_contact_once(client, app, db, settings):
    """Two processes' engines (own connection pools) fanning out the same broadcasts at once."""
    from wacast.db.engine import Database

    setup = await make_project(db)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 150)
    seg = await segment(client, setup, EVERYONE)
    first = await broadcast(client, setup, seg)
    second = await broadcast(client, setup, seg, params=["$first", "5%"])
    other_db = Database(settings.database_url)
    try:
        engines = [engine_for(app, settings, batch=9), BroadcastEngine(other_db, settings.model_copy(update={"broadcast_batch_size": 11}))]
        await asyncio.gather(*(run_until_fanned_out(e) for e in engines))
    finally:
        await other_db.dispose()
    for created in (first, second):
        messages = await broadcast_messages(db, created["id"])
        assert len(messages) == 150 and len({m.contact_id for m in messages}) == 150
