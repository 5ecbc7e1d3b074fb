"""Every class of Meta error, injected by the fake Meta, handled as reference/whatsapp-cloud-api.md
says: retry with backoff and jitter, wait for that recipient only, defer 24 h and some, fail permanently
with the reason (131050 also opts out), hold the template's sends, halt the sender until an
operator clears it; bounded attempts and the template's time-to-live end in `failed`."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from wacast.campaigns import service as campaigns
from wacast.models.contacts import Contact
from wacast.kit.clock import utcnow
from wacast.models.messages import Message, MessageEvent
from wacast.models.notifications import Notification
from wacast.messages import senders
from wacast.models.projects import Project
from wacast.models.templates import Template
from tests.support.cloud import make_cloud_project
from tests.support.factories import body, make_project

PHONE_ID = "1098765"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "retry_base_seconds": 0.01,
                                       "max_send_attempts": 4, "graph_api_timeout": 0.5})


_numbers = iter(range(10**6))


def phone() -> str:
    return f"+9198{next(_numbers):08d}"


async def queue(client, setup, campaign="order_update", destination=None) -> tuple[str, str]:  # noqa: ANN001
    destination = destination or phone()
    response = await client.post("/campaign/t1/api/v2", json=body(setup, campaign, destination=destination))
    assert response.status_code == 200, response.text
    return response.json()["submitted_message_id"], destination


async def row(db, message_id: str) -> Message:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Message).where(Message.id == uuid.UUID(message_id)))).scalar_one()


async def events(db, message_id: str) -> list[MessageEvent]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return list((await session.execute(select(MessageEvent).where(MessageEvent.message_id == uuid.UUID(message_id)).order_by(MessageEvent.id))).scalars())


async def drain(dispatcher, db, ids: list[str], done, timeout: float = 20) -> dict[str, Message]:  # noqa: ANN001
    """Run the dispatcher until `done(row)` holds for every message."""
    deadline = time.monotonic() + timeout
    while True:
        await dispatcher.run_until_idle()
        rows = {i: await row(db, i) for i in ids}
        if all(done(r) for r in rows.values()):
            return rows
        assert time.monotonic() < deadline, {i: (r.status, r.error_code, r.held_reason) for i, r in rows.items()}
        await asyncio.sleep(0.05)


def sends_of(fake_meta, message_id: str) -> list:  # noqa: ANN001
    return [s for s in fake_meta.sends if s.message_id == message_id]


async def test_transient_errors_are_retried_then_sent(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    cases = {}
    for code, status in ((1, 400), (2, 400), (4, 429), (80007, 400), (130429, 400), (131000, 500), (131016, 503),
                         (133004, 503), (131057, 400), (None, 500), (None, 503)):
        message_id, destination = await queue(client, setup)
        fake_meta.inject(code, http_status=status, times=2, to=destination)
        cases[message_id] = code
    rows = await drain(dispatcher, db, list(cases), lambda r: r.status == "sent")
    for message_id, code in cases.items():
        attempts = sends_of(fake_meta, message_id)
        assert [s.error_code for s in attempts[:2]] == [code, code] and attempts[2].wamid, code
        assert len(attempts) == 3 and rows[message_id].attempts == 3
        retries = [e for e in await events(db, message_id) if e.kind == "retry"]
        assert len(retries) == 2 and retries[0].detail["code"] == code and retries[0].detail["retry_in_seconds"] >= 0
        assert rows[message_id].error_code is None, "a later success clears the error"


async def test_backoff_grows_with_jitter_and_honours_retry_after(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    message_id, destination = await queue(client, setup)
    fake_meta.inject(130429, retry_after=30, to=destination, details="Cloud API message throughput has been reached.")
    await dispatcher.run_until_idle()
    r = await row(db, message_id)
    assert r.status == "queued" and r.error_code == 130429
    assert r.next_attempt_at >= utcnow() + timedelta(seconds=29), "Retry-After is a floor"
    assert dispatcher.lanes[setup.project_id].pacer.slowed, "130429 slows the number down"
    # Without Retry-After: base * 2^(attempt-1), jittered between half and all of it.
    slow = settings.model_copy(update={"retry_base_seconds": 10.0})
    dispatcher.settings = slow
    message_id, destination = await queue(client, setup)
    fake_meta.inject(131000, times=None, to=destination)
    waits = []
    for _ in range(3):
        await dispatcher.run_until_idle()
        waits.append([e for e in await events(db, message_id) if e.kind == "retry"][-1].detail["retry_in_seconds"])
        async with db.transaction() as session:
            await session.execute(update(Message).where(Message.id == uuid.UUID(message_id)).values(next_attempt_at=utcnow()))
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40, waits


async def test_timeouts_are_retried_and_documented_as_a_possible_duplicate(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    message_id, destination = await queue(client, setup)
    # Meta accepts the send but answers after our 0.5 s timeout: we cannot know it went out.
    fake_meta.inject(None, delay=1.0, succeed_after_delay=True, to=destination)
    rows = await drain(dispatcher, db, [message_id], lambda r: r.status == "sent")
    accepted = [s for s in sends_of(fake_meta, message_id) if s.wamid]
    retry = [e for e in await events(db, message_id) if e.kind == "retry"]
    assert retry and "Timeout" in retry[0].detail["title"]
    # docs/delivery.md: this is the one case besides a crash where Meta receives it twice.
    assert len(accepted) == 2 and rows[message_id].wamid == accepted[1].wamid


async def test_pair_rate_waits_for_that_recipient_only(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    busy, busy_phone = await queue(client, setup)
    fake_meta.inject(131056, to=busy_phone)
    await dispatcher.run_until_idle()
    others = [(await queue(client, setup))[0] for _ in range(3)]
    await dispatcher.run_until_idle()
    assert [(await row(db, m)).status for m in others] == ["sent"] * 3, "other recipients go at once"
    waiting = await row(db, busy)
    assert waiting.status == "queued" and waiting.error_code == 131056
    assert waiting.next_attempt_at >= utcnow() + timedelta(seconds=0.5), "Meta: retry after 4^X s"
    assert dispatcher.pair.wait_for(f"cloud:{PHONE_ID}", busy_phone) > 0, "that recipient is blocked in the pair-rate guard"
    rows = await drain(dispatcher, db, [busy], lambda r: r.status == "sent")
    assert rows[busy].attempts == 2


async def test_pair_rate_of_one_project_never_delays_another(client, db, settings, dispatcher, fake_meta):
    """Meta counts the pair (business number, person): a sandbox project that used up its pair
    rate to a person does not hold another project's Cloud API message to the same person."""
    person = phone()
    sandbox = await make_project(db, "sandbox-tenant")
    cloud = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    for _ in range(12):
        await queue(client, sandbox, destination=person)
    await dispatcher.run_until_idle()
    message_id, _ = await queue(client, cloud, destination=person)
    await dispatcher.run_until_idle()
    sent = await row(db, message_id)
    assert sent.status == "sent" and sent.attempts == 1, "the Cloud API project's message went at once"
    assert [s for s in fake_meta.sends if s.message_id == message_id and s.http_status == 200], "Meta received it"


