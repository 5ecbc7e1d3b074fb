"""Every webhook field Meta sends is counted, used or not (whatsapp/event_kinds.py): Meta's
own "Group Create Message" example (its OpenAPI file), message echoes and a security event
posted signed are counted as handled="false", shown in the dashboard's settings with what they
are and why wacast does not use them, and logged once per process; statuses count as messages,
handled="true". One upsert per distinct field per batch, never one per event. The stored bodies
are forgotten after the documented retention. Both backends."""

from __future__ import annotations

import copy
import functools
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event, select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.cloud import make_cloud_project
from wacast.kit.clock import utcnow
from wacast.models.messages import InboundEvent
from wacast.models.meta_events import MetaEventKind
from wacast.whatsapp import event_kinds
from wacast.whatsapp.event_kinds import FieldCounts
from wacast.whatsapp.inbound import InboundEvents

SPEC = Path(__file__).resolve().parents[1] / "meta_openapi" / "business-messaging-api_v23.0.yaml"
PHONE_ID = "1098765"


@functools.lru_cache(maxsize=1)
def _spec() -> dict:
    with SPEC.open() as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def meta_example(name: str) -> dict[str, Any]:
    """One of the webhook examples of Meta's OpenAPI file, by its name, as Meta wrote it."""
    def find(node: Any) -> Any:
        if isinstance(node, dict):
            if name in node and isinstance(node[name], dict) and "value" in node[name]:
                return node[name]["value"]
            for child in node.values():
                if (found := find(child)) is not None:
                    return found
        elif isinstance(node, list):
            for child in node:
                if (found := find(child)) is not None:
                    return found
        return None

    example = find(_spec()["paths"])
    assert example is not None, name
    return copy.deepcopy(example)


def echo_body(n: int = 0) -> dict[str, Any]:
    """A message echo (webhooks/reference/smb_message_echoes: the same shape under message_echoes)."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "message_echoes", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "message_echoes": [{"from": "15550783881", "to": "16505551234", "id": f"wamid.ECHO{n}", "timestamp": "1739321024",
                            "type": "text", "text": {"body": "Here's the info you requested!"}}]}}]}]}


def security_body(n: int = 0) -> dict[str, Any]:
    """webhooks/reference/security: a number's two-step verification PIN changed."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1739321024 + n, "changes": [{
        "field": "security", "value": {"display_phone_number": "15550783881", "event": "PIN_CHANGED", "requester": "2514900000"}}]}]}


def group_body(n: int) -> dict[str, Any]:
    group = meta_example("Group Create Message")
    group["entry"][0]["changes"][0]["value"]["groups"][0]["request_id"] = f"784D93D0C468593037EA0B1ECA245D{n:02d}"
    return group


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "metrics_cache_seconds": 0})


@pytest.fixture(autouse=True)
def new_process(monkeypatch):  # noqa: ANN001, ANN201
    """Each test is a process that has logged no unused field yet."""
    monkeypatch.setattr(event_kinds, "_logged", set())


async def post(fake_meta, client, payload) -> None:  # noqa: ANN001
    response = await fake_meta.post_webhook(payload, client=client)
    assert response.status_code == 200, response.text


async def kinds(db) -> dict[str, tuple[bool, int]]:  # noqa: ANN001
    async with db.sessionmaker() as session:
        return {t.field: (t.handled, t.count) for t in await event_kinds.totals(session)}


def status(fake_meta, n: int) -> dict:  # noqa: ANN001
    return fake_meta.status_body(None, "delivered", phone_number_id=PHONE_ID, wamid=f"wamid.NOBODY{n}", message_id=str(uuid.uuid4()),
                                 timestamp=int(time.time()) + n)


