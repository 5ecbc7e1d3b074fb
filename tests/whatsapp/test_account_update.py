"""Meta's account_update events (whatsapp/account_events.py), posted signed by the fake Meta to
/webhooks/whatsapp and applied by the inbound loop, for a Cloud API project sending through the
fake Meta: a restriction on business-initiated messaging holds its sends (none reaches Meta),
shows in /readyz, /metrics, the dashboard's overview, `wacast doctor`'s account check and the
campaign's hold reason, and lifts at its expiration (no event) or when Meta lifts it, the held
messages then sent; DISABLE holds until REINSTATE; a restriction on adding numbers changes
nothing but shows; informational events are recorded; the customer webhook
account.status.updated reaches a real receiver; hostile bodies break nothing. Both backends."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid

import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from wacast.campaigns import service as campaigns
from wacast.messages import senders
from wacast.models.accounts import AccountEvent, AccountStatus
from wacast.models.messages import InboundEvent, Message
from wacast.models.projects import Project
from wacast.ops import doctor
from wacast.whatsapp.inbound import InboundEvents

PHONE_ID = "1098765"
TOKEN = "account-metrics-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BIZ, ADD = "RESTRICTED_BIZ_INITIATED_MESSAGING", "RESTRICTED_ADD_PHONE_NUMBER_ACTION"
_sent_at = iter(range(1743451903, 1743451903 + 10_000))  # each body its own entry time (Meta's retries are deduplicated)


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True,
                                       "webhook_retry_base_seconds": 0.0, "metrics_cache_seconds": 0, "metrics_token": TOKEN})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def account_update(waba_id: str, value: dict) -> dict:
    """Meta's envelope of an account_update (webhooks/reference/account_update)."""
    return {"object": "whatsapp_business_account", "entry": [
        {"id": waba_id, "time": next(_sent_at), "changes": [{"value": value, "field": "account_update"}]}]}


def restriction(*items: tuple[str, int | None]) -> dict:
    return {"event": "ACCOUNT_RESTRICTION", "restriction_info": [
        {"restriction_type": kind, **({"expiration": at} if at is not None else {})} for kind, at in items]}


async def post(fake_meta, client, settings, db, value: dict, waba_id: str | None = None) -> None:  # noqa: ANN001
    """Signed as Meta signs it (a lone surrogate is refused before it is stored: tests/unit cover the policy's own guard)."""
    raw = json.dumps(account_update(waba_id or fake_meta.waba_id, value)).encode()
    response = await client.post("/webhooks/whatsapp", content=raw, headers={
        "content-type": "application/json", "x-hub-signature-256": fake_meta.sign(raw)})
    assert response.status_code == 200, response.text
    assert await InboundEvents(db, settings).tick() == 1


async def queue(client, setup, n: int, start: int = 0) -> list[str]:  # noqa: ANN001
    ids = []
    for i in range(n):
        answer = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+91742852{start + i:04d}"))
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["submitted_message_id"])
    return ids


async def messages(db, ids: list[str]) -> list[Message]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Message).where(Message.id.in_([uuid.UUID(i) for i in ids])))).scalars().all()
    return sorted(rows, key=lambda m: ids.index(str(m.id)))


def reached_meta(fake_meta, ids: list[str]) -> set[str]:  # noqa: ANN001
    return {s.message_id for s in fake_meta.sends if s.message_id in ids and s.wamid}


async def send_round(dispatcher) -> None:  # noqa: ANN001
    """A lease refresh now (the dispatcher reloads its projects, with their account hold), then work until idle."""
    await dispatcher.refresh_leases()
    await dispatcher.run_until_idle()


