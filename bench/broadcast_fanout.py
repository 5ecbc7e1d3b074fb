"""A broadcast to 100,000 contacts on PostgreSQL: fan-out time and peak memory.

    python -m bench.broadcast_fanout [--contacts 100000] [--batch 500] [--send-seconds 10]

Seeds a fresh database (WACAST_BENCH_BROADCAST_PG_URL, default
postgresql://postgres@127.0.0.1:5432/test_bcast_bench): one project, a MARKETING template,
N contacts (most from "Facebook forms", with a tag and attributes), and a segment
("source = Facebook forms and tag lead and attribute city is set"). Then it runs the broadcast
engine until the whole audience is queued and reports: time, contacts queued per second,
peak Python heap during the fan-out (tracemalloc) and the process's peak RSS. The engine
never loads the audience at once: memory stays flat whatever N is (compare --contacts 10000).

With --send-seconds > 0 it then runs the dispatcher (sandbox provider) for that long with the
number's cap at 80/s, while API-campaign messages arrive, and reports the send rate and how
long API messages waited behind the broadcast. Reports, never asserts. Writes
bench/results/broadcast_fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
import tracemalloc
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select, text

from tests.support.broadcasts import run_until_fanned_out
from wacast.campaigns.broadcasts import service as broadcast
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.config import Settings
from wacast.contacts import segments
from wacast.db.engine import Database, create_engine
from wacast.db.migrate import upgrade
from wacast.kit.clock import utcnow
from wacast.models.contacts import Contact, ContactTag, Tag
from wacast.models.messages import Message
from wacast.projects import service as projects
from wacast.templates import service as templates

PG_URL = os.environ.get("WACAST_BENCH_BROADCAST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test_bcast_bench")
RESULTS = Path(__file__).resolve().parent / "results"
PROMO = {"name": "promo", "language": "en", "category": "MARKETING", "status": "APPROVED",
         "components": [{"type": "BODY", "text": "Hi {{1}}, {{2}} off in {{3}} today."}]}


async def ensure_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    base = url.rsplit("/", 1)[0] + "/postgres"
    conn = await asyncpg.connect(base)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    engine = create_engine(url)
    async with engine.begin() as c:
        await c.execute(text("DROP SCHEMA public CASCADE"))
        await c.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def seed(db: Database, n: int) -> tuple[uuid.UUID, uuid.UUID]:
    async with db.transaction() as session:
        project = await projects.create(session, "bench-broadcast", messages_per_second=80)
        await templates.add_from_definition(session, project, PROMO)
        tag_id = uuid.uuid4()
        await session.execute(insert(Tag).values(id=tag_id, project_id=project.id, name="lead", created_at=utcnow()))
        project_id = project.id
    now = utcnow()
    chunk = 5000
    for start in range(0, n, chunk):
        rows, tags = [], []
        for i in range(start, min(n, start + chunk)):
            cid = uuid.uuid4()
            rows.append({"id": cid, "project_id": project_id, "phone": f"+9180{i:08d}", "name": f"Lead {i}",
                         "source": "Facebook forms" if i % 20 else "Website", "opted_in": i % 97 != 0, "blocked": False,
                         "attributes": {"city": ["Pune", "Delhi", "Chennai"][i % 3], "first": f"L{i}"}, "created_at": now, "updated_at": now})
            tags.append({"contact_id": cid, "tag_id": tag_id})
        async with db.transaction() as session:
            await session.execute(insert(Contact), rows)
            await session.execute(insert(ContactTag), tags)
    async with db.transaction() as session:
        await session.execute(text("ANALYZE"))  # what autovacuum does after a bulk load
    async with db.transaction() as session:
        segment = await segments.create(session, project_id, "FB leads with a city", {"match": "all", "conditions": [
            {"field": "source", "op": "equals", "value": "Facebook forms"},
            {"field": "tags", "op": "any", "value": ["lead"]},
            {"field": "attribute", "name": "city", "op": "is_set"},
        ]})
        return project_id, segment.id


async def main(args: argparse.Namespace) -> dict:
    await ensure_database(PG_URL)
    await asyncio.to_thread(upgrade, PG_URL)
    settings = Settings(database_url=PG_URL, broadcast_batch_size=args.batch, environment="test")
    db = Database(PG_URL)
    started = time.perf_counter()
    project_id, segment_id = await seed(db, args.contacts)
    seed_seconds = time.perf_counter() - started
    async with db.transaction() as session:
        draft = await broadcast.prepare(session, project_id, {
            "name": "bench", "template": "promo", "segment": str(segment_id),
            "params": [{"attribute": "first", "fallback": "there"}, "20%", "$city"],
        }, csv_audience=False, defaults=settings)
        campaign = await broadcast.write(session, project_id, draft)
        campaign_id, total = campaign.id, campaign.total_count
    engine = BroadcastEngine(db, settings)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t0 = time.perf_counter()
    await run_until_fanned_out(engine, timeout=3600)
    fanout_seconds = time.perf_counter() - t0
    _, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with db.sessionmaker() as session:
        queued = (await session.execute(select(func.count()).where(Message.broadcast_id == campaign_id))).scalar_one()
        distinct = (await session.execute(select(func.count(func.distinct(Message.contact_id))).where(Message.broadcast_id == campaign_id))).scalar_one()
    result = {
        "contacts": args.contacts, "audience_sendable": total, "batch_size": args.batch, "seed_seconds": round(seed_seconds, 1),
        "fanout_seconds": round(fanout_seconds, 2), "queued": queued, "distinct_contacts": distinct,
        "queued_per_second": round(queued / fanout_seconds) if fanout_seconds else None,
        "fanout_heap_peak_mb": round(heap_peak / 2**20, 1),
        "process_peak_rss_mb_before_fanout": round(rss_before / 1024, 1), "process_peak_rss_mb_after_fanout": round(rss_after / 1024, 1),
    }
    if args.send_seconds > 0:
        result.update(await send_phase(db, settings, project_id, campaign_id, args.send_seconds))
    await db.dispose()
    return result


async def send_phase(db: Database, settings: Settings, project_id: uuid.UUID, broadcast_id: uuid.UUID, seconds: float) -> dict:
    """Dispatcher at the number's cap (80/s, sandbox) while API messages arrive every 0.5 s."""
    from wacast.app import build_providers
    from wacast.campaigns import service as campaigns
    from wacast.messages import repository as messages_repo
    from wacast.messages.dispatcher import Dispatcher

    async with db.transaction() as session:
        api = await campaigns.create(session, project_id, "api-bench", "promo", live=True)
        api_id, template_id = api.id, api.template_id
        contact_id = (await session.execute(select(Contact.id).where(Contact.project_id == project_id).limit(1))).scalar_one()
    providers = build_providers(settings.model_copy(update={"sandbox_delivered_after": 3600, "sandbox_read_after": 7200}))
    dispatcher = Dispatcher(db, settings, providers)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    api_ids = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        async with db.transaction() as session:
            mid = uuid.uuid4()
            await messages_repo.insert_queued(
                session, message_id=mid, project_id=project_id, campaign_id=api_id, contact_id=contact_id, template_id=template_id,
                destination=f"+9190{len(api_ids):08d}", payload={"template": "promo", "language": "en", "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": v} for v in ("A", "B", "C")]}]}, now=utcnow(),
            )
            api_ids.append(mid)
        dispatcher.wake.set()
        await asyncio.sleep(0.5)
    stop.set()
    await task
    for provider in providers.values():
        await provider.close()
    elapsed = time.perf_counter() - t0
    async with db.sessionmaker() as session:
        sent = (await session.execute(select(func.count()).where(Message.broadcast_id == broadcast_id, Message.status != "queued"))).scalar_one()
        waits = (await session.execute(select(Message.sent_at, Message.created_at).where(Message.id.in_(api_ids)))).all()
    waited = sorted((s - c).total_seconds() for s, c in waits if s)
    return {
        "send_seconds": round(elapsed, 1), "broadcast_sent": sent, "broadcast_sends_per_second": round(sent / elapsed, 1),
        "number_cap_per_second": 80, "api_messages": len(api_ids), "api_messages_sent": len(waited),
        "api_wait_p50_seconds": round(waited[len(waited) // 2], 3) if waited else None,
        "api_wait_max_seconds": round(waited[-1], 3) if waited else None,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--send-seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = asyncio.run(main(args))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broadcast_fanout.json").write_text(json.dumps(result, indent=2))
    for key, value in result.items():
        print(f"{key:40} {value}")


if __name__ == "__main__":
    cli()
