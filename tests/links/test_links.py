"""Tracked links and conversions through HTTP, on both backends: the redirect counts a person's
tap and not a preview fetcher's, never redirects anywhere it did not store, fires
`message.clicked` once; conversions are attributed by last touch with priority inside the
window, a repeated order id is the same conversion, and bad input changes nothing.

Links are minted here with the service the send path calls (links/service.mint) for a message
accepted through the campaign API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from tests.support.factories import body, make_project
from tests.support.live_server import LiveServer
from tests.support.runtime import deliver_all
from tests.support.webhook_receiver import WebhookReceiver
from wacast.api_keys import service as api_keys
from wacast.kit.clock import utcnow
from wacast.links import service as links
from wacast.links.clicks import ClickRecorder
from wacast.links.clients import classify
from wacast.models.links import Conversion, LinkClick, MessageClick
from wacast.models.messages import Message

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
PREVIEW = "WhatsApp/2.24.10.79 A"


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"allow_private_webhook_hosts": True, "webhook_retry_base_seconds": 0.0})


@pytest.fixture
def receiver():  # noqa: ANN201
    r = WebhookReceiver().start()
    yield r
    r.stop()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def queued_message(client, setup, destination: str = "+917428526285") -> uuid.UUID:  # noqa: ANN001
    sent = await client.post("/campaign/t1/api/v2", json=body(setup, destination=destination))
    assert sent.status_code == 200, sent.text
    return uuid.UUID(sent.json()["submitted_message_id"])


async def mint(db, setup, message_id: uuid.UUID, destination: str = "https://shop.example/p/42?ref=wa") -> str:  # noqa: ANN001
    async with db.transaction() as session:
        message = await session.get(Message, message_id)
        [token] = await links.mint(session, project_id=setup.project_id, campaign_id=message.campaign_id, campaign_name="order_update",
                                   campaign_tracking=None, message_id=message.id, contact_id=message.contact_id,
                                   links=[links.LinkToMint(destination, 0)])
    return token


async def clicks(db, token: str) -> list[tuple[str, bool]]:  # noqa: ANN001
    async with db.read() as session:
        rows = await session.execute(select(LinkClick.client_class, LinkClick.counted).where(LinkClick.token == token).order_by(LinkClick.id))
        return [tuple(r) for r in rows.all()]


async def test_the_redirect_counts_a_persons_tap_once_and_fires_message_clicked_once(client, db, app, receiver):
    setup = await make_project(db)
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup.api_key),
                                   json={"url": receiver.url, "topics": ["message.clicked"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    message_id = await queued_message(client, setup)
    token = await mint(db, setup, message_id)

    preview = await client.get(f"/r/{token}", headers={"User-Agent": PREVIEW})
    assert preview.status_code == 302
    location = preview.headers["location"]
    assert location == "https://shop.example/p/42?ref=wa&utm_source=whatsapp&utm_medium=message&utm_campaign=order_update&utm_content=button_0"
    assert preview.headers["cache-control"] == "no-store" and preview.headers["referrer-policy"] == "no-referrer"
    assert await clicks(db, token) == [("preview", False)]

    tapped = await client.get(f"/r/{token}", headers={"User-Agent": BROWSER})
    again = await client.get(f"/r/{token}", headers={"User-Agent": BROWSER})  # a double tap
    head = await client.head(f"/r/{token}", headers={"User-Agent": BROWSER})
    assert [r.status_code for r in (tapped, again, head)] == [302, 302, 302]
    assert all(r.headers["location"] == location for r in (tapped, again, head))
    assert await clicks(db, token) == [("preview", False), ("browser", True), ("repeat", False), ("head", False)]

    await deliver_all(app.state.webhooks)
    fired = receiver.accepted("message.clicked")
    assert len(fired) == 1 and receiver.bad_signatures == 0
    assert fired[0]["data"]["submitted_message_id"] == str(message_id)
    assert fired[0]["data"]["message"]["button_index"] == 0 and fired[0]["data"]["message"]["campaign_name"] == "order_update"
    # A tap long after the first is a click again, but the message was clicked already: no second event.
    async with db.transaction() as session:
        await session.execute(update(LinkClick).where(LinkClick.token == token).values(clicked_at=utcnow() - timedelta(minutes=5)))
    assert (await client.get(f"/r/{token}", headers={"User-Agent": BROWSER})).status_code == 302
    await deliver_all(app.state.webhooks)
    assert len(receiver.accepted("message.clicked")) == 1
    assert (await clicks(db, token))[-1] == ("browser", True)


async def test_taps_of_one_message_seen_by_two_server_processes_at_once_fire_message_clicked_once(client, db, app, receiver):
    """Two ClickRecorders stand for two server processes; each writes a batch at the same time,
    one tap of each of the message's two links. message_clicks decides the one first click."""
    setup = await make_project(db)
    subscribed = await client.post("/api/v1/webhooks", headers=auth(setup.api_key),
                                   json={"url": receiver.url, "topics": ["message.clicked"], "secret": receiver.secret})
    assert subscribed.status_code == 201, subscribed.text
    message_id = await queued_message(client, setup)
    button, body_link = await mint(db, setup, message_id), await mint(db, setup, message_id, "https://shop.example/terms")
    tap = classify("GET", BROWSER, None)
    followed = await asyncio.gather(ClickRecorder(db).follow(button, tap), ClickRecorder(db).follow(body_link, tap),
                                    ClickRecorder(db).follow(button, classify("GET", PREVIEW, None)))
    assert [f.client_class for f in followed] == ["browser", "browser", "preview"]
    assert await clicks(db, button) == [("browser", True), ("preview", False)] or await clicks(db, button) == [("preview", False), ("browser", True)]
    async with db.read() as session:
        first = (await session.execute(select(MessageClick.message_id))).scalars().all()
    assert first == [message_id]
    await deliver_all(app.state.webhooks)
    assert [e["data"]["submitted_message_id"] for e in receiver.accepted("message.clicked")] == [str(message_id)]


