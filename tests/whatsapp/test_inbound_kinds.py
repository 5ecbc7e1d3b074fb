"""Every kind of inbound message Meta documents, replayed signed as Meta's own published
examples (its OpenAPI spec) and the kinds of its reference pages, on both backends: the stored
content, the contact's page, the customer webhooks `message.received` and `message.sender.user`,
an opt-out from a list row, and reactions, which are reactions on a message and not replies.
One test runs against a real server (`wacast serve`'s app on a port, with its loops)."""

from __future__ import annotations

import asyncio
import copy
import time
import uuid

import httpx
import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.live_server import LiveServer
from tests.support.meta_schema import webhook_examples
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from tests.whatsapp.test_meta_webhooks import PHONE_ID, deliver, sent_message
from wacast.campaigns import analytics
from wacast.campaigns.outcomes import CAMPAIGN_OUTCOMES
from wacast.contacts import segments
from wacast.models.contacts import Contact
from wacast.models.messages import Message, MessageReaction, Reply
from wacast.models.projects import Project

PERSON = "+16505551234"  # the sender of Meta's examples
KINDS = {  # Meta's example name -> the kind wacast stores
    "Text Message": "text", "Text Message with Context (Product Inquiry)": "text", "Text Message from Click to WhatsApp Ad": "text",
    "Image Message": "image", "Location Message": "location", "Contact Sharing Message": "contacts",
    "Unsupported Message": "unsupported", "Button Message": "button", "Interactive List Reply Message": "interactive",
    "Interactive Button Reply Message": "interactive", "Order Message": "order",
}
# The kinds Meta documents on its reference pages but not in the spec's examples.
OTHER_KINDS = {
    "video": {"type": "video", "video": {"id": "7001", "mime_type": "video/mp4", "sha256": "dmlkZW8=", "caption": "The unboxing"}},
    "audio": {"type": "audio", "audio": {"id": "7002", "mime_type": "audio/ogg; codecs=opus", "sha256": "dm9pY2U=", "voice": True}},
    "document": {"type": "document", "document": {"id": "7003", "mime_type": "application/pdf", "sha256": "ZG9j", "filename": "invoice-May.pdf",
                                                  "caption": "My invoice"}},
    "sticker": {"type": "sticker", "sticker": {"id": "7004", "mime_type": "image/webp", "sha256": "c3RpY2tlcg==", "animated": True}},
    "nfm_reply": {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": '{"size": "M", "delivery_day": "Friday", "flow_token": "tok"}'}}},
}


def raw_message(name: str) -> dict:
    return webhook_examples()[name]["entry"][0]["changes"][0]["value"]["messages"][0]


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True,
                                       "webhook_retry_base_seconds": 0.0})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def example(name: str, *, wamid: str | None = None, **message_changes) -> dict:  # noqa: ANN003
    """Meta's example, addressed to our test number, with a fresh wamid (and the changes given)."""
    body = copy.deepcopy(webhook_examples()[name])
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_ID
    message = value["messages"][0]
    message["id"] = wamid or f"wamid.TEST{uuid.uuid4().hex}"
    message.update(message_changes)
    return body


def other(kind: str) -> dict:
    """A kind of Meta's reference pages, in the envelope of Meta's text example."""
    body = example("Text Message")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update(copy.deepcopy(OTHER_KINDS[kind]))
    return body


