"""Customer webhooks cannot be turned against wacast's own network (issue 12, findings 1, 9, 11).

The receiver's address is judged again at every delivery, on the connection itself: a
subscription saved while its host was public and whose DNS now answers loopback is refused
and recorded as a failed delivery; the canary (a real receiver on 127.0.0.1) sees nothing.
The "public" receiver is on 127.0.0.2, which the test's policy treats as public.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from tests.support.factories import make_project
from tests.support.ssrf_peers import (
    PUBLIC_IP,
    Peer,
    Resolver,
    treats_127_0_0_2_as_public,
)
from tests.support.webhook_receiver import WebhookReceiver
from wacast.kit.net import OutboundGuard
from wacast.models.webhooks import WebhookDelivery
from wacast.webhooks import service as hooks
from wacast.webhooks.service import check_url
from wacast.webhooks.tasks import WebhookSender


@pytest.fixture
def canary() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def public(canary: WebhookReceiver) -> Iterator[Peer]:
    peer = Peer(str(PUBLIC_IP), canary.server.server_address[1])  # the canary's port, another address
    yield peer
    peer.stop()


@pytest.fixture
async def sender_for(db, settings) -> AsyncIterator:  # noqa: ANN001
    made: list[WebhookSender] = []

    def make(resolver: Resolver) -> WebhookSender:
        guard = OutboundGuard(timeout=2, resolve=resolver, is_allowed=treats_127_0_0_2_as_public)
        made.append(WebhookSender(db, settings, guard=guard))
        return made[-1]

    yield make
    for sender in made:
        await sender.close()


async def stored_test_send(db, url: str, secret: str, subscription: dict | None = None):  # noqa: ANN001, ANN201
    """A due test send to a stored subscription (saved while its host was public: no DNS now)."""
    if subscription is None:
        setup = await make_project(db)
        async with db.transaction() as session:
            sub = await hooks.create(session, setup.project_id, url=url, topics=["contact.created"], secret=secret, allow_private=True)
        subscription = {"project_id": setup.project_id, "id": sub["id"]}
    async with db.transaction() as session:
        return await hooks.queue_test(session, subscription["project_id"], subscription["id"]), subscription


async def delivery_status(db, delivery_id) -> str:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(WebhookDelivery.status).where(WebhookDelivery.id == delivery_id))).scalar_one()


async def test_a_host_that_now_resolves_to_loopback_is_refused_at_delivery(db, sender_for, canary, public):
    url = f"http://hooks.test:{public.port}/hooks"
    # Saved while public: the subscription-time check passes with the first answer ...
    resolver = Resolver({"hooks.test": [str(PUBLIC_IP), str(PUBLIC_IP), "127.0.0.1"]})
    assert await check_url(url, allow_private=False, guard=OutboundGuard(resolve=resolver, is_allowed=treats_127_0_0_2_as_public)) == url
    sender = sender_for(resolver)
    delivery_id, subscription = await stored_test_send(db, url, canary.secret)
    first = await sender.deliver_now(delivery_id)
    assert first is not None and first.ok, first
    assert public.requests == [("POST", "/hooks")]
    # ... then the name is rebound to loopback: the next delivery is refused before connecting.
    await sender.close()  # a new connection, so a new resolution
    delivery_id, _ = await stored_test_send(db, url, canary.secret, subscription)
    result = await sender.deliver_now(delivery_id)
    assert result is not None and not result.ok and result.status_code is None
    assert result.error.startswith("ForbiddenAddress: ")
    assert await delivery_status(db, delivery_id) == "failed"
    assert canary.received == [] and len(public.requests) == 1


async def test_rebinding_between_the_check_and_the_connection_cannot_reach_loopback(db, sender_for, canary, public):
    # The first answer is public and every later one loopback: the delivery's one resolution is
    # the address it connects to (the old code checked, then let httpx resolve again).
    url = f"http://rebind.test:{public.port}/hooks"
    resolver = Resolver({"rebind.test": [str(PUBLIC_IP), "127.0.0.1"]})
    delivery_id, _ = await stored_test_send(db, url, canary.secret)
    result = await sender_for(resolver).deliver_now(delivery_id)
    assert result is not None and result.ok, result
    assert canary.received == [] and public.requests == [("POST", "/hooks")]
    assert resolver.asked == ["rebind.test"]


async def test_redirects_are_not_followed(db, sender_for, canary, public):
    url = public.url(f"/to?url={canary.url}", "hooks.test")
    delivery_id, _ = await stored_test_send(db, url, canary.secret)
    result = await sender_for(Resolver({"hooks.test": [str(PUBLIC_IP)]})).deliver_now(delivery_id)
    assert result is not None and (result.status_code, result.error) == (302, "HTTP 302")
    assert await delivery_status(db, delivery_id) == "failed"
    assert canary.received == []


@pytest.mark.parametrize("url,code", [
    ("http://[:::1]/", "WEBHOOK_URL_INVALID"),  # these two answered 500
    ("http://127.0.0.1:99999/", "WEBHOOK_URL_INVALID"),
    ("http://" + "a" * 300 + ".com/", "WEBHOOK_URL_INVALID"),
    ("http://[64:ff9b::7f00:1]/", "WEBHOOK_URL_FORBIDDEN"),  # these two were accepted
    ("http://[::127.0.0.1]/", "WEBHOOK_URL_FORBIDDEN"),
    ("http://[::ffff:169.254.169.254]/", "WEBHOOK_URL_FORBIDDEN"),
])
async def test_bad_and_embedded_loopback_urls_are_refused_at_the_api(client, db, url, code):
    setup = await make_project(db)
    response = await client.post("/api/v1/webhooks", headers={"Authorization": f"Bearer {setup.api_key}"},
                                 json={"url": url, "topics": ["contact.created"]})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code and response.json()["details"] == {"field": "url"}