@pytest.mark.parametrize("path", [
    "/r/AAAAAAAAAAAAAAAA",  # well formed, never minted
    "/r/short", "/r/https:%2F%2Fevil.example", "/r/%2F%2Fevil.example%2F", "/r/..%2F..%2Fadmin", "/r/" + "A" * 400,
    "/r/AAAAAAAAAAAAAAA%00",
])
async def test_unknown_or_malformed_tokens_get_a_plain_404_and_never_a_redirect(client, db, path):
    answer = await client.get(path, headers={"User-Agent": BROWSER})
    assert answer.status_code in (400, 404), (path, answer.status_code)
    assert "location" not in answer.headers
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(LinkClick))).scalar_one() == 0


async def test_the_redirects_fast_path_keeps_the_request_id_and_the_route_label_and_leaves_other_paths_to_the_app(client, db):
    setup = await make_project(db)
    token = await mint(db, setup, await queued_message(client, setup))
    answer = await client.get(f"/r/{token}", headers={"User-Agent": BROWSER, "X-Request-Id": "tap-1"})
    assert answer.status_code == 302 and answer.headers["x-request-id"] == "tap-1"
    metrics = (await client.get("/metrics")).text
    assert 'wacast_http_request_duration_seconds_count{method="GET",route="/r/{token}",status="302"}' in metrics
    # Not a /r/{token} path: the app's own 404 envelope, never a redirect, nothing recorded.
    for path in ("/r/", f"/r/{token}/more", "/r"):
        other = await client.get(path, headers={"User-Agent": BROWSER})
        assert other.status_code == 404 and other.json()["code"] == "NOT_FOUND" and "location" not in other.headers, path
    assert (await client.post(f"/r/{token}")).status_code == 405  # only GET and HEAD follow a link
    assert await clicks(db, token) == [("browser", True)]


async def test_a_real_http_get_on_a_running_server_redirects_after_the_click_is_committed(settings, db, client):
    setup = await make_project(db)
    token = await mint(db, setup, await queued_message(client, setup))
    server = LiveServer(settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, follow_redirects=False) as http:
            answer = await http.get(f"/r/{token}", headers={"User-Agent": BROWSER})
            missing = await http.get("/r/BBBBBBBBBBBBBBBB", headers={"User-Agent": BROWSER})
    finally:
        server.stop()
    assert answer.status_code == 302 and answer.headers["location"].startswith("https://shop.example/p/42?ref=wa&utm_source=whatsapp")
    assert missing.status_code == 404 and "This link is not known" in missing.text
    assert await clicks(db, token) == [("browser", True)]  # the 302 was out: the click is there