def gauge(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return None


async def readyz(client) -> dict:  # noqa: ANN001
    """The named /readyz body; a 503 body (no senders) fails here with what it said."""
    body = (await client.get("/readyz", headers=AUTH)).json()
    assert "senders" in body, body
    return body


async def stored_events(db) -> list[AccountEvent]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return list((await session.execute(select(AccountEvent).order_by(AccountEvent.id))).scalars())


async def test_a_business_initiated_restriction_holds_sends_shows_everywhere_and_lifts_at_its_expiration(
        app, client, db, settings, dispatcher, fake_meta, receiver):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    subscribed = await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {setup.api_key}"}, json={
        "url": receiver.url, "topics": ["account.status.updated"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")

    expires = int(time.time()) + 4
    await post(fake_meta, client, settings, db, restriction((BIZ, expires), (ADD, expires + 86400)))
    async with db.sessionmaker() as session:
        [event] = (await session.execute(select(InboundEvent))).scalars().all()
        project = await session.get(Project, setup.project_id)
    assert event.processed_at is not None and not event.note, "applied, nothing to report"
    assert project.account_hold and "business-initiated" in project.account_hold and project.halted_reason is None
    assert int(project.account_hold_until.timestamp()) == expires

    ids = await queue(client, setup, 3)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(), "nothing reaches Meta while the account is restricted"
    assert [m.status for m in await messages(db, ids)] == ["queued"] * 3

    ready = await client.get("/readyz", headers=AUTH)
    data = ready.json()
    assert ready.status_code == 200 and data["status"] == "degraded"
    [sender] = data["senders"]
    assert sender["ok"] is False and "business-initiated" in sender["account"]["held"]
    assert [n["kind"] for n in sender["account"]["notices"]] == [BIZ, ADD]
    assert any("held by Meta's account state" in p and "lifts by itself" in p for p in data["problems"])
    public = (await client.get("/readyz")).json()
    assert public["sender_numbers"]["account"] == 1 and "business-initiated" not in str(public)
    metrics = (await client.get("/metrics", headers=AUTH)).text
    assert gauge(metrics, "wacast_account_restricted", project="acme", sender=PHONE_ID, restriction=BIZ) == 1
    assert gauge(metrics, "wacast_account_restricted", project="acme", restriction=ADD) == 1
    assert gauge(metrics, "wacast_account_held", project="acme") == 1
    assert gauge(metrics, "wacast_sender_halted", project="acme") == 0, "not the operator's halt"

    page = (await client.get("/")).text
    banner = page[page.index('id="account-status"'):page.index('data-live="overview"')]
    assert "Sending is held by Meta." in banner and "business-initiated messaging" in banner
    assert "adding phone numbers to the account" in banner and "shown only" in banner and "lifts by itself" in banner
    async with db.sessionmaker() as session:
        described = await campaigns.describe(session, await session.get(Project, setup.project_id), "order_update")
    assert "held by Meta's account state" in described["hold_reason"]
    checks = {c.name: c for c in await doctor.run(settings, "acme")}
    assert checks["account"].status == doctor.FAIL and "business-initiated" in checks["account"].detail
    assert checks["sending"].status == doctor.OK, "the operator's halt stays separate"

    await deliver_all(app.state.webhooks)
    [hook] = receiver.accepted("account.status.updated")
    data = hook["data"]
    assert (data["event"], data["effect"], data["waba_id"]) == ("ACCOUNT_RESTRICTION", "restricted", fake_meta.waba_id)
    assert data["sending"]["held"] is True and data["sending"]["until"].startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires)))
    assert [r["type"] for r in data["restrictions"]] == [BIZ, ADD] and data["restrictions"][0]["blocks_sending"] is True

    # The expiration passes: no event from Meta, the held messages go.
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.2)
    await dispatcher.run_until_idle()
    assert reached_meta(fake_meta, ids) == set(ids)
    assert all(m.status in ("sent", "delivered") and m.attempts == 1 for m in await messages(db, ids))
    ready = (await readyz(client))
    assert ready["senders"][0]["account"]["held"] is None and ready["senders"][0]["ok"] is True
    assert [n["kind"] for n in ready["senders"][0]["account"]["notices"]] == [ADD]
    metrics = (await client.get("/metrics", headers=AUTH)).text
    assert gauge(metrics, "wacast_account_held", project="acme") == 0
    assert gauge(metrics, "wacast_account_restricted", restriction=BIZ) is None
    assert gauge(metrics, "wacast_account_restricted", restriction=ADD) == 1
    assert "Sending is held by Meta." not in (await client.get("/")).text


