"""Every kind of inbound message Meta documents, replayed signed as Meta's own published
examples (its OpenAPI spec), on both backends: the stored content, the contact's page, the
customer webhook `message.received`, an opt-out from a list row, and reactions, which are
reactions on a message and not replies."""

from __future__ import annotations

import copy
import uuid

import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.meta_schema import webhook_examples
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from tests.whatsapp.test_meta_webhooks import PHONE_ID, deliver, sent_message
from wacast.campaigns import analytics
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.messages import Message, MessageReaction, Reply
from wacast.models.projects import Project

KINDS = {  # Meta's example name -> the kind wacast stores
    "Text Message": "text", "Text Message with Context (Product Inquiry)": "text", "Text Message from Click to WhatsApp Ad": "text",
    "Image Message": "image", "Location Message": "location", "Contact Sharing Message": "contacts",
    "Unsupported Message": "unsupported", "Button Message": "button", "Interactive List Reply Message": "interactive",
    "Interactive Button Reply Message": "interactive", "Order Message": "order",
}


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "allow_private_webhook_hosts": True,
                                       "webhook_retry_base_seconds": 0.0})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def example(name: str, *, sender: str | None = None, wamid: str | None = None, **message_changes) -> dict:  # noqa: ANN003
    """Meta's example, addressed to our test number (and, when given, from another sender)."""
    body = copy.deepcopy(webhook_examples()[name])
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = PHONE_ID
    message = value["messages"][0]
    if sender:
        message["from"] = sender
        for contact in value.get("contacts") or []:
            contact["wa_id"] = sender
    message["id"] = wamid or f"wamid.TEST{uuid.uuid4().hex}"
    message.update(message_changes)
    return body


async def test_each_published_kind_is_kept_with_its_content_shown_and_passed_on(client, db, settings, dispatcher, fake_meta, receiver, app):
    setup, _, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+16505551234")
    subscribed = await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {setup.api_key}"},
                                   json={"url": receiver.url, "topics": ["message.received"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    for name in KINDS:
        await deliver(fake_meta, client, settings, db, example(name))
    async with db.read() as session:
        replies = {r.wamid: r for r in (await session.execute(select(Reply))).scalars()}
    kinds = sorted(r.type for r in replies.values())
    assert kinds == sorted(KINDS.values())
    by_type = {}
    for r in replies.values():
        by_type.setdefault(r.type, []).append(r)
    image = by_type["image"][0]
    raw = webhook_examples()["Image Message"]["entry"][0]["changes"][0]["value"]["messages"][0]["image"]
    assert image.media_id == raw["id"] and image.content["mime_type"] == raw["mime_type"] and image.content["sha256"] == raw["sha256"]
    location = by_type["location"][0]
    assert isinstance(location.content["latitude"], float) and location.text.startswith("📍")
    assert by_type["contacts"][0].content["contacts"][0]["phones"]
    assert by_type["unsupported"][0].content["errors"][0]["code"] == 131051
    assert by_type["order"][0].content["total"] == {"USD": 85.0}
    listed = next(r for r in by_type["interactive"] if r.content["type"] == "list_reply")
    assert listed.payload == listed.content["id"] and listed.text == listed.content["title"]
    ad = next(r for r in by_type["text"] if r.content.get("referral"))
    assert ad.content["referral"]["source_url"]

    # The contact's page shows each of them in its kind's words.
    async with db.read() as session:
        contact = (await session.execute(select(Contact).where(Contact.phone == "+16505551234"))).scalar_one()
    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    await sign_in(client, "agent@acme.test", "password-agent")
    page = (await client.get(f"/contacts/{contact.id}")).text
    for words in ("Chose from a list", listed.content["title"], "Shared contact", "Order", "Total 85.0 USD", "Not shown by WhatsApp",
                  "131051", "📍", "From an ad", image.content["mime_type"]):
        assert words in page, words

    await deliver_all(app.state.webhooks)
    received = receiver.accepted("message.received")
    assert sorted(e["data"]["message"]["type"] for e in received) == sorted(KINDS.values())
    order_event = next(e for e in received if e["data"]["message"]["type"] == "order")
    assert order_event["data"]["message"]["content"]["items"] and order_event["data"]["contact"]["phone_number"] == "+16505551234"


async def test_a_list_row_can_opt_out_and_a_caption_saying_stop_does_not(client, db, settings, dispatcher, fake_meta):
    setup, _, _ = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+16505551234")
    row_id = webhook_examples()["Interactive List Reply Message"]["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]["list_reply"]["id"]
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        project.opt_out_payloads = [row_id]
    image = example("Image Message")
    image["entry"][0]["changes"][0]["value"]["messages"][0]["image"]["caption"] = "STOP"
    await deliver(fake_meta, client, settings, db, image)
    async with db.read() as session:
        assert (await session.execute(select(Contact.opted_in).where(Contact.phone == "+16505551234"))).scalar_one() is True
    await deliver(fake_meta, client, settings, db, example("Interactive List Reply Message"))
    async with db.read() as session:
        assert (await session.execute(select(Contact.opted_in).where(Contact.phone == "+16505551234"))).scalar_one() is False


async def test_a_reaction_sits_on_its_message_and_is_not_a_reply(client, db, settings, dispatcher, fake_meta, receiver, app):
    setup, message_id, send = await sent_message(client, db, settings, dispatcher, fake_meta, destination="+16505551234")
    subscribed = await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {setup.api_key}"},
                                   json={"url": receiver.url, "topics": ["message.reaction", "message.received"], "secret": receiver.secret})
    assert subscribed.status_code == 201
    reaction = example("Reaction Message", reaction={"message_id": send.wamid, "emoji": "👍"})
    await deliver(fake_meta, client, settings, db, reaction)
    await deliver(fake_meta, client, settings, db, reaction)  # Meta's retry of the same reaction: nothing new
    async with db.read() as session:
        message = await session.get(Message, uuid.UUID(message_id))
        assert message.replied_at is None  # not in the REPLIED audience
        assert (await session.execute(select(Reply))).scalars().all() == []
        stored = (await session.execute(select(MessageReaction))).scalar_one()
        assert (stored.message_id, stored.emoji, stored.reacted_wamid) == (message.id, "👍", send.wamid)
    async with db.read() as session:
        campaign = await session.get(Campaign, message.campaign_id)
        assert (await analytics.summary(session, setup.project_id, campaign.id)).replied == 0

    await add_user(db, setup.project_id, "agent@acme.test", "agent")
    await sign_in(client, "agent@acme.test", "password-agent")
    assert "Reacted 👍" in (await client.get(f"/contacts/{message.contact_id}")).text

    # Taken back: the emoji is gone from the message; still no reply.
    await deliver(fake_meta, client, settings, db, example("Reaction Message", reaction={"message_id": send.wamid}))
    async with db.read() as session:
        assert (await session.execute(select(MessageReaction.emoji))).scalar_one() is None
        assert (await session.get(Message, uuid.UUID(message_id))).replied_at is None
    assert "Reacted" not in (await client.get(f"/contacts/{message.contact_id}")).text
    await deliver_all(app.state.webhooks)
    reactions = receiver.accepted("message.reaction")
    # (the outbox delivers in any order: each event carries its own time)
    assert sorted((e["data"]["reaction"]["removed"], e["data"]["reaction"]["emoji"] or "") for e in reactions) == [(False, "👍"), (True, "")]
    assert all(e["data"]["submitted_message_id"] == message_id for e in reactions) and receiver.accepted("message.received") == []