async def age(db, message_id: uuid.UUID, **hours_ago: float) -> None:  # noqa: ANN001
    """Move a message's steps into the past (sent_at=48 means sent 48 hours ago)."""
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(update(Message).where(Message.id == message_id).values(
            status="read", **{k: now - timedelta(hours=v) for k, v in hours_ago.items()}))


async def test_conversions_are_attributed_by_last_touch_with_priority_within_the_window(client, db):
    setup = await make_project(db)
    clicked = await queued_message(client, setup)
    only_read = await queued_message(client, setup)
    await age(db, clicked, sent_at=50, delivered_at=50, read_at=49)
    await age(db, only_read, sent_at=2, delivered_at=2, read_at=1)  # newer, but only read
    token = await mint(db, setup, clicked)
    assert (await client.get(f"/r/{token}", headers={"User-Agent": BROWSER})).status_code == 302
    async with db.transaction() as session:  # the tap happened 48 hours ago
        await session.execute(update(LinkClick).where(LinkClick.token == token).values(clicked_at=utcnow() - timedelta(hours=48)))

    order = {"destination": "7428526285", "goal": "purchase", "value": 1499, "currency": "inr", "order_id": "SHOP-1"}
    recorded = await client.post("/api/v1/conversions", headers=auth(setup.api_key), json=order)
    assert recorded.status_code == 201, recorded.text
    data = recorded.json()
    assert data["attributed"]["submitted_message_id"] == str(clicked) and data["attributed"]["touch"] == "clicked"
    assert (data["goal"], data["value"], data["currency"], data["duplicate"]) == ("purchase", "1499.0000", "INR", False)

    again = await client.post("/api/v1/conversions", headers=auth(setup.api_key), json={**order, "value": 5})
    assert again.status_code == 200 and again.json()["duplicate"] is True and again.json()["id"] == data["id"]
    assert again.json()["value"] == "1499.0000"

    # A message id only names the contact: the click inside the window still wins.
    cart = await client.post("/api/v1/conversions", headers=auth(setup.api_key),
                             json={"submitted_message_id": str(only_read), "goal": "cart"})
    assert cart.status_code == 201 and cart.json()["attributed"]["submitted_message_id"] == str(clicked)
    # Another person who never clicked: the newest message read wins over an older one delivered.
    delivered = await queued_message(client, setup, "+919876543210")
    read = await queued_message(client, setup, "+919876543210")
    await age(db, delivered, sent_at=3, delivered_at=3)
    await age(db, read, sent_at=5, delivered_at=5, read_at=4)
    other = await client.post("/api/v1/conversions", headers=auth(setup.api_key), json={"destination": "+919876543210", "goal": "cart"})
    assert other.status_code == 201 and other.json()["attributed"] == {
        "submitted_message_id": str(read), "campaign_id": other.json()["attributed"]["campaign_id"], "campaign_name": "order_update", "touch": "read"}

    # Outside every window (the messages were sent more than 7 days before it): no message earned it.
    old = (utcnow() - timedelta(days=9)).isoformat()
    await age(db, clicked, sent_at=24 * 20, delivered_at=24 * 20, read_at=24 * 20)
    await age(db, only_read, sent_at=24 * 20, delivered_at=24 * 20, read_at=24 * 20)
    late = await client.post("/api/v1/conversions", headers=auth(setup.api_key),
                             json={"destination": "+917428526285", "goal": "purchase", "occurred_at": old, "order_id": "SHOP-2"})
    assert late.status_code == 201 and late.json()["attributed"] is None
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Conversion))).scalar_one() == 4

    # The campaign's results: who clicked, what converted, the revenue per currency.
    results = (await client.get("/api/v1/campaigns/order_update/analytics", headers=auth(setup.api_key))).json()
    assert results["clicks"]["unique"] == 1 and results["clicks"]["total"] == 1 and results["clicks"]["per_button"] == {"0": {"clicks": 1, "unique": 1}}
    conversions = results["conversions"]
    assert conversions["total"] == 3 and conversions["revenue"] == {"INR": "1499.00"}
    assert conversions["other_goals"]["purchase"]["conversions"] == 1 and conversions["other_goals"]["cart"]["conversions"] == 2
    assert abs(results["median_seconds"]["read_to_click"] - 432 * 3600) < 5  # read 20 days ago (aged above), tapped 2 days ago


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"goal": "purchase"}, 400, "FIELD_REQUIRED"),
    ({"destination": "+917428526285"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "Big Sale!"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "value": 10}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "value": -1, "currency": "INR"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "value": "NaN", "currency": "INR"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "value": 1e300, "currency": "INR"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "value": 10, "currency": "rupees"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "occurred_at": "yesterday"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "occurred_at": "2026-12-01T10:00:00"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "occurred_at": "2999-01-01T00:00:00Z"}, 400, "FIELD_INVALID"),
    ({"destination": "+917428526285", "goal": "purchase", "order_id": "a\x00b"}, 400, "FIELD_INVALID"),
    ({"destination": "12", "goal": "purchase"}, 400, "INVALID_NUMBER"),
    ({"destination": "+14155550123", "goal": "purchase"}, 404, "CONTACT_NOT_FOUND"),
    ({"contact_id": "not-a-uuid", "goal": "purchase"}, 400, "FIELD_INVALID"),
    ({"submitted_message_id": str(uuid.uuid4()), "goal": "purchase"}, 404, "CONTACT_NOT_FOUND"),
    ({"destination": "+917428526285", "goal": "purchase", "coupon": "X"}, 422, "VALIDATION_ERROR"),
])
async def test_bad_conversions_get_a_clear_error_and_change_nothing(client, db, payload, status, code):
    setup = await make_project(db)
    await queued_message(client, setup)
    answer = await client.post("/api/v1/conversions", headers=auth(setup.api_key), json=payload)
    assert answer.status_code == status and answer.json()["code"] == code, answer.text
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Conversion))).scalar_one() == 0