async def test_an_already_expired_restriction_holds_nothing(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await post(fake_meta, client, settings, db, restriction((BIZ, int(time.time()) - 60)))
    ids = await queue(client, setup, 2)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(ids)
    [event] = await stored_events(db)
    assert (event.event, event.effect) == ("ACCOUNT_RESTRICTION", "lifted") and "already expired" in event.summary


async def test_a_restriction_meta_lifts_releases_the_held_sends(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, messages_per_second=2, campaigns_for=("order_update",))
    # Sends claimed before the dispatcher knows of the restriction are held, not sent.
    ids = await queue(client, setup, 4)
    await dispatcher.refresh_leases()
    await post(fake_meta, client, settings, db, restriction((BIZ, None)))  # no expiration: until Meta lifts it
    await dispatcher.tick()  # claims (its projects are from before): the pace (2/s) keeps one waiting for its slot
    await dispatcher.refresh_leases()  # now it knows, before that slot comes
    await dispatcher.run_until_idle()
    early = reached_meta(fake_meta, ids)
    assert len(early) < len(ids)
    rows = await messages(db, ids)
    waiting = [m for m in rows if str(m.id) not in early]
    assert all(m.status == "queued" for m in waiting)
    held = [m for m in waiting if m.held_reason]
    assert held and all("account held by Meta" in m.held_reason and m.attempts == 0 for m in held)
    later = await queue(client, setup, 2, start=100)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, later) == set()

    # Meta lifts it: an ACCOUNT_RESTRICTION with an empty restriction_info.
    await post(fake_meta, client, settings, db, {"event": "ACCOUNT_RESTRICTION", "restriction_info": []})
    async with db.sessionmaker() as session:
        project = await session.get(Project, setup.project_id)
        status = await session.get(AccountStatus, fake_meta.waba_id)
    assert project.account_hold is None and status.restrictions == [] and status.last_event == "ACCOUNT_RESTRICTION"
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids + later) == set(ids + later)
    assert all(m.held_reason is None for m in await messages(db, ids + later))


async def test_disable_holds_every_sender_on_the_waba_until_reinstate(client, db, settings, dispatcher, fake_meta):
    first = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    second = await make_cloud_project(db, settings, fake_meta, "acme-two", phone_number_id="2098765", campaigns_for=("order_update",))
    scheduled = {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "SCHEDULE_FOR_DISABLE", "waba_ban_date": "December 9, 2026"}}
    await post(fake_meta, client, settings, db, scheduled)
    warned = await queue(client, first, 1)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, warned) == set(warned), "scheduled for disable: sending goes on"
    ready = (await readyz(client))
    assert all(s["ok"] for s in ready["senders"])
    assert {n["kind"]: n["severity"] for n in ready["senders"][0]["account"]["notices"]} == {"SCHEDULE_FOR_DISABLE": "warns"}
    checks = {c.name: c for c in await doctor.run(settings, "acme")}
    assert checks["account"].status == doctor.WARN and "scheduled" in checks["account"].detail

    await post(fake_meta, client, settings, db, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "DISABLE",
                                                                                         "waba_ban_date": "December 9, 2026"}})
    ids = await queue(client, first, 2, start=10) + await queue(client, second, 2, start=20)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(), "every sender of the WABA is held"
    ready = (await readyz(client))
    assert [("disabled" in (s["account"]["held"] or "")) for s in ready["senders"]] == [True, True]
    metrics = (await client.get("/metrics", headers=AUTH)).text
    assert gauge(metrics, "wacast_account_restricted", project="acme-two", restriction="DISABLE") == 1

    # Meta's example of a reinstatement, verbatim.
    await post(fake_meta, client, settings, db, {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE",
                                                                                         "waba_ban_date": "April 17, 2025"}})
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(ids)
    assert [e.effect for e in await stored_events(db)] == ["scheduled_for_disable", "disabled", "reinstated"]


