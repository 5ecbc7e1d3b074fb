"""Idempotency-Key on the campaign API and REST writes (replay, reuse with another body, in
flight, concurrent duplicates, two server instances on one database) and per-key rate limits."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from sqlalchemy import func, select, update

from wacast.models.api_keys import ApiKey
from wacast.app import create_app
from wacast.models.contacts import Contact
from wacast.models.messages import Message
from wacast.models.idempotency import IdempotencyKey
from tests.support.factories import body, make_project
from tests.support.webhook_receiver import WebhookReceiver

URL = "/campaign/t1/api/v2"


def auth(setup, key: str | None = None) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {setup.api_key}", **({"Idempotency-Key": key} if key else {})}


async def count(db, model) -> int:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_campaign_api_replays_the_first_answer_and_sends_once(client, db):
    setup = await make_project(db)
    first = await client.post(URL, json=body(setup), headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 200
    again = await client.post(URL, json=body(setup), headers={"Idempotency-Key": "order-42"})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(db, Message) == 1
    # Same key, another body: refused, nothing written.
    other = await client.post(URL, json=body(setup, templateParams=["Ravi", "ORD-2"]), headers={"Idempotency-Key": "order-42"})
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count(db, Message) == 1
    # The same JSON with keys in another order is the same request.
    reordered = dict(reversed(list(body(setup).items())))
    assert (await client.post(URL, json=reordered, headers={"Idempotency-Key": "order-42"})).json() == first.json()
    # Without a key, or with another key, it is a new send.
    assert (await client.post(URL, json=body(setup))).json() != first.json()
    assert (await client.post(URL, json=body(setup), headers={"Idempotency-Key": "order-43"})).status_code == 200
    assert await count(db, Message) == 3


async def test_rest_writes_replay_and_rejections_are_kept_too(client, db):
    setup = await make_project(db)
    created = await client.post("/api/v1/contacts", headers=auth(setup, "c-1"), json={"phone": "+917428526285"})
    replay = await client.post("/api/v1/contacts", headers=auth(setup, "c-1"), json={"phone": "+917428526285"})
    assert created.status_code == replay.status_code == 201 and replay.json() == created.json()
    assert await count(db, Contact) == 1
    # A business rejection is an answer too: replayed, not re-run.
    dup = await client.post("/api/v1/contacts", headers=auth(setup, "c-2"), json={"phone": "+917428526285"})
    assert dup.status_code == 409 and dup.json()["code"] == "CONTACT_EXISTS"
    assert (await client.post("/api/v1/contacts", headers=auth(setup, "c-2"), json={"phone": "+917428526285"})).headers["idempotent-replayed"] == "true"
    # DELETE and PATCH too.
    cid = created.json()["id"]
    assert (await client.patch(f"/api/v1/contacts/{cid}", headers=auth(setup, "p-1"), json={"name": "A"})).json()["name"] == "A"
    assert (await client.patch(f"/api/v1/contacts/{cid}", headers=auth(setup, "p-1"), json={"name": "B"})).json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await client.delete(f"/api/v1/contacts/{cid}", headers=auth(setup, "d-1"))).status_code == 204
    assert (await client.delete(f"/api/v1/contacts/{cid}", headers=auth(setup, "d-1"))).status_code == 204
    # Keys are per API key: another project's key with the same Idempotency-Key is its own request.
    other = await make_project(db, "other")
    mine = await client.post("/api/v1/contacts", headers=auth(other, "c-1"), json={"phone": "+917428526285"})
    assert mine.status_code == 201 and mine.json()["id"] != cid
    # 401s are not kept: the same key works once the credentials are right.
    bad = await client.post("/api/v1/tags", headers={"Authorization": "Bearer wac_wrong", "Idempotency-Key": "t-1"}, json={"name": "x"})
    assert bad.status_code == 401
    assert (await client.post("/api/v1/tags", headers=auth(setup, "t-1"), json={"name": "x"})).status_code == 201
    too_long = await client.post("/api/v1/tags", headers=auth(setup, "k" * 300), json={"name": "y"})
    assert too_long.status_code == 400 and too_long.json()["code"] == "IDEMPOTENCY_KEY_INVALID"


async def test_concurrent_duplicates_send_once(client, db):
    setup = await make_project(db)
    responses = await asyncio.gather(*[client.post(URL, json=body(setup), headers={"Idempotency-Key": "burst-1"}) for _ in range(12)])
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, statuses
    assert len({r.json()["submitted_message_id"] for r in responses if r.status_code == 200}) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT" and int(r.headers["retry-after"]) >= 1
    assert await count(db, Message) == 1


async def test_two_server_instances_on_one_database_send_once(settings, db_url):
    """Two apps (two engines and pools, as two processes would have) share the claim row."""
    apps = [create_app(settings, run_dispatcher=False) for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        setup = await make_project(apps[0].state.db)
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://wacast.test") for a in apps]
        try:
            responses = await asyncio.gather(*[
                clients[i % 2].post(URL, json=body(setup), headers={"Idempotency-Key": "two-servers"}) for i in range(10)
            ])
        finally:
            for c in clients:
                await c.aclose()
        assert {r.status_code for r in responses} <= {200, 409}
        assert len({r.json()["submitted_message_id"] for r in responses if r.status_code == 200}) == 1
        assert await count(apps[0].state.db, Message) == 1


async def test_a_request_in_flight_answers_409_with_retry_after_then_replays(client, db):
    """The first request is held inside a slow receiver (the webhook test send), for sure."""
    setup = await make_project(db)
    receiver = WebhookReceiver(hold=threading.Event()).start()
    try:
        from wacast.webhooks import service as hooks

        async with db.transaction() as session:
            sub = await hooks.create(session, setup.project_id, url=receiver.url, topics=["contact.created"], secret=receiver.secret, allow_private=True)
        path = f"/api/v1/webhooks/{sub['id']}/test"
        headers = auth(setup, "test-send-1")
        first = asyncio.create_task(client_post(client, path, headers))
        while not receiver.arrived.is_set():
            await asyncio.sleep(0.01)
        second = await client.post(path, headers=headers)
        assert second.status_code == 409 and second.json()["code"] == "IDEMPOTENCY_KEY_IN_FLIGHT"
        assert int(second.headers["retry-after"]) >= 1
        receiver.hold.set()
        answered = await first
        assert answered.status_code == 200 and answered.json()["delivered"] is True
        third = await client.post(path, headers=headers)
        assert third.json() == answered.json() and third.headers["idempotent-replayed"] == "true"
        assert len(receiver.received) == 1  # the test event went out once
    finally:
        receiver.stop()


async def client_post(client, path, headers):  # noqa: ANN001, ANN201
    return await client.post(path, headers=headers)


async def test_a_stale_claim_of_a_dead_process_is_taken_over(client, db):
    setup = await make_project(db)
    first = await client.post("/api/v1/tags", headers=auth(setup, "t-9"), json={"name": "a"})
    assert first.status_code == 201
    # Make the row look like a claim whose process died mid-request (lease over, no answer).
    async with db.transaction() as session:
        from datetime import timedelta

        from wacast.kit.clock import utcnow

        await session.execute(update(IdempotencyKey).values(state="in_flight", response_status=None, locked_until=utcnow() - timedelta(seconds=1)))
    retried = await client.post("/api/v1/tags", headers=auth(setup, "t-9"), json={"name": "a"})
    assert retried.status_code == 409 and retried.json()["code"] == "TAG_EXISTS"  # it ran again (the tag exists now)


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201
    # A slow refill (1 request/s) so the burst of 20 is what a quick test meets; loopback receivers allowed.
    return settings.model_copy(update={"api_rate_limit": 1.0, "api_rate_burst": 20, "allow_private_webhook_hosts": True})


async def test_rate_limit_per_key_answers_429_with_retry_after(client, db):
    setup = await make_project(db)
    other = await make_project(db, "other")
    statuses = [(await client.get("/api/v1/tags", headers=auth(setup))).status_code for _ in range(40)]
    assert statuses[:20] == [200] * 20 and 429 in statuses
    limited = await client.get("/api/v1/tags", headers=auth(setup))
    assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED" and int(limited.headers["retry-after"]) >= 1
    # Another key is not starved by the first one.
    assert (await client.get("/api/v1/tags", headers=auth(other))).status_code == 200
    # A key's own limit wins over the global one; the campaign API counts too.
    async with db.transaction() as session:
        await session.execute(update(ApiKey).where(ApiKey.project_id == other.project_id).values(rate_limit=1.0, rate_burst=2))
    sends = [(await client.post(URL, json=body(other, destination=f"+9174285262{i:02d}"))).status_code for i in range(6)]
    assert sends[:2] == [200, 200] and 429 in sends, sends
    assert await count(db, Message) == sends.count(200)


async def test_a_key_created_with_its_own_limit_by_the_cli(client, db, db_url):
    import json
    import os
    import subprocess
    import sys

    setup = await make_project(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env["WACAST_DATABASE_URL"] = db_url
    result = subprocess.run(
        [sys.executable, "-m", "wacast.cli", "apikeys", "create", "--project", setup.project_name, "--scope", "send",
         "--rate-limit", "0.5", "--rate-burst", "2", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["rate_limit"] == 0.5 and created["rate_burst"] == 2
    headers = {"Authorization": f"Bearer {created['api_key']}"}
    statuses = [(await client.get("/api/v1/messages", headers=headers)).status_code for _ in range(4)]
    assert statuses[:2] == [200, 200] and 429 in statuses
