"""Warnings reach people (notifications/): each warning wacast raises today (an account hold
from Meta's account_update, a template Meta paused, a template re-categorised from UTILITY to
MARKETING, a broadcast the engine auto-paused) arrives in the dashboard's panel, as the signed
customer webhook `notification.created` at a real receiver, and by email at a local SMTP server
(aiosmtpd) to the project's owners only, with the right subject. SMTP down, then up: the email
is retried and sent, not lost. Repeats collapse; REST lists, filters and marks read; the panel
filters, reads and dismisses. Both backends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, update

from tests.campaigns.test_broadcasts import EVERYONE, add_contacts, add_promo, broadcast, broadcast_messages, engine_for, segment
from tests.dashboard.test_dashboard import add_user, csrf_of, sign_in
from tests.notifications.smtp import SmtpServer
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cloud import make_cloud_project
from tests.support.factories import make_project
from tests.support.webhook_receiver import WebhookReceiver
from tests.whatsapp.test_account_update import BIZ, restriction
from tests.whatsapp.test_account_update import post as post_account_update
from tests.whatsapp.test_template_events import change, deliver, status_event
from wacast.kit.clock import utcnow
from wacast.models.messages import Message
from wacast.models.notifications import Notification, NotificationEmail
from wacast.notifications import service as notifications
from wacast.notifications.mailer import Mailer
from wacast.runtime import build_loops
from wacast.webhooks.tasks import WebhookSender

SENDER = "alerts@wacast.test"


@pytest.fixture
def smtp():  # noqa: ANN201
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(settings, fake_meta, smtp):  # noqa: ANN001, ANN201
    return settings.model_copy(update={
        "graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True, "webhook_retry_base_seconds": 0.0,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none", "smtp_from": SENDER,
        "smtp_retry_base_seconds": 0.0, "smtp_timeout": 5.0, "public_url": "https://wacast.example.com",
    })


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def auth(setup) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}"}


async def people(db, client, setup, receiver) -> None:  # noqa: ANN001
    """Two owners, a manager and an agent; a webhook on notification.created; the first owner signed in."""
    for email, role in (("owner@acme.test", "owner"), ("second-owner@acme.test", "owner"),
                        ("manager@acme.test", "manager"), ("agent@acme.test", "agent")):
        await add_user(db, setup.project_id, email, role)
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup), json={
        "url": receiver.url, "topics": ["notification.created"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    assert (await sign_in(client, "owner@acme.test", "password-owner")).status_code == 303


async def arrived(app, client, settings, smtp, receiver, *, kind: str, title: str, severity: str, link: str | None = None) -> dict:
    """The warning is in the panel, reached the receiver signed, and was emailed to both owners."""
    page = await client.get(f"/notifications?kind={kind}")
    assert page.status_code == 200 and title in page.text, page.text[-3000:]
    assert (await client.get("/notifications/count.json")).json()["unread"] >= 1
    assert await WebhookSender(app.state.db, settings).deliver_due() >= 1
    events = [r.body for r in receiver.received if r.body["topic"] == "notification.created" and r.body["data"]["notification"]["kind"] == kind]
    assert len(events) == 1 and receiver.bad_signatures == 0 and all(r.status == 200 for r in receiver.received)
    event = events[0]["data"]["notification"]
    assert event["title"] == title and event["severity"] == severity
    if link is not None:
        assert event["link"] == link and event["url"] == "https://wacast.example.com" + link
    assert await Mailer(app.state.db, settings).send_due() == 2
    mails = [m for m in smtp.received if title in m.subject]
    assert sorted(r for m in mails for r in m.rcpt_tos) == ["owner@acme.test", "second-owner@acme.test"]
    for mail in mails:
        assert mail.mail_from == SENDER and mail.subject == f"[wacast] acme: {title}"
        assert str(mail.message["To"]) in mail.rcpt_tos and str(mail.message["From"]) == SENDER
        assert event["text"].split(".")[0] in mail.message.get_content()
    return event


async def test_an_account_hold_reaches_the_panel_the_webhook_and_the_owners(app, client, db, settings, fake_meta, smtp, receiver):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await people(db, client, setup, receiver)
    await post_account_update(fake_meta, client, settings, db, restriction((BIZ, None)))
    title = f"WhatsApp account {fake_meta.waba_id}: restricted (sending held)"
    event = await arrived(app, client, settings, smtp, receiver, kind="account.hold", title=title, severity="critical", link="/")
    assert event["data"]["effect"] == "restricted" and event["data"]["hold"]
    # Meta lifts it: people are told (info), once more by each way.
    await post_account_update(fake_meta, client, settings, db, restriction())
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Notification).order_by(Notification.created_at))).scalars().all()
    assert [(r.kind, r.severity) for r in rows] == [("account.hold", "critical"), ("account.hold", "info")]


async def test_a_paused_template_and_a_category_change_reach_every_way(app, client, db, settings, fake_meta, smtp, receiver):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    await people(db, client, setup, receiver)
    await deliver(fake_meta, client, settings, db, status_event(fake_meta.waba_id, "order_update", "PAUSED"))
    event = await arrived(app, client, settings, smtp, receiver, kind="template.status", title="Template order_update paused",
                          severity="warning")
    assert event["data"]["status"] == "PAUSED" and event["link"].startswith("/templates/")
    await deliver(fake_meta, client, settings, db, change(fake_meta.waba_id, "template_category_update", {
        "message_template_id": 0, "message_template_name": "order_update", "message_template_language": "en",
        "previous_category": "UTILITY", "new_category": "MARKETING"}))
    event = await arrived(app, client, settings, smtp, receiver, kind="template.category", title="Template order_update is now MARKETING",
                          severity="warning")
    assert event["data"]["previous_category"] == "UTILITY" and event["data"]["category"] == "MARKETING"


async def test_a_broadcast_the_engine_auto_pauses_reaches_every_way(app, client, db, settings, smtp, receiver):
    setup = await make_project(db)
    await people(db, client, setup, receiver)
    await add_promo(db, setup)
    await add_contacts(db, setup.project_id, 12)
    created = await broadcast(client, setup, await segment(client, setup, EVERYONE), name="diwali", failure_window=10, failure_threshold=0.5)
    engine = engine_for(app, settings)
    await run_until_fanned_out(engine)
    now = utcnow()
    async with db.transaction() as session:
        for m in (await broadcast_messages(db, created["id"]))[:10]:
            await session.execute(update(Message).where(Message.id == m.id).values(status="failed", failed_at=now, error_code=131026, error_title="x"))
    await engine.tick()
    event = await arrived(app, client, settings, smtp, receiver, kind="broadcast.paused", title="Broadcast diwali paused",
                          severity="warning", link=f"/broadcasts/{created['id']}")
    assert event["data"]["reason"].startswith("auto-paused: 10 of the last 10")


async def test_smtp_down_then_up_the_email_is_retried_not_lost(app, db, settings, smtp):
    setup = await make_project(db)
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    smtp.stop()  # the mail server is down
    async with db.transaction() as session:
        note = await notifications.notify(session, setup.project_id, "budget", "warning", "Budget at 80 %", "acme spent 80 % of its month.")
    mailer = Mailer(db, settings)
    assert await mailer.send_due() == 1
    async with db.sessionmaker() as session:
        [email] = await notifications.emails(session, note.id)
    assert email.status == "pending" and email.attempts == 1 and email.last_error and email.sent_at is None
    smtp.start()  # back, on the same port
    assert await mailer.send_due() == 1
    async with db.sessionmaker() as session:
        [email] = await notifications.emails(session, note.id)
    assert email.status == "sent" and email.attempts == 2 and email.sent_at is not None
    assert [(m.rcpt_tos, m.subject) for m in smtp.received] == [(["owner@acme.test"], "[wacast] acme: Budget at 80 %")]
    assert await mailer.send_due() == 0  # sent once


async def test_a_refused_recipient_is_given_up_and_the_others_still_go(app, db, settings, smtp):
    setup = await make_project(db)
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await add_user(db, setup.project_id, "second@acme.test", "owner")

    async def refuse(server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN202
        if address.startswith("second@"):
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.handle_RCPT = refuse
    smtp.stop()
    smtp.start()
    async with db.transaction() as session:
        note = await notifications.notify(session, setup.project_id, "budget", "warning", "Budget at 80 %", "Spent.")
    assert await Mailer(db, settings).send_due() == 2
    async with db.sessionmaker() as session:
        emails = {e.to_address: e for e in await notifications.emails(session, note.id)}
    assert emails["owner@acme.test"].status == "sent"
    assert emails["second@acme.test"].status == "failed" and "550" in emails["second@acme.test"].last_error
    assert [m.rcpt_tos for m in smtp.received] == [["owner@acme.test"]]


async def test_repeats_collapse_into_one_notification_one_webhook_one_email(app, client, db, settings, smtp, receiver):
    setup = await make_project(db)
    await people(db, client, setup, receiver)
    async with db.transaction() as session:
        first = await notifications.notify(session, setup.project_id, "broadcast.paused", "warning", "Broadcast x paused", "Too many failures.",
                                           "/broadcasts/x")
        again = await notifications.notify(session, setup.project_id, "broadcast.paused", "warning", "Broadcast x paused", "Too many failures.",
                                           "/broadcasts/x")
        other = await notifications.notify(session, setup.project_id, "broadcast.paused", "warning", "Broadcast y paused", "Too many failures.")
    assert again.id == first.id and again.repeats == 2 and other.id != first.id
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Notification))).scalar_one() == 2
        assert (await session.execute(select(func.count()).select_from(NotificationEmail))).scalar_one() == 4  # 2 owners x 2
    assert await WebhookSender(db, settings).deliver_due() == 2
    page = await client.get("/notifications")
    assert "×2" in page.text


async def test_rest_lists_filters_and_marks_read_and_the_panel_reads_and_dismisses(app, client, db, settings, smtp, receiver):
    setup = await make_project(db)
    await people(db, client, setup, receiver)
    async with db.transaction() as session:
        paused = await notifications.notify(session, setup.project_id, "broadcast.paused", "warning", "Broadcast x paused", "Failures.",
                                            "https://evil.example/phish")
        held = await notifications.notify(session, setup.project_id, "account.hold", "critical", "Account held\r\nBcc: x@evil.test",
                                          "Meta restricted\x00 it.")
    listed = (await client.get("/api/v1/notifications", headers=auth(setup))).json()
    assert [n["id"] for n in listed["data"]] == [str(held.id), str(paused.id)]
    assert listed["data"][0]["title"] == "Account held Bcc: x@evil.test" and "\x00" not in listed["data"][0]["text"]
    assert listed["data"][1]["link"] is None  # only a dashboard path is kept
    only = (await client.get("/api/v1/notifications?kind=account.hold", headers=auth(setup))).json()
    assert [n["id"] for n in only["data"]] == [str(held.id)]
    bad = await client.get("/api/v1/notifications?kind=../x", headers=auth(setup))
    assert bad.status_code == 422 and bad.json()["code"] == "VALIDATION_ERROR"
    read = await client.post(f"/api/v1/notifications/{held.id}/read", headers=auth(setup))
    assert read.status_code == 200 and read.json()["read_at"] and read.json()["read_by"] is None
    missing = await client.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=auth(setup))
    assert missing.status_code == 404 and missing.json()["code"] == "NOTIFICATION_NOT_FOUND"
    unread = (await client.get("/api/v1/notifications?unread=true", headers=auth(setup))).json()
    assert [n["id"] for n in unread["data"]] == [str(paused.id)]
    # The email's header is one line: no injected Bcc.
    assert await Mailer(db, settings).send_due() == 4
    assert all(m.message["Bcc"] is None and sorted(m.rcpt_tos) in (["owner@acme.test"], ["second-owner@acme.test"]) for m in smtp.received)
    # The panel: an agent sees it, reads it, dismisses it.
    await client.post("/logout", data={"csrf": await csrf_of(client, "/notifications")})
    assert (await sign_in(client, "agent@acme.test", "password-agent")).status_code == 303
    assert (await client.get("/notifications/count.json")).json() == {"unread": 1}
    token = await csrf_of(client, "/notifications")
    answer = await client.post(f"/notifications/{paused.id}/read", data={"csrf": token, "back": "/notifications?kind=broadcast.paused"})
    assert answer.status_code == 303 and answer.headers["location"] == "/notifications?kind=broadcast.paused"
    assert (await client.get("/notifications/count.json")).json() == {"unread": 0}
    answer = await client.post(f"/notifications/{held.id}/dismiss", data={"csrf": token, "back": "https://evil.example/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/notifications"
    page = await client.get("/notifications")
    assert "Broadcast x paused" in page.text and "Account held" not in page.text
    assert "Account held" in (await client.get("/notifications?show=dismissed")).text
    async with db.sessionmaker() as session:
        row = await session.get(Notification, held.id)
    assert row.dismissed_at is not None and row.dismissed_by is not None
    refused = await client.post(f"/notifications/{held.id}/dismiss", data={"csrf": token, "extra": "x"})
    assert refused.status_code == 303  # an unknown field is refused, shown on the page, nothing changed
    assert "Unknown field" in (await client.get("/notifications")).text


async def test_without_smtp_no_email_is_queued_and_no_mailer_runs(app, db, settings):
    plain = settings.model_copy(update={"smtp_host": ""})
    loops = build_loops(db, plain)
    try:
        assert loops.mailer is None and not any(isinstance(r, Mailer) for r in loops.runnables)
        setup = await make_project(db)
        await add_user(db, setup.project_id, "owner@acme.test", "owner")
        async with db.transaction() as session:
            await notifications.notify(session, setup.project_id, "budget", "warning", "Budget at 80 %", "Spent.")
        async with db.sessionmaker() as session:
            assert (await session.execute(select(func.count()).select_from(NotificationEmail))).scalar_one() == 0
            assert (await session.execute(select(func.count()).select_from(Notification))).scalar_one() == 1
    finally:
        await loops.close()
    with_smtp = build_loops(db, settings)
    try:
        assert isinstance(with_smtp.mailer, Mailer) and with_smtp.mailer in with_smtp.runnables
    finally:
        await with_smtp.close()