async def test_a_send_key_cannot_record_conversions_and_contacts_of_two_records_must_agree(client, db):
    setup = await make_project(db)
    first = await queued_message(client, setup, "+917428526285")
    await queued_message(client, setup, "+919876543210")
    async with db.transaction() as session:
        _, send_key = await api_keys.create_key(session, setup.project_id, "send", "shop")
    refused = await client.post("/api/v1/conversions", headers=auth(send_key), json={"destination": "+917428526285", "goal": "purchase"})
    assert refused.status_code == 403 and refused.json()["code"] == "KEY_SCOPE"
    mismatch = await client.post("/api/v1/conversions", headers=auth(setup.api_key),
                                 json={"destination": "+919876543210", "submitted_message_id": str(first), "goal": "purchase"})
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "CONVERSION_CONTACT_MISMATCH"


async def test_click_batches_read_subscriptions_from_the_process_cache_which_a_change_made_here_forgets(db, settings):
    """The redirect's batches read each project's subscriptions once per WACAST_CACHE_SECONDS
    (webhooks/outbox.py): a subscription written by another process (a row this process did not
    write) is seen within that time, one made through the webhooks service here at once."""
    from wacast.models.webhooks import WebhookSubscription
    from wacast.webhooks import events as hooks
    from wacast.webhooks import outbox
    from wacast.webhooks import service as webhooks

    setup = await make_project(db)
    outbox.configure_cache(3600)
    try:
        async def wanted(across: bool) -> bool:
            async with db.transaction() as session:
                outbox.remember_subscribers(session, across_transactions=across)
                return await hooks.wants(session, setup.project_id, "message.clicked")

        assert not await wanted(True)
        async with db.transaction() as session:  # as another process would write it
            now = utcnow()
            session.add(WebhookSubscription(id=uuid.uuid4(), project_id=setup.project_id, url="http://127.0.0.1:9/elsewhere",
                                            topics=["message.clicked"], secret="s" * 32, description="", active=True,
                                            created_at=now, updated_at=now))
        assert not await wanted(True)  # the cached answer, until the TTL runs out
        assert await wanted(False)  # a transaction of its own reads the table
        async with db.transaction() as session:
            made = await webhooks.create(session, setup.project_id, url="http://127.0.0.1:9/here", topics=["message.clicked"],
                                         allow_private=True)
        assert await wanted(True)  # forgotten by the change made here
        async with db.transaction() as session:
            await webhooks.update(session, setup.project_id, made["id"], {"topics": ["message.received"]})
        async with db.transaction() as session:
            subs = await webhooks.list_all(session, setup.project_id)
            for sub in subs:
                await webhooks.update(session, setup.project_id, sub["id"], {"active": False})
        assert not await wanted(True)
    finally:
        outbox.configure_cache(settings.cache_seconds)
