"""Database preparation for the benchmarks: a fresh schema, seeded through wacast's own
services, and a quick Core-SQL backlog of queued messages."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, text, update

from wacast.db.engine import Database, create_engine, is_sqlite, sqlite_path_of
from wacast.db.migrate import upgrade

TEMPLATE = {"name": "order_update", "language": "en", "category": "UTILITY", "status": "APPROVED",
            "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}]}


@dataclass
class Seeded:
    api_key: str
    campaign: str
    projects: list[tuple[uuid.UUID, str]]  # (project id, phone_number_id)
    campaign_ids: dict[uuid.UUID, uuid.UUID]
    template_ids: dict[uuid.UUID, uuid.UUID]


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def fresh_database(url: str) -> None:
    if is_sqlite(url):
        path = sqlite_path_of(url)
        for suffix in ("", "-wal", "-shm"):
            p = path.with_name(path.name + suffix)
            if p.exists():
                p.unlink()
    else:
        asyncio.run(_reset_postgres(url))
    upgrade(url)


async def seed(url: str, senders: int = 1, mps: int = 80, cloud: bool = False) -> Seeded:
    """`senders` projects (one sender number each), a live campaign on a 2-parameter template."""
    from wacast.api_keys import service as api_keys
    from wacast.campaigns import service as campaigns
    from wacast.contacts import repository as contacts
    from wacast.projects import service as projects
    from wacast.templates import service as templates

    db = Database(url)
    out: list[tuple[uuid.UUID, str]] = []
    campaign_ids, template_ids = {}, {}
    key = ""
    try:
        async with db.transaction() as session:
            for i in range(senders):
                pnid = f"10{i:04d}"
                options = {"phone_number_id": pnid, "access_token": f"token-{i}"} if cloud else {}
                project = await projects.create(session, f"bench{i}", default_country="IN", messages_per_second=mps, **options)
                template = await templates.add_from_definition(session, project, TEMPLATE)
                campaign = await campaigns.create(session, project.id, "orders", "order_update", live=True)
                await contacts.create_tags(session, project.id, ["customer"])
                await contacts.create_attributes(session, project.id, ["city"])
                if i == 0:
                    _, key = await api_keys.create_key(session, project.id, "full", "bench")
                out.append((project.id, pnid))
                campaign_ids[project.id] = campaign.id
                template_ids[project.id] = template.id
    finally:
        await db.dispose()
    return Seeded(key, "orders", out, campaign_ids, template_ids)


async def set_rate(url: str, mps: int) -> None:
    from wacast.models.projects import Project

    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.execute(update(Project).values(messages_per_second=mps))
    finally:
        await db.dispose()


async def clear_messages(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        if is_sqlite(url):
            for table in ("message_events", "inbound_events", "messages", "contact_tags", "contacts", "sender_leases", "workers"):
                await conn.execute(text(f"DELETE FROM {table}"))
        else:
            await conn.execute(text("TRUNCATE message_events, inbound_events, messages, contact_tags, contacts, sender_leases, workers CASCADE"))
    await engine.dispose()


async def insert_backlog(url: str, seeded: Seeded, count: int, chunk: int = 5000) -> None:
    """`count` queued messages spread over the projects, distinct destinations, Core SQL."""
    from wacast.kit.clock import utcnow
    from wacast.models.contacts import Contact
    from wacast.models.messages import Message

    db = Database(url)
    now = utcnow()
    try:
        for start in range(0, count, chunk):
            contacts, messages = [], []
            for n in range(start, min(count, start + chunk)):
                project_id, _ = seeded.projects[n % len(seeded.projects)]
                contact_id = uuid.uuid4()
                phone = f"+91{9800000000 + n}"
                contacts.append({"id": contact_id, "project_id": project_id, "phone": phone, "name": f"Customer {n}", "source": "bench",
                                 "opted_in": True, "blocked": False, "attributes": {}, "created_at": now, "updated_at": now})
                messages.append({
                    "id": uuid.uuid4(), "project_id": project_id, "campaign_id": seeded.campaign_ids[project_id],
                    "contact_id": contact_id, "template_id": seeded.template_ids[project_id], "destination": phone,
                    "payload": {"template": "order_update", "language": "en", "category": "UTILITY", "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": f"Customer {n}"}, {"type": "text", "text": f"ORD-{n}"}]}]},
                    "status": "queued", "priority": 0, "attempts": 0, "next_attempt_at": now, "created_at": now,
                })
            async with db.transaction() as session:
                await session.execute(insert(Contact), contacts)
                await session.execute(insert(Message), messages)
    finally:
        await db.dispose()


async def count_status(url: str) -> dict[str, int]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT status, count(*) FROM messages GROUP BY status"))).all()
    await engine.dispose()
    return {r[0]: r[1] for r in rows}


async def sent_wamids(url: str, limit: int) -> list[tuple[str, str]]:
    """(wamid, the phone_number_id of the number that sent it) of up to `limit` sent messages."""
    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT m.wamid, p.phone_number_id FROM messages m JOIN projects p ON p.id = m.project_id "
                                        "WHERE m.wamid IS NOT NULL LIMIT :n"), {"n": limit})).all()
    await engine.dispose()
    return [(r[0], r[1]) for r in rows]


def now() -> Any:
    """wacast's clock (UTC), which writes received_at and processed_at."""
    from wacast.kit.clock import utcnow
    return utcnow()


async def inbound_lag(url: str, since: Any, wait_seconds: float) -> dict[str, float]:
    """Stored-to-applied lag of the inbound events received after `since`, once they are all
    applied (or `wait_seconds` passed): p50 and p99 in seconds, and how many were left."""
    from sqlalchemy import select

    from wacast.models.messages import InboundEvent
    db = Database(url)
    try:
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            async with db.sessionmaker() as session:
                rows = (await session.execute(select(InboundEvent.received_at, InboundEvent.processed_at)
                                              .where(InboundEvent.received_at >= since))).all()
            pending = sum(1 for _, done in rows if done is None)
            if pending == 0 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await db.dispose()
    lags = sorted((done - got).total_seconds() for got, done in rows if done is not None)
    if not lags:
        return {"p50": 0.0, "p99": 0.0, "pending": pending}
    return {"p50": lags[len(lags) // 2], "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))], "pending": pending}


async def mint_links(url: str, seeded: Seeded, count: int, chunk: int = 5000) -> list[str]:
    """A tracked link for each of `count` queued messages (insert_backlog first), minted by
    wacast's own service as the send path does; their tokens."""
    from sqlalchemy import select

    from wacast.links import service as links
    from wacast.models.messages import Message

    db = Database(url)
    tokens: list[str] = []
    try:
        async with db.read() as session:
            rows = (await session.execute(select(Message.id, Message.project_id, Message.campaign_id, Message.contact_id).limit(count))).all()
        for start in range(0, len(rows), chunk):
            async with db.transaction() as session:
                for row in rows[start : start + chunk]:
                    tokens += await links.mint(session, project_id=row.project_id, campaign_id=row.campaign_id, campaign_name="orders",
                                               campaign_tracking=None, message_id=row.id, contact_id=row.contact_id,
                                               links=[links.LinkToMint(f"https://shop.example/orders/{row.id}", 0)])
    finally:
        await db.dispose()
    return tokens
