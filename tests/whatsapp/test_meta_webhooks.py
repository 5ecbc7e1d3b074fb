"""Meta's webhooks at /webhooks/whatsapp, sent by the fake Meta (signed with the app secret):
the handshake, signatures, duplicates, out-of-order statuses, failures with Meta's reason,
pricing, unknown numbers, inbound replies and every way to opt out."""

from __future__ import annotations

import time

import orjson
import uuid

import pytest
from sqlalchemy import func, select, update

from wacast.contacts import consent
from wacast.models.contacts import Contact
from wacast.models.messages import InboundEvent, Message, MessageEvent, Reply
from wacast.models.projects import Project
from wacast.whatsapp.inbound import InboundEvents
from tests.support.cloud import make_cloud_project
from tests.support.factories import body

PHONE_ID = "1098765"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


async def stored_events(db) -> list[InboundEvent]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return list((await session.execute(select(InboundEvent).order_by(InboundEvent.id))).scalars())


async def message(db, message_id: str) -> Message:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Message).where(Message.id == uuid.UUID(message_id)))).scalar_one()


async def sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526285"):  # noqa: ANN001, ANN201
    """A message really sent to the fake Meta; returns (setup, message id, the fake's send)."""
    setup = getattr(db, "_cloud_setup", None)
    if setup is None:
        setup = db._cloud_setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    response = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
    assert response.status_code == 200, response.text
    message_id = response.json()["submitted_message_id"]
    await dispatcher.run_until_idle()
    send = next(s for s in fake_meta.sends if s.message_id == message_id and s.wamid)
    return setup, message_id, send


async def deliver(fake_meta, client, settings, db, payload) -> None:  # noqa: ANN001
    response = await fake_meta.post_webhook(payload, client=client)
    assert response.status_code == 200, response.text
    await InboundEvents(db, settings).tick()


# --- the handshake and signatures --------------------------------------------------------


async def test_verification_handshake(client):
    ok = await client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    for params in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                   {"hub.mode": "subscribe", "hub.challenge": "1"},
                   {"hub.mode": "unsubscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1"}):
        refused = await client.get("/webhooks/whatsapp", params=params)
        assert refused.status_code == 403
        assert refused.json()["code"] == "WEBHOOK_VERIFY_FAILED"


async def test_bad_or_missing_signature_is_401_and_stores_nothing(client, db, fake_meta):
    payload = fake_meta.status_body(None, "delivered", phone_number_id=PHONE_ID, wamid="wamid.X", message_id=str(uuid.uuid4()))
    missing = await fake_meta.post_webhook(payload, client=client, signature=None)
    wrong = await fake_meta.post_webhook(payload, client=client, signature="sha256=" + "0" * 64)
    raw, headers = fake_meta.signed(payload)
    tampered = await client.post("/webhooks/whatsapp", content=raw.replace(b"delivered", b"read"), headers=headers)
    other_secret = await client.post("/webhooks/whatsapp", content=raw, headers={
        **headers, "x-hub-signature-256": "sha256=" + __import__("hmac").new(b"another-secret", raw, "sha256").hexdigest()})
    for response in (missing, wrong, tampered, other_secret):
        assert response.status_code == 401
        assert response.json()["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert await stored_events(db) == []
    good = await fake_meta.post_webhook(payload, client=client)
    assert good.status_code == 200
    assert len(await stored_events(db)) == 1


async def test_duplicates_are_stored_once_and_processed_once(client, db, settings, dispatcher, fake_meta):
    _, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta)
    payload = fake_meta.status_body(send, "delivered")
    first = await fake_meta.post_webhook(payload, client=client)
    again = await fake_meta.post_webhook(payload, client=client)  # Meta's retry of the same body
    assert first.json() == {"received": True, "duplicate": False}
    assert again.json() == {"received": True, "duplicate": True}
    processed = await InboundEvents(db, settings).tick()
    assert processed == 1
    await deliver(fake_meta, client, settings, db, payload)  # and once more, after processing
    async with db.sessionmaker() as session:
        kinds = (await session.execute(select(MessageEvent.kind).where(MessageEvent.message_id == uuid.UUID(message_id)))).scalars().all()
    assert sorted(kinds) == ["delivered", "queued", "sent"]
    assert (await message(db, message_id)).status == "delivered"