async def test_unused_fields_are_counted_shown_and_logged_once(client, db, settings, fake_meta, caplog):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    caplog.set_level(logging.INFO, logger="wacast.events")
    inbound = InboundEvents(db, settings)
    example = meta_example("Group Create Message")
    assert example["entry"][0]["changes"][0]["field"] == "group_lifecycle_update"
    await post(fake_meta, client, example)  # Meta's example verbatim
    await post(fake_meta, client, echo_body())
    await post(fake_meta, client, security_body())
    await post(fake_meta, client, status(fake_meta, 1))
    await post(fake_meta, client, status(fake_meta, 2))
    assert await inbound.tick() == 5
    await post(fake_meta, client, group_body(2))  # another group event, in a later batch
    assert await inbound.tick() == 1

    assert await kinds(db) == {"group_lifecycle_update": (False, 2), "message_echoes": (False, 1), "security": (False, 1),
                               "messages": (True, 2)}
    logged = [r.getMessage() for r in caplog.records if "wacast does not use it" in r.getMessage()]
    assert len(logged) == 3 and all(r.levelno == logging.INFO for r in caplog.records if "does not use it" in r.getMessage())
    assert sum(m.startswith("Meta webhook field group_lifecycle_update received; wacast does not use it") for m in logged) == 1
    assert any("security" in m and "PIN" in m for m in logged)
    # Every stored body was processed and says what it was.
    async with db.sessionmaker() as session:
        stored = (await session.execute(select(InboundEvent))).scalars().all()
    assert len(stored) == 6 and all(e.processed_at is not None for e in stored)
    assert sum("field group_lifecycle_update ignored" in (e.note or "") for e in stored) == 2

    # What /metrics renders from these totals (ops/snapshot.families adds this family).
    async with db.sessionmaker() as session:
        family = event_kinds.metric_family(await event_kinds.totals(session))
    samples = {(s.labels["field"], s.labels["handled"]): s.value for s in family.samples if s.name == "wacast_webhook_events_total"}
    assert samples[("group_lifecycle_update", "false")] == 2 and samples[("messages", "true")] == 2

    # The dashboard's settings: owners see what each unused field is, why, how many, when.
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    page = (await client.get("/settings")).text
    assert "Events received but not used" in page
    section = page[page.index('id="meta-events"'):]
    row = section[section.index('data-field="group_lifecycle_update"'):]
    row = row[: row.index("</tr>")]
    assert "A WhatsApp group was created or deleted" in row and "Not used: wacast does not use groups." in row and "<td>2</td>" in row
    assert 'data-field="message_echoes"' in section and 'data-field="security"' in section
    assert "Not used: wacast does not manage the number&#39;s PIN." in section
    used = section[section.index('id="meta-events-used"'):]
    assert "<code>messages</code> 2" in used[: used.index("</p>")]


async def test_metrics_count_each_field_by_handled(client, db, settings, fake_meta):
    await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    await post(fake_meta, client, meta_example("Group Create Message"))
    await post(fake_meta, client, status(fake_meta, 1))
    await InboundEvents(db, settings).tick()
    exposition = (await client.get("/metrics", headers={"Authorization": f"Bearer {settings.metrics_token}"})).text
    assert 'wacast_webhook_events_total{field="group_lifecycle_update",handled="false"} 1.0' in exposition
    assert 'wacast_webhook_events_total{field="messages",handled="true"} 1.0' in exposition


async def test_a_batch_costs_one_statement_per_field_never_one_per_event(client, db, settings, fake_meta):
    await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    for n in range(10):
        await post(fake_meta, client, group_body(n))
        await post(fake_meta, client, security_body(n))
        await post(fake_meta, client, status(fake_meta, n))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if "meta_event_kinds" in statement:
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        assert await InboundEvents(db, settings).tick(limit=100) == 30
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert len(statements) == 3, statements
    assert await kinds(db) == {"group_lifecycle_update": (False, 10), "security": (False, 10), "messages": (True, 10)}


async def test_counts_add_up_and_remember_first_and_last_seen(db):
    first, later = utcnow() - timedelta(hours=2), utcnow()
    batch = FieldCounts()
    batch.add("calls", False, 3)
    batch.add("messages", True, 5)
    async with db.transaction() as session:
        await event_kinds.record(session, batch, now=first)
    batch = FieldCounts()
    batch.add("calls", False)
    async with db.transaction() as session:
        await event_kinds.record(session, batch, now=later)
        await event_kinds.record(session, FieldCounts(), now=later)  # an empty batch writes nothing
    async with db.sessionmaker() as session:
        rows = {r.field: r for r in (await session.execute(select(MetaEventKind))).scalars()}
    assert (rows["calls"].count, rows["calls"].handled, rows["messages"].count) == (4, False, 5)
    assert abs((rows["calls"].first_seen_at - first).total_seconds()) < 1 and abs((rows["calls"].last_seen_at - later).total_seconds()) < 1
    assert abs((rows["messages"].last_seen_at - first).total_seconds()) < 1


async def test_stored_events_are_forgotten_after_the_retention(db):
    now = utcnow()
    rows = {"old": now - timedelta(days=40), "recent": now - timedelta(days=10), "days_ago": now - timedelta(days=3)}
    async with db.transaction() as session:
        for name, processed in rows.items():
            session.add(InboundEvent(source="meta", dedupe_key=name, body={"entry": []}, received_at=processed, processed_at=processed))
        session.add(InboundEvent(source="meta", dedupe_key="pending", body={"entry": []}, received_at=now - timedelta(days=90)))
        batch = FieldCounts()
        batch.add("history", False)
        await event_kinds.record(session, batch)

    async def keys() -> set[str]:
        async with db.sessionmaker() as session:
            return set((await session.execute(select(InboundEvent.dedupe_key))).scalars())

    async with db.transaction() as session:
        assert await event_kinds.purge_stored_events(session, 0, now=now) == 0  # 0: kept for ever
    async with db.transaction() as session:
        assert await event_kinds.purge_stored_events(session, 30, now=now) == 1
    assert await keys() == {"recent", "days_ago", "pending"}
    async with db.transaction() as session:  # never fewer than 8 days: Meta retries for 7
        assert await event_kinds.purge_stored_events(session, 1, now=now) == 1
    assert await keys() == {"days_ago", "pending"}, "unprocessed bodies are never purged"
    assert await kinds(db) == {"history": (False, 1)}, "the counts stay"
