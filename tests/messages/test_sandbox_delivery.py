"""Delivery through the sandbox provider: queued -> sent -> delivered -> read, via the same
status processing Meta's webhooks use; and GET /api/v1/messages/{id}."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from wacast.models.messages import InboundEvent, Message
from wacast.models.templates import Template
from tests.support.factories import body, make_project

URL = "/campaign/t1/api/v2"


_numbers = iter(range(10**6))


async def send(client, setup, campaign="order_update", distinct=True, **fields):  # noqa: ANN001, ANN003
    if distinct and "destination" not in fields:
        # Distinct recipients: Meta's pair rate (1 message per 6 s per person) is honoured.
        fields["destination"] = f"+9174285{next(_numbers):05d}"
    response = await client.post(URL, json=body(setup, campaign, **fields))
    assert response.status_code == 200, response.text
    return response.json()["submitted_message_id"]


async def test_message_reaches_read_with_full_history(client, db, dispatcher):
    setup = await make_project(db)
    message_id = await send(client, setup)
    await dispatcher.run_until_idle()
    response = await client.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {setup.api_key}"})
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "read"
    assert data["wamid"].startswith("wamid.")
    assert data["destination"].startswith("+9174285")
    assert data["campaign"] == "order_update"
    assert data["error"] is None
    assert [e["status"] for e in data["events"]] == ["queued", "sent", "delivered", "read"]
    assert data["sent_at"] and data["delivered_at"] and data["read_at"]
    # Each status event was a stored provider event, processed once.
    async with db.sessionmaker() as session:
        events = (await session.execute(select(InboundEvent))).scalars().all()
    assert len(events) == 3 and all(e.processed_at for e in events)


async def test_every_component_kind_passes_the_sandbox_check(client, db, dispatcher, media_server):
    setup = await make_project(db)
    ids = [
        await send(client, setup, "text_header", templateParams=["Asha", "Asha", "ORD-1"]),
        await send(client, setup, "image_header", media={"url": media_server.url("/photo.jpg")}),
        await send(client, setup, "video_header", templateParams=["Asha"], media={"url": media_server.url("/clip.mp4")}),
        await send(client, setup, "document_header", templateParams=["INV-1"], media={"url": media_server.url("/invoice.pdf")}),
        await send(client, setup, "location_header", templateParams=["Asha"], location={"latitude": 1.5, "longitude": 2.5}),
        await send(client, setup, "url_button", buttons=[{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "x"}]}]),
        await send(client, setup, "copy_code", templateParams=["Asha"], buttons=[{"sub_type": "copy_code", "index": "1", "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}]}]),
        await send(client, setup, "named_order", templateParams=["Asha", "ORD-2"]),
        await send(client, setup, "no_params", templateParams=[]),
    ]
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        statuses = {str(m.id): m.status for m in (await session.execute(select(Message))).scalars()}
    assert {statuses[i] for i in ids} == {"read"}


async def test_sandbox_rejects_a_payload_that_does_not_fit_the_template(client, db, dispatcher):
    """If the template changed after the message was queued, the sandbox fails it like Meta (132000)."""
    setup = await make_project(db)
    message_id = await send(client, setup)
    async with db.transaction() as session:
        await session.execute(
            update(Template).where(Template.project_id == setup.project_id, Template.name == "order_update")
            .values(components=[{"type": "BODY", "text": "Only {{1}} now"}])
        )
    await dispatcher.run_until_idle()
    response = await client.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {setup.api_key}"})
    data = response.json()
    assert data["status"] == "failed"
    assert data["error"]["code"] == 132000
    assert "does not match" in data["error"]["meaning"]


async def test_paused_template_holds_sends_instead_of_failing(client, db, dispatcher):
    setup = await make_project(db)
    async with db.transaction() as session:
        await session.execute(update(Template).where(Template.project_id == setup.project_id, Template.name == "order_update").values(status="PAUSED"))
    message_id = await send(client, setup)
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(message_id))
    assert message.status == "queued"
    assert "PAUSED" in message.held_reason
    assert message.attempts == 0


async def test_message_lookup_needs_a_key(client, db):
    setup = await make_project(db)
    message_id = await send(client, setup)
    response = await client.get(f"/api/v1/messages/{message_id}")
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"
    response = await client.get(f"/api/v1/messages/{message_id}", headers={"Authorization": "Bearer wac_wrong"})
    assert response.status_code == 401
    response = await client.get("/api/v1/messages/not-a-uuid", headers={"Authorization": f"Bearer {setup.api_key}"})
    assert response.status_code == 404 and response.json()["code"] == "MESSAGE_NOT_FOUND"


async def test_dispatcher_loop_delivers_while_running(client, db, dispatcher):
    import asyncio

    setup = await make_project(db)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        message_id = await send(client, setup)
        for _ in range(200):
            async with db.sessionmaker() as session:
                message = await session.get(Message, uuid.UUID(message_id))
            if message.status == "read":
                break
            await asyncio.sleep(0.05)
        assert message.status == "read"
    finally:
        stop.set()
        await task


async def test_pair_rate_spaces_messages_to_one_recipient(client, db, dispatcher):
    """A burst of 3 to one person goes at once; the rest wait for the pair rate, not failed."""
    setup = await make_project(db)
    ids = [await send(client, setup, destination="+917428526285") for _ in range(5)]
    await dispatcher.run_until_idle()
    async with db.sessionmaker() as session:
        rows = {str(m.id): m for m in (await session.execute(select(Message))).scalars()}
    assert sorted(rows[i].status for i in ids) == ["queued", "queued", "read", "read", "read"]
    waiting = [rows[i] for i in ids if rows[i].status == "queued"]
    assert all(m.next_attempt_at > m.created_at and m.attempts == 0 for m in waiting)