async def test_webhooks_arriving_together_share_a_commit_and_each_answers_for_itself(app, client, db, settings, dispatcher, fake_meta):
    """whatsapp/intake.py: 40 signed bodies posted at once (two of them the same) are stored in
    fewer commits than requests, each answer says whether its own body was new, and every
    stored body is applied."""
    import asyncio

    _, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526310")
    t = int(time.time())
    bodies = [fake_meta.status_body(send, "delivered", timestamp=t + i) for i in range(39)]
    bodies.append(bodies[7])  # Meta's retry of one of them, in the same moment
    commits_before = app.state.intake.commits
    answers = await asyncio.gather(*(fake_meta.post_webhook(b, client=client) for b in bodies))
    assert [a.status_code for a in answers] == [200] * 40
    assert [a.json()["duplicate"] for a in answers] == [False] * 39 + [True]
    # The fast path (api/meta_webhooks.WebhookFastPath) keeps what wraps every request: a
    # request id on each answer, the route's own label in /metrics.
    assert all(a.headers.get("x-request-id") for a in answers)
    exposition = (await client.get("/metrics", headers={"Authorization": f"Bearer {settings.metrics_token}"})).text
    assert 'wacast_http_request_duration_seconds_count{method="POST",route="/webhooks/whatsapp",status="200"}' in exposition
    assert app.state.intake.commits - commits_before < 40
    assert len(await stored_events(db)) == 39
    applied, inbound = 0, InboundEvents(db, settings)
    while n := await inbound.tick():
        applied += n
    assert applied == 39
    row = await message(db, message_id)
    assert row.status == "delivered" and row.delivered_at.timestamp() == t  # the first report's time


# --- statuses ------------------------------------------------------------------------------


async def test_statuses_follow_the_ladder_whatever_the_order(client, db, settings, dispatcher, fake_meta):
    _, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta)
    t = int(time.time())
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "read", timestamp=t + 5))
    row = await message(db, message_id)
    assert row.status == "read" and row.read_at and row.delivered_at  # read implies delivered
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "delivered", timestamp=t + 2, pricing_category="marketing"))
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "sent", timestamp=t + 1, pricing_category=None))
    row = await message(db, message_id)
    assert row.status == "read", "never backwards"
    assert row.pricing_category == "marketing"
    assert row.wamid == send.wamid


async def test_failed_keeps_metas_reason_and_delivered_after_failed_wins(client, db, settings, dispatcher, fake_meta):
    _, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526286")
    error = fake_meta.failed_error(131049, "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.")
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "failed", errors=[error]))
    row = await message(db, message_id)
    assert row.status == "failed" and row.failed_at
    assert (row.error_code, row.error_title) == (131049, error["title"])
    assert row.error_detail == error["error_data"]["details"]
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "sent", timestamp=int(time.time()) + 1))
    assert (await message(db, message_id)).status == "failed", "a late sent does not revive it"
    # Multi-device users: delivered can follow failed; delivery is the truth.
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "delivered", timestamp=int(time.time()) + 2))
    assert (await message(db, message_id)).status == "delivered"


async def test_status_found_by_wamid_when_no_callback_data(client, db, settings, dispatcher, fake_meta):
    _, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526287")
    payload = fake_meta.status_body(None, "delivered", phone_number_id=PHONE_ID, wamid=send.wamid, recipient=send.to)
    assert "biz_opaque_callback_data" not in payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    await deliver(fake_meta, client, settings, db, payload)
    assert (await message(db, message_id)).status == "delivered"


async def test_unknown_number_is_stored_and_reported_not_an_error(client, db, settings, fake_meta):
    payload = fake_meta.status_body(None, "delivered", phone_number_id="999000999", wamid="wamid.NOPE", message_id=str(uuid.uuid4()))
    await deliver(fake_meta, client, settings, db, payload)
    [event] = await stored_events(db)
    assert event.processed_at is not None
    assert "unknown phone_number_id '999000999'" in event.note
    # A status for a message nobody knows, on a known number, is reported too.
    async with db.transaction() as session:
        session.add(Project(name="known", phone_number_id="555", access_token="t"))
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(None, "read", phone_number_id="555", wamid="wamid.GHOST"))
    assert "unknown message wamid.GHOST" in (await stored_events(db))[-1].note


# --- inbound messages and opt-outs ---------------------------------------------------------


