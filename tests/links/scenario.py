"""One campaign's clicks and conversions, built through HTTP for the read-side tests.

Three people get order_update: Asha taps the tracked button (and a preview fetcher fetches it
first, which does not count) and buys (a purchase of INR 1499, and a cart); Ravi taps twice,
seconds apart (one click and a repeat) and buys nothing; Meera reads and never taps. Links
are minted with links.service.mint, as the send path does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from tests.support.factories import Setup, body, make_project
from wacast.kit.clock import utcnow
from wacast.links import service as links
from wacast.models.links import LinkClick
from wacast.models.messages import Message

BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
PREVIEW = "WhatsApp/2.24.10.79 A"
ASHA, RAVI, MEERA = "+917428526285", "+919876543210", "+919811122233"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Scenario:
    setup: Setup
    campaign_id: uuid.UUID
    messages: dict[str, uuid.UUID]  # by phone
    contacts: dict[str, uuid.UUID]
    tokens: dict[str, str]


async def build(client, db, name: str = "acme") -> Scenario:  # noqa: ANN001
    setup = await make_project(db, name)
    messages: dict[str, uuid.UUID] = {}
    for phone, user in ((ASHA, "Asha Verma"), (RAVI, "Ravi K"), (MEERA, "Meera S")):
        sent = await client.post("/campaign/t1/api/v2", json=body(setup, destination=phone, userName=user))
        assert sent.status_code == 200, sent.text
        messages[phone] = uuid.UUID(sent.json()["submitted_message_id"])
    now = utcnow()
    tokens: dict[str, str] = {}
    contacts: dict[str, uuid.UUID] = {}
    async with db.transaction() as session:
        for i, (phone, message_id) in enumerate(messages.items()):
            # Sent an hour ago, delivered, read ten minutes later.
            await session.execute(update(Message).where(Message.id == message_id).values(
                status="read", sent_at=now - timedelta(hours=1), delivered_at=now - timedelta(hours=1),
                read_at=now - timedelta(minutes=50 - i)))
            message = await session.get(Message, message_id)
            contacts[phone] = message.contact_id
            [tokens[phone]] = await links.mint(
                session, project_id=setup.project_id, campaign_id=message.campaign_id, campaign_name="order_update",
                campaign_tracking=None, message_id=message.id, contact_id=message.contact_id,
                links=[links.LinkToMint(f"https://shop.example/p/{i}", 0)])
            campaign_id = message.campaign_id
    assert (await client.get(f"/r/{tokens[ASHA]}", headers={"User-Agent": PREVIEW})).status_code == 302
    assert (await client.get(f"/r/{tokens[ASHA]}", headers={"User-Agent": BROWSER})).status_code == 302
    assert (await client.get(f"/r/{tokens[RAVI]}", headers={"User-Agent": BROWSER})).status_code == 302
    assert (await client.get(f"/r/{tokens[RAVI]}", headers={"User-Agent": BROWSER})).status_code == 302  # a repeat
    assert (await client.get(f"/r/{tokens[MEERA]}", headers={"User-Agent": PREVIEW})).status_code == 302  # a preview only
    async with db.transaction() as session:  # the taps were 40 minutes after the reads: a known read-to-click time
        for phone, message_id in messages.items():
            await session.execute(update(LinkClick).where(LinkClick.message_id == message_id).values(clicked_at=now - timedelta(minutes=10)))
    order = {"destination": ASHA, "goal": "purchase", "value": 1499, "currency": "INR", "order_id": "SHOP-1",
             "occurred_at": (now - timedelta(minutes=5)).isoformat()}
    for payload in (order, {"destination": ASHA, "goal": "cart", "occurred_at": (now - timedelta(minutes=8)).isoformat()}):
        recorded = await client.post("/api/v1/conversions", headers=auth(setup.api_key), json=payload)
        assert recorded.status_code == 201 and recorded.json()["attributed"]["submitted_message_id"] == str(messages[ASHA]), recorded.text
    return Scenario(setup, campaign_id, messages, contacts, tokens)