async def test_131049_is_deferred_24_hours(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    message_id, destination = await queue(client, setup)
    fake_meta.inject(131049, to=destination)
    await dispatcher.run_until_idle()
    r = await row(db, message_id)
    assert r.status == "queued" and r.error_code == 131049 and r.marketing_deferrals == 1
    # A day plus the message's own spread (up to 4 hours; tests/campaigns/test_marketing_rules.py).
    assert utcnow() + timedelta(hours=23, minutes=59) <= r.next_attempt_at <= utcnow() + timedelta(hours=28, minutes=1)
    assert len(sends_of(fake_meta, message_id)) == 1


PERMANENT = [100, 131008, 131009, 132000, 132001, 132005, 132007, 132012, 131026, 131047, 131051, 131053, 130472, 131021, 131030]


async def test_permanent_errors_fail_once_with_the_reason(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    cases = {}
    for code in PERMANENT:
        message_id, destination = await queue(client, setup)
        fake_meta.inject(code, to=destination, details=f"details of {code}")
        cases[message_id] = code
    await dispatcher.run_until_idle()
    for message_id, code in cases.items():
        r = await row(db, message_id)
        assert (r.status, r.error_code, r.error_detail) == ("failed", code, f"details of {code}")
        assert r.error_title.startswith(f"(#{code})") and r.failed_at
        assert len(sends_of(fake_meta, message_id)) == 1, "never retried"
    response = await client.get(f"/api/v1/messages/{next(iter(cases))}", headers={"Authorization": f"Bearer {setup.api_key}"})
    assert response.json()["error"]["meaning"] == "Invalid parameter"


async def test_131050_fails_and_opts_the_contact_out(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    message_id, destination = await queue(client, setup)
    fake_meta.inject(131050, to=destination)
    await dispatcher.run_until_idle()
    assert (await row(db, message_id)).status == "failed"
    async with db.sessionmaker() as session:
        assert (await session.execute(select(Contact.opted_in).where(Contact.phone == destination))).scalar_one() is False
    again = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
    assert again.status_code >= 400 and len(sends_of(fake_meta, message_id)) == 1


@pytest.mark.parametrize("code,status", [(132015, "PAUSED"), (132016, "DISABLED")])
async def test_paused_or_disabled_template_holds_sends(client, db, settings, dispatcher, fake_meta, code, status):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    first, _ = await queue(client, setup)
    fake_meta.set_status("order_update", status)  # Meta answers 132015/132016 by itself
    await dispatcher.run_until_idle()
    second, _ = await queue(client, setup)  # accepted, and held: the campaign is live
    await dispatcher.run_until_idle()
    for message_id in (first, second):
        r = await row(db, message_id)
        assert r.status == "queued", "held, not failed"
        assert status in r.held_reason
    assert len(sends_of(fake_meta, first)) == 1 and sends_of(fake_meta, first)[0].error_code == code
    assert sends_of(fake_meta, second) == [], "a held template's sends do not reach Meta"
    async with db.sessionmaker() as session:
        template = (await session.execute(select(Template).where(Template.project_id == setup.project_id, Template.name == "order_update"))).scalar_one()
        assert template.status == status
        project = await session.get(Project, setup.project_id)
        shown = await campaigns.describe(session, project, "order_update")
    assert shown["hold_reason"] == f"template order_update is {status}"
    assert shown["held_messages"] == 2 and shown["messages"] == {"queued": 2}
    # Meta reinstates it (webhook): the held sends go out, not failed.
    fake_meta.set_status("order_update", "APPROVED")
    await fake_meta.post_webhook(fake_meta.template_status_body("order_update", "REINSTATED"), client=client)
    rows = await drain(dispatcher, db, [first, second], lambda r: r.status == "sent")
    assert all(r.attempts == 1 for r in rows.values()), "a hold does not use up attempts"


HALT = [190, 368, 131031, 131042, 133010, 131048]


async def test_halt_sender_until_the_operator_clears_it(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    for code in HALT:
        message_id, destination = await queue(client, setup)
        fake_meta.inject(code, to=destination)
        await dispatcher.run_until_idle()
        async with db.sessionmaker() as session:
            project = await session.get(Project, setup.project_id)
            assert project.halted_reason and f"({code})" in project.halted_reason, code
        r = await row(db, message_id)
        assert r.status == "queued" and r.held_reason == project.halted_reason
        later, _ = await queue(client, setup)
        await dispatcher.run_until_idle()
        assert sends_of(fake_meta, later) == [], "nothing is sent while the sender is halted"
        async with db.sessionmaker() as session:
            shown = await campaigns.describe(session, project, "order_update")
        assert shown["hold_reason"].startswith("sender halted:") and "--clear-halt" in shown["hold_reason"]
        async with db.transaction() as session:
            await senders.update_project(session, setup.project_id and project.name, clear_halt=True)
        dispatcher.last_lease_refresh = 0  # the worker sees the change at its next lease refresh
        rows = await drain(dispatcher, db, [message_id, later], lambda r: r.status == "sent")
        assert rows[message_id].attempts == 1, "a halt does not use up attempts"
    # Each halt told the owners once (the panel, notification.created, email), with Meta's code.
    async with db.sessionmaker() as session:
        told = (await session.execute(select(Notification).where(Notification.kind == "sender.halted")
                                      .order_by(Notification.created_at))).scalars().all()
    assert [n.data["error_code"] for n in told] == HALT and all(n.severity == "critical" and n.repeats == 1 for n in told)
    assert "(368)" in told[1].text and "--clear-halt" in told[1].text
    expired = [s for s in fake_meta.sends if s.error_code == 190]
    assert expired and expired[0].http_status == 401


async def test_bounded_attempts_end_in_failed_with_the_reason(client, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    message_id, destination = await queue(client, setup)
    fake_meta.inject(131000, times=None, to=destination, details="Something went wrong")
    rows = await drain(dispatcher, db, [message_id], lambda r: r.status == "failed")
    assert len(sends_of(fake_meta, message_id)) == settings.max_send_attempts == 4
    assert rows[message_id].error_code == 131000
    assert rows[message_id].error_title.endswith("(gave up after 4 attempts)")


async def test_templates_time_to_live_ends_in_failed(client, db, settings, dispatcher, fake_meta):
    fake_meta.add_template("login_code", [{"type": "BODY", "text": "Your code is {{1}}."},
                                          {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}]}],
                           category="AUTHENTICATION")
    fake_meta.add_template("short_lived", [{"type": "BODY", "text": "Flash sale for {{1}}."}], message_send_ttl_seconds=60)
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("login_code", "short_lived", "order_update"))
    otp = await client.post("/campaign/t1/api/v2", json=body(setup, "login_code", destination=phone(), templateParams=["123456"],
                                                             buttons=[{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "123456"}]}]))
    assert otp.status_code == 200, otp.text
    flash = await client.post("/campaign/t1/api/v2", json=body(setup, "short_lived", destination=phone(), templateParams=["Asha"]))
    fresh, _ = await queue(client, setup)
    # They waited (a halted sender, a backlog...): 11 minutes for the OTP, 2 for the flash sale.
    async with db.transaction() as session:
        for message_id, age in ((otp.json()["submitted_message_id"], 660), (flash.json()["submitted_message_id"], 120)):
            await session.execute(update(Message).where(Message.id == uuid.UUID(message_id)).values(created_at=utcnow() - timedelta(seconds=age)))
    await dispatcher.run_until_idle()
    for message_id, ttl in ((otp.json()["submitted_message_id"], 600), (flash.json()["submitted_message_id"], 60)):
        r = await row(db, message_id)
        assert r.status == "failed" and r.error_title == f"Not sent within the template's time-to-live ({ttl} s)"
        assert sends_of(fake_meta, message_id) == []
    assert (await row(db, fresh)).status == "sent"