async def contact(db, project_id, phone: str) -> Contact | None:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(Contact).where(Contact.project_id == project_id, Contact.phone == phone))).scalar_one_or_none()


async def test_inbound_reply_lands_on_the_timeline_of_the_message(client, db, settings, dispatcher, fake_meta):
    setup, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526288")
    payload = fake_meta.inbound_body(PHONE_ID, "917428526288", text="Where is my order?", context_wamid=send.wamid)
    await deliver(fake_meta, client, settings, db, payload)
    await deliver(fake_meta, client, settings, db, payload)  # duplicate
    async with db.sessionmaker() as session:
        replies = (await session.execute(select(Reply))).scalars().all()
    assert len(replies) == 1
    assert replies[0].text == "Where is my order?" and replies[0].message_id == uuid.UUID(message_id)
    assert (await message(db, message_id)).replied_at is not None
    assert (await contact(db, setup.project_id, "+917428526288")).opted_in is True
    # A stranger writing in becomes a contact, with the profile name Meta gives.
    await deliver(fake_meta, client, settings, db, fake_meta.inbound_body(PHONE_ID, "919000000001", text="hello", name="New Person"))
    stranger = await contact(db, setup.project_id, "+919000000001")
    assert stranger is not None and stranger.name == "New Person"


async def test_opt_out_by_keyword_by_payload_and_by_user_preferences(client, db, settings, dispatcher, fake_meta):
    setup, _, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526289")
    await deliver(fake_meta, client, settings, db, fake_meta.inbound_body(PHONE_ID, "917428526289", text="  stop "))
    assert (await contact(db, setup.project_id, "+917428526289")).opted_in is False
    refused = await client.post("/campaign/t1/api/v2", json=body(setup, destination="+917428526289"))
    assert refused.status_code >= 400, "an opted-out contact is not sent to"

    # Configured keywords and quick-reply payloads (`wacast projects update --opt-out-keywords/--opt-out-payloads`).
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == setup.project_id).values(
            opt_out_keywords=["STOP", "ARRET"], opt_out_payloads=["STOP_PROMOS"]))
    for n, kwargs in ((1, {"text": "arret"}), (2, {"button_payload": "STOP_PROMOS", "button_text": "Stop promotions"})):
        phone = f"+91900000010{n}"
        await client.post("/campaign/t1/api/v2", json=body(setup, destination=phone))
        await deliver(fake_meta, client, settings, db, fake_meta.inbound_body(PHONE_ID, phone, **kwargs))
        assert (await contact(db, setup.project_id, phone)).opted_in is False, kwargs
    # Other words and payloads do not opt out.
    await client.post("/campaign/t1/api/v2", json=body(setup, destination="+919000000103"))
    await deliver(fake_meta, client, settings, db, fake_meta.inbound_body(PHONE_ID, "919000000103", button_payload="MORE_INFO"))
    await deliver(fake_meta, client, settings, db, fake_meta.inbound_body(PHONE_ID, "919000000103", text="please stop by tomorrow"))
    assert (await contact(db, setup.project_id, "+919000000103")).opted_in is True

    # Meta's user_preferences event: marketing stopped, then resumed.
    await deliver(fake_meta, client, settings, db, fake_meta.preference_body(PHONE_ID, "919000000103", "stop"))
    assert (await contact(db, setup.project_id, "+919000000103")).opted_in is False
    await deliver(fake_meta, client, settings, db, fake_meta.preference_body(PHONE_ID, "919000000103", "resume"))
    assert (await contact(db, setup.project_id, "+919000000103")).opted_in is True
    async with db.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(InboundEvent).where(InboundEvent.processed_at.is_(None)))).scalar_one() == 0


async def test_failed_131050_opts_the_contact_out(client, db, settings, dispatcher, fake_meta):
    setup, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526290")
    async with db.transaction() as session:  # the person had given marketing consent
        await consent.set_consent(session, setup.project_id, "+917428526290", {"granted": True, "source": "shop checkout"}, method="api")
    await deliver(fake_meta, client, settings, db, fake_meta.status_body(send, "failed", errors=[fake_meta.failed_error(131050)]))
    assert (await message(db, message_id)).error_code == 131050
    person = await contact(db, setup.project_id, "+917428526290")
    assert person.opted_in is False and person.marketing_consent is False  # and the consent is withdrawn, with its reason
    async with db.read() as session:
        history = await consent.history(session, setup.project_id, "+917428526290")
    assert [(h.granted, h.method, h.source) for h in history] == [(True, "api", "shop checkout"), (False, "opt_out", "meta error 131050")]
    assert send.wamid in (history[-1].evidence or "")