async def subscribe(client, setup, receiver, *topics: str) -> None:  # noqa: ANN001
    subscribed = await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {setup.api_key}"},
                                   json={"url": receiver.url, "topics": list(topics), "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text


async def replies_of(db) -> dict[str, Reply]:  # noqa: ANN001
    async with db.read() as session:
        return {r.wamid: r for r in (await session.execute(select(Reply))).scalars()}


async def replied_audience(db, setup, message: Message) -> int:  # noqa: ANN001
    """How many contacts are in the campaign's REPLIED audience (the segment builder's count)."""
    async with db.read() as session:
        flt = await segments.normalize(session, setup.project_id, segments.outcome_filter(message.campaign_id, ["replied"]),
                                       outcomes=CAMPAIGN_OUTCOMES)
        return (await segments.count(session, setup.project_id, flt, outcomes=CAMPAIGN_OUTCOMES))["matching"]


async def test_each_kind_is_kept_with_its_content_shown_and_passed_on(client, db, settings, dispatcher, fake_meta, receiver, app):
    setup, _, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    await subscribe(client, setup, receiver, "message.received", "message.sender.user")
    for name in KINDS:
        await deliver(fake_meta, client, settings, db, example(name))
    for kind in OTHER_KINDS:
        await deliver(fake_meta, client, settings, db, other(kind))
    replies = await replies_of(db)
    expected = sorted([*KINDS.values(), "video", "audio", "document", "sticker", "interactive"])
    assert sorted(r.type for r in replies.values()) == expected
    by_type: dict[str, list[Reply]] = {}
    for r in replies.values():
        by_type.setdefault(r.type, []).append(r)

    image = by_type["image"][0]
    raw = raw_message("Image Message")["image"]
    assert image.media_id == raw["id"] and image.content["mime_type"] == raw["mime_type"] and image.content["sha256"] == raw["sha256"]
    location = by_type["location"][0]
    raw = raw_message("Location Message")["location"]
    assert (location.content["latitude"], location.content["longitude"]) == (float(raw["latitude"]), float(raw["longitude"]))
    assert location.text.startswith("📍")
    assert by_type["contacts"][0].content["contacts"][0]["phones"][0]["wa_id"] == "19835552319"
    assert by_type["unsupported"][0].content["errors"][0]["code"] == 131051
    assert by_type["order"][0].content["total"] == {"USD": 85.0}
    listed = next(r for r in by_type["interactive"] if r.content["type"] == "list_reply")
    assert (listed.payload, listed.text, listed.content["id"]) == ("priority_express", "Priority Mail Express", "priority_express")
    flow = next(r for r in by_type["interactive"] if r.content["type"] == "nfm_reply")
    assert flow.content["response"] == {"size": "M", "delivery_day": "Friday", "flow_token": "tok"}
    ad = next(r for r in by_type["text"] if r.content.get("referral"))
    assert ad.content["referral"]["headline"] == "Chat with us" and ad.content["referral"]["ctwa_clid"].startswith("Aff-")
    product = next(r for r in by_type["text"] if (r.content.get("context") or {}).get("referred_product"))
    assert product.content["context"]["referred_product"]["product_retailer_id"] == "di9ozbzfi4"
    assert by_type["audio"][0].content["voice"] is True and by_type["audio"][0].media_id == "7002"
    assert by_type["document"][0].content["filename"] == "invoice-May.pdf" and by_type["sticker"][0].content["animated"] is True

    # The contact's page shows each of them in its kind's words, files through /media/<id>.
    async with db.read() as session:
        contact = (await session.execute(select(Contact).where(Contact.phone == PERSON))).scalar_one()
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    await sign_in(client, "agent@acme.test", "password-agent")
    page = (await client.get(f"/contacts/{contact.id}")).text
    for words in ("Chose from a list", "Priority Mail Express", "Next Day to 2 Days", "Shared contact", "Lucía Gómez", "Order",
                  "Total 85.00 USD", "2 × <span class=\"mono\">di9ozbzfi4</span> at 30.00 USD", "Not shown by WhatsApp", "131051",
                  "Message type is currently not supported.", "📍", "From an ad: Chat with us", image.content["mime_type"],
                  f'<img class="reply-media" src="/media/{image.media_id}"', '<img class="reply-media" src="/media/7004"',
                  'href="/media/7001"', "Play the video", 'href="/media/7002"', "Voice note", 'href="/media/7003"', "Open invoice-May.pdf",
                  "Animated sticker", "Answered a form", "delivery_day", "Friday", "About product", "Tapped a button"):
        assert words in page, words
    assert "flow_token" not in page  # a Flow's token is not an answer

    await deliver_all(app.state.webhooks)
    received = receiver.accepted("message.received")
    assert sorted(e["data"]["message"]["type"] for e in received) == expected
    by_wamid = {e["data"]["message"]["wamid"]: e["data"] for e in received}
    event = by_wamid[listed.wamid]
    assert event["message"]["payload"] == "priority_express" and event["message"]["text"] == "Priority Mail Express"
    assert event["message"]["content"]["type"] == "list_reply" and event["message"]["content"]["description"] == "Next Day to 2 Days"
    assert event["message"]["context"]["wamid"] == raw_message("Interactive List Reply Message")["context"]["id"]
    assert event["contact"]["phone_number"] == PERSON and event["message"]["received_at"].endswith("Z")
    assert by_wamid[ad.wamid]["message"]["referral"]["source_url"] == "https://fb.me/3cr4Wqqkv"
    assert by_wamid[image.wamid]["message"]["content"]["media_id"] == image.media_id
    assert by_wamid[by_type["order"][0].wamid]["message"]["content"]["items"][1]["product_retailer_id"] == "nqryix03ez"
    # AiSensy's shape keeps its fields, with the typed content added.
    legacy = {e["data"]["message"]["messageId"]: e["data"] for e in receiver.accepted("message.sender.user")}
    assert len(legacy) == len(expected)
    assert {k: legacy[listed.wamid]["message"][k] for k in ("type", "text", "payload", "phone_number")} == {
        "type": "interactive", "text": "Priority Mail Express", "payload": "priority_express", "phone_number": PERSON}
    assert legacy[listed.wamid]["message"]["content"]["id"] == "priority_express"


async def test_a_list_row_or_reply_button_can_opt_out_and_a_caption_saying_stop_does_not(client, db, settings, dispatcher, fake_meta):
    setup, _, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    row_id = raw_message("Interactive List Reply Message")["interactive"]["list_reply"]["id"]
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        project.opt_out_payloads = [row_id, "unsubscribe-button"]

    async def opted_in() -> bool:
        async with db.read() as session:
            return (await session.execute(select(Contact.opted_in).where(Contact.phone == PERSON))).scalar_one()

    image = example("Image Message")
    image["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["caption"] = "STOP"
    await deliver(fake_meta, client, settings, db, image)
    await deliver(fake_meta, client, settings, db, example("Interactive Button Reply Message"))  # another button's id
    assert await opted_in() is True
    await deliver(fake_meta, client, settings, db, example("Interactive List Reply Message"))
    assert await opted_in() is False

    async with db.transaction() as session:
        await session.execute(Contact.__table__.update().where(Contact.phone == PERSON).values(opted_in=True))
    await deliver(fake_meta, client, settings, db, example("Interactive Button Reply Message", interactive={
        "type": "button_reply", "button_reply": {"id": "unsubscribe-button", "title": "No more offers"}}))
    assert await opted_in() is False


async def test_unsupported_is_a_reply_and_a_notice_is_not(client, db, settings, dispatcher, fake_meta):
    setup, message_id, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    notice = example("System Message", system={"type": "customer_identity_changed", "body": "Sheena's security code changed",
                                               "identity": "abc", "customer": "16505551234"})
    notice["entry"][0]["changes"][0]["value"]["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}]
    await deliver(fake_meta, client, settings, db, notice)
    await deliver(fake_meta, client, settings, db, example("Text Message", type="request_welcome", text=None))
    async with db.read() as session:
        message = await session.get(Message, uuid.UUID(message_id))
        assert message.replied_at is None
    replies = await replies_of(db)
    system = next(r for r in replies.values() if r.type == "system")
    assert system.content["type"] == "customer_identity_changed" and system.message_id is None
    assert next(r for r in replies.values() if r.type == "request_welcome").message_id is None
    assert await replied_audience(db, setup, message) == 0

    await deliver(fake_meta, client, settings, db, example("Unsupported Message"))
    async with db.read() as session:
        assert (await session.get(Message, uuid.UUID(message_id))).replied_at is not None  # the person did write
    unsupported = next(r for r in (await replies_of(db)).values() if r.type == "unsupported")
    assert unsupported.message_id == uuid.UUID(message_id) and unsupported.content["errors"][0]["code"] == 131051
    assert await replied_audience(db, setup, message) == 1


async def test_a_reaction_sits_on_its_message_and_is_not_a_reply(client, db, settings, dispatcher, fake_meta, receiver, app):
    setup, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    await subscribe(client, setup, receiver, "message.reaction", "message.received", "message.sender.user")
    t = int(time.time())
    first = example("Reaction Message", timestamp=str(t), reaction={"message_id": send.wamid, "emoji": "👍"})
    await deliver(fake_meta, client, settings, db, first)
    await deliver(fake_meta, client, settings, db, first)  # Meta's retry of the same reaction: nothing new
    async with db.read() as session:
        message = await session.get(Message, uuid.UUID(message_id))
        assert message.replied_at is None  # not in the REPLIED audience
        assert (await session.execute(select(Reply))).scalars().all() == []
        stored = (await session.execute(select(MessageReaction))).scalar_one()
        assert (stored.message_id, stored.emoji, stored.reacted_wamid) == (message.id, "👍", send.wamid)
        campaign_id = message.campaign_id
    async with db.read() as session:
        assert (await analytics.summary(session, setup.project_id, campaign_id)).replied == 0
    assert await replied_audience(db, setup, message) == 0

    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    await sign_in(client, "agent@acme.test", "password-agent")
    assert 'Reacted <span class="reaction-emoji">👍</span>' in (await client.get(f"/contacts/{message.contact_id}")).text

    # A later emoji replaces it; an older one arriving late does not.
    await deliver(fake_meta, client, settings, db, example("Reaction Message", timestamp=str(t + 20),
                                                           reaction={"message_id": send.wamid, "emoji": "❤️"}))
    await deliver(fake_meta, client, settings, db, example("Reaction Message", timestamp=str(t + 10),
                                                           reaction={"message_id": send.wamid, "emoji": "😮"}))
    async with db.read() as session:
        assert (await session.execute(select(MessageReaction.emoji))).scalars().all() == ["❤️"]
    page = (await client.get(f"/contacts/{message.contact_id}")).text
    assert "❤️" in page and "👍" not in page and "😮" not in page

    # Taken back: the emoji is gone from the message; still no reply.
    await deliver(fake_meta, client, settings, db, example("Reaction Message", timestamp=str(t + 30), reaction={"message_id": send.wamid}))
    async with db.read() as session:
        assert (await session.execute(select(MessageReaction.emoji))).scalars().all() == [None]
        assert (await session.get(Message, uuid.UUID(message_id))).replied_at is None
    assert "Reacted" not in (await client.get(f"/contacts/{message.contact_id}")).text
    assert await replied_audience(db, setup, message) == 0

    # A reaction to a message wacast did not send is kept, and shown apart.
    await deliver(fake_meta, client, settings, db, example("Reaction Message"))
    page = (await client.get(f"/contacts/{message.contact_id}")).text
    assert "a message not sent by wacast" in page and raw_message("Reaction Message")["reaction"]["message_id"] in page

    await deliver_all(app.state.webhooks)
    reactions = sorted((e["data"] for e in receiver.accepted("message.reaction")), key=lambda d: (d["submitted_message_id"] is None, d["reaction"]["reacted_at"]))
    assert [(d["reaction"]["emoji"], d["reaction"]["removed"]) for d in reactions] == [("👍", False), ("❤️", False), (None, True), ("👍", False)]
    assert [d["submitted_message_id"] for d in reactions] == [message_id] * 3 + [None]  # the late 😮 changed nothing: no event
    assert reactions[0]["reaction"]["message_wamid"] == send.wamid and reactions[0]["contact"]["phone_number"] == PERSON
    assert receiver.accepted("message.received") == [] and receiver.accepted("message.sender.user") == []


async def test_ugly_messages_in_a_batch_are_stored_bounded_and_the_rest_applied(client, db, settings, dispatcher, fake_meta):
    await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    body = example("Text Message")
    messages = body["entry"][0]["changes"][0]["value"]["messages"]
    good = copy.deepcopy(messages[0])
    messages[0]["text"] = {"body": "nul\x00 and \x01 control " + "x" * 20_000}
    messages.extend([
        {**good, "id": "wamid.UGLY1", "type": "image", "image": {"id": "../../etc", "caption": ["not", "text"]}},
        {**good, "id": "wamid.UGLY2", "type": "location", "location": {"latitude": "NaN", "longitude": "1e400"}},
        {**good, "id": "wamid.UGLY3", "type": "hologram", "hologram": {"beam": "x" * 50_000}},
        {**good, "id": "wamid.UGLY4", "type": "order", "order": {"product_items": [{"quantity": "2", "item_price": "9.5", "currency": "inr"}] * 3}},
        "not a message", {"id": 5},
        {**good, "id": "wamid.GOOD"},
    ])
    await deliver(fake_meta, client, settings, db, body)  # (a lone surrogate: tests/unit/test_meta_inbound.py)
    replies = await replies_of(db)
    assert {"wamid.UGLY1", "wamid.UGLY2", "wamid.UGLY3", "wamid.UGLY4", "wamid.GOOD"} <= set(replies)
    first = replies[messages[0]["id"]]
    assert len(first.text) == 4096 and "\x00" not in first.text and first.text.startswith("nul\ufffd and \x01 control")
    assert replies["wamid.UGLY1"].media_id is None and replies["wamid.UGLY1"].type == "image"
    assert replies["wamid.UGLY2"].content is None and replies["wamid.UGLY2"].text == "📍 a location"  # nothing of it was usable
    assert replies["wamid.UGLY3"].type == "hologram" and replies["wamid.UGLY3"].content == {"type": "hologram"}
    assert replies["wamid.UGLY4"].content["total"] == {"INR": 57.0}
    assert replies["wamid.GOOD"].text == good["text"]["body"]


async def test_a_real_server_applies_a_signed_list_reply_and_passes_it_on(settings, db, client, dispatcher, fake_meta, receiver):
    """`wacast serve`'s app on a real port with its loops: the fake Meta posts Meta's list-reply
    example over HTTP; the row opts the contact out, the page shows the choice, the customer's
    receiver gets `message.received`."""
    setup, message_id, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination=PERSON)
    await subscribe(client, setup, receiver, "message.received")
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    async with db.transaction() as session:
        (await session.get(Project, setup.project_id)).opt_out_payloads = ["priority_express"]
    body = example("Interactive List Reply Message")
    wamid = body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    server = LiveServer(settings).start()
    try:
        posted = await fake_meta.post_webhook(body, url=server.url + "/webhooks/whatsapp")
        assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 30
        while not receiver.accepted("message.received"):
            assert time.monotonic() < deadline, "the webhook was not applied and passed on"
            await asyncio.sleep(0.05)
        async with db.read() as session:
            contact = (await session.execute(select(Contact).where(Contact.phone == PERSON))).scalar_one()
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as browser:
            assert (await sign_in(browser, "agent@acme.test", "password-agent")).status_code == 303
            page = (await browser.get(f"/contacts/{contact.id}")).text
    finally:
        server.stop()
    assert contact.opted_in is False
    assert "Chose from a list" in page and "Priority Mail Express" in page and "opted out" in page
    data = receiver.accepted("message.received")[0]["data"]
    assert data["message"]["wamid"] == wamid and data["message"]["payload"] == "priority_express"
    assert data["submitted_message_id"] == message_id  # the contact's latest message (the quoted one is not ours)
    async with db.read() as session:
        reply = (await session.execute(select(Reply).where(Reply.wamid == wamid))).scalar_one()
    assert reply.content["title"] == "Priority Mail Express"