async def test_deleted_and_offboarded_accounts_hold_until_reconnected(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await post(fake_meta, client, settings, db, {"event": "ACCOUNT_OFFBOARDED"})
    ids = await queue(client, setup, 1)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set()
    await post(fake_meta, client, settings, db, {"event": "ACCOUNT_RECONNECTED"})
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(ids)
    await post(fake_meta, client, settings, db, {"event": "ACCOUNT_DELETED"})
    deleted = await queue(client, setup, 1, start=5)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, deleted) == set()
    assert "deleted" in (await readyz(client))["senders"][0]["account"]["held"]
    # A deleted WABA is replaced: moving the project to another one drops the old one's hold.
    async with db.transaction() as session:
        await senders.update_project(session, "acme", waba_id="555000111")
    await send_round(dispatcher)
    assert reached_meta(fake_meta, deleted) == set(deleted)


async def test_a_restriction_on_adding_numbers_changes_nothing_but_shows(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    # The older shape (Meta's first account_update docs): a phone_number and a restriction without expiration.
    await post(fake_meta, client, settings, db, {"phone_number": "16505551111", **restriction((ADD, None)),
                                                  "restriction_info": [{"restriction_type": ADD}]})
    ids = await queue(client, setup, 2)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(ids)
    ready = (await readyz(client))
    assert ready["status"] == "ok" and ready["senders"][0]["account"]["held"] is None
    assert [(n["kind"], n["severity"]) for n in ready["senders"][0]["account"]["notices"]] == [(ADD, "shown")]
    metrics = (await client.get("/metrics", headers=AUTH)).text
    assert gauge(metrics, "wacast_account_restricted", restriction=ADD) == 1 and gauge(metrics, "wacast_account_held", project="acme") == 0
    page = (await client.get("/")).text
    assert 'id="account-status"' in page and "adding phone numbers to the account" in page and "Sending is held" not in page
    [event] = await stored_events(db)
    assert event.phone_number == "16505551111" and event.effect == "restricted"


# Meta's examples of the informational events (webhooks/reference/account_update), their values verbatim.
INFORMATIONAL = [
    {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "ADULT"}},
    {"event": "AD_ACCOUNT_LINKED", "waba_info": {"owner_business_id": "2329417887457253", "ad_account_linked": "980198427534243",
                                                 "waba_id": "980198427658004"}},
    {"auth_international_rate_eligibility": {"exception_countries": [{"country_code": "ID", "start_time": 1751347424}],
                                             "start_time": 1748780624}, "event": "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE"},
    {"event": "MM_LITE_TERMS_SIGNED", "waba_info": {"owner_business_id": "2329417887457253", "waba_id": "980198427658004"}},
    {"event": "PARTNER_ADDED", "waba_info": {"waba_id": "980198427658004", "owner_business_id": "2329417887457253",
                                             "solution_id": "1715120619246906",
                                             "solution_partner_business_ids": ["2949482758682047", "520744086200222"]}},
    {"event": "PARTNER_APP_INSTALLED", "waba_info": {"waba_id": "1191624265890717", "owner_business_id": "2329417887457253",
                                                     "partner_app_id": "5731794616896507", "solution_id": "1715120619246906",
                                                     "solution_partner_business_ids": ["2949482758682047", "520744086200222"]}},
    {"event": "PARTNER_APP_UNINSTALLED", "waba_info": {"waba_id": "184943124712545", "owner_business_id": "1284923862322270",
                                                       "partner_app_id": "869361281603019"}},
    {"event": "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE", "partner_client_certification_info": {
        "client_business_id": "2729063490586005", "status": "APPROVED", "rejection_reasons": ["NONE"]}},
    {"event": "PARTNER_REMOVED", "waba_info": {"waba_id": "980198427658004", "owner_business_id": "2329417887457253"},
     "disconnection_info": {"reason": "PRIMARY_INACTIVITY", "initiated_by": "SYSTEM"}},
    {"country": "IN", "event": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE"},
    {"volume_tier_info": {"tier_update_time": 1743451903, "pricing_category": "UTILITY", "tier": "25000001:50000000",
                          "effective_month": "2025-11", "region": "India"}, "event": "VOLUME_BASED_PRICING_TIER_UPDATE"},
]


async def test_informational_events_are_recorded_and_hold_nothing(app, client, db, settings, dispatcher, fake_meta, receiver):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {setup.api_key}"}, json={
        "url": receiver.url, "topics": ["account.status.updated"], "secret": receiver.secret})
    for value in [*INFORMATIONAL, {"event": "A_NEW_EVENT_META_ADDS", "something": {"x": 1}}]:
        await post(fake_meta, client, settings, db, value)
    recorded = await stored_events(db)
    assert [e.event for e in recorded] == [v["event"] for v in INFORMATIONAL] + ["A_NEW_EVENT_META_ADDS"]
    assert [e.effect for e in recorded] == ["violation"] + ["recorded"] * (len(INFORMATIONAL) - 1) + ["recorded"]
    assert [e.known for e in recorded] == [True] * len(INFORMATIONAL) + [False]
    assert recorded[9].detail == {"country": "IN"} and recorded[8].detail["disconnection_info"]["reason"] == "PRIMARY_INACTIVITY"
    async with db.sessionmaker() as session:
        notes = (await session.execute(select(InboundEvent.note).order_by(InboundEvent.id))).scalars().all()
        project = await session.get(Project, setup.project_id)
    assert notes[:-1] == [None] * len(INFORMATIONAL) and "A_NEW_EVENT_META_ADDS" in notes[-1]
    assert project.account_hold is None
    ids = await queue(client, setup, 1)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set(ids)
    ready = (await readyz(client))
    assert ready["senders"][0]["ok"] and [n["kind"] for n in ready["senders"][0]["account"]["notices"]] == ["ACCOUNT_VIOLATION"]
    await deliver_all(app.state.webhooks)
    hooks = {h["data"]["event"]: h["data"] for h in receiver.accepted("account.status.updated")}  # delivered concurrently
    assert sorted(hooks) == sorted(e.event for e in recorded)
    assert hooks["ACCOUNT_VIOLATION"]["violation"]["type"] == "ADULT" and not any(h["sending"]["held"] for h in hooks.values())
    assert hooks["PARTNER_REMOVED"]["effect"] == "recorded" and "unshared" in hooks["PARTNER_REMOVED"]["summary"]