async def test_a_batch_of_status_events_gives_what_applying_them_one_by_one_gives(client, db, settings, dispatcher, fake_meta):
    """The inbound loop applies status-only events as a set (whatsapp/statuses.py). The same
    reports, out of order, repeated, a failure and a revival, a reply and an unknown message
    among them (in one transaction), leave a message exactly as applying them one event at a time does."""
    _, together_id, together = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526301")
    _, alone_id, alone = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526302")
    t = int(time.time())
    error = fake_meta.failed_error(131026, "Message undeliverable.")

    def reports(send):  # noqa: ANN001, ANN202
        return [
            fake_meta.status_body(send, "sent", timestamp=t + 1, pricing_category=None),
            fake_meta.status_body(send, "failed", timestamp=t + 3, errors=[error]),
            fake_meta.status_body(send, "delivered", timestamp=t + 2, pricing_category="marketing"),  # late: a revival
            fake_meta.status_body(send, "delivered", timestamp=t + 4, pricing_category=None),  # again: fills nothing
            fake_meta.status_body(send, "read", timestamp=t + 6),
            fake_meta.status_body(None, "read", phone_number_id=send.phone_number_id, wamid="wamid.NOBODY" + send.to),
            fake_meta.inbound_body(send.phone_number_id, send.to.lstrip("+"), text="thanks", context_wamid=send.wamid),
        ]

    for payload in reports(together):
        assert (await fake_meta.post_webhook(payload, client=client)).status_code == 200
    assert await InboundEvents(db, settings).tick() == 7  # one batch
    for payload in reports(alone):
        await deliver(fake_meta, client, settings, db, payload)

    async def state(message_id: str):  # noqa: ANN202
        row = await message(db, message_id)
        async with db.sessionmaker() as session:
            kinds = sorted((await session.execute(select(MessageEvent.kind).where(MessageEvent.message_id == row.id))).scalars())
        return ((row.status, row.error_code, row.pricing_category, row.locked_by, row.replied_at is not None),
                [c and c.timestamp() for c in (row.sent_at, row.delivered_at, row.read_at)], kinds)

    batch, one_by_one = await state(together_id), await state(alone_id)
    assert batch[0] == ("read", 131026, "marketing", None, True)
    assert batch[2] == ["delivered", "failed", "queued", "read", "replied", "sent"]
    assert batch[0] == one_by_one[0] and batch[2] == one_by_one[2]
    # The dispatcher's own `sent` time stays; the reports' times fill what was empty.
    assert batch[1][1:] == [t + 2, t + 6] == one_by_one[1][1:]
    notes = [e.note or "" for e in await stored_events(db)]
    assert sum("unknown message wamid.NOBODY" in n for n in notes) == 2


async def test_an_escaped_lone_surrogate_in_a_persons_text_is_kept_not_refused(client, db, settings, dispatcher, fake_meta):
    """JSON's grammar allows "\\ud83d" alone (half of an emoji, cut); refusing Meta's signed body
    would have it retried for days with the events beside it. It is stored as U+FFFD; bytes
    that are not UTF-8 stay refused."""
    await sent_message(client, db, settings, dispatcher, fake_meta, destination="+917428526290")
    payload = fake_meta.inbound_body(PHONE_ID, "917428526290", text="half an emoji: @@")
    raw = orjson.dumps(payload).replace(b"@@", b"\\ud83d")
    response = await client.post("/webhooks/whatsapp", content=raw,
                                 headers={"content-type": "application/json", "x-hub-signature-256": fake_meta.sign(raw)})
    assert response.status_code == 200, response.text
    await InboundEvents(db, settings).tick()
    async with db.sessionmaker() as session:
        texts = (await session.execute(select(Reply.text))).scalars().all()
    assert texts == ["half an emoji: \ufffd"]
    broken = orjson.dumps(payload).replace(b"@@", b"\xc0\xaf")
    refused = await client.post("/webhooks/whatsapp", content=broken,
                                headers={"content-type": "application/json", "x-hub-signature-256": fake_meta.sign(broken)})
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_JSON"