async def test_hostile_and_unknown_bodies_break_nothing(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await post(fake_meta, client, settings, db, restriction((BIZ, int(time.time()) + 3600)))
    hostile = [
        {"event": "ACCOUNT_RESTRICTION", "restriction_info": "all of them"},
        {"event": "ACCOUNT_RESTRICTION", "restriction_info": [None, 5, {"restriction_type": {"a": 1}, "expiration": "x" * 10_000}]},
        {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "\x00DISABLE\x7f"}},
        {"event": "x" * 100_000, "ban_info": []},
        {"event": ["ACCOUNT_DELETED"]},
        {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "\u202e\x00" * 50}},
    ]
    for value in hostile:
        await post(fake_meta, client, settings, db, value)
    await post(fake_meta, client, settings, db, {"event": "ACCOUNT_RESTRICTION"}, waba_id="not a waba")
    await post(fake_meta, client, settings, db, {"event": "ACCOUNT_RESTRICTION", "restriction_info": []}, waba_id="999999")
    async with db.sessionmaker() as session:
        project = await session.get(Project, setup.project_id)
        notes = (await session.execute(select(InboundEvent.note).order_by(InboundEvent.id))).scalars().all()
        other = await session.get(AccountStatus, "999999")
    assert project.account_hold and "business-initiated" in project.account_hold, "still restricted: garbage lifts nothing"
    assert all(note is None or "processing error" not in note for note in notes)
    assert "unreadable WABA id" in notes[-2] and "no project uses" in notes[-1] and other is not None
    events = await stored_events(db)
    assert len(events) == 1 + len(hostile) + 1 and all(len(e.summary) <= 500 and "\x00" not in e.summary for e in events)
    assert {e.effect for e in events[1:-1]} <= {"recorded", "violation"}
    ids = await queue(client, setup, 1)
    await send_round(dispatcher)
    assert reached_meta(fake_meta, ids) == set()
