"""The periodic template sync (templates/sync.py `TemplateSync`), against the fake Meta: every
WACAST_TEMPLATE_SYNC_MINUTES each Cloud API project's templates are synced, held sends of a
template approved again go at once, one process syncs a project, a failed sync is retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.support.cloud import make_cloud_project
from wacast.kit.clock import utcnow
from wacast.models.contacts import Contact
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates.sync import TemplateSync


@pytest.fixture
def settings(settings, fake_meta):
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


async def templates_of(db, project_id) -> dict[str, Template]:
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Template).where(Template.project_id == project_id))).scalars().all()
    return {t.name: t for t in rows}


async def age_sync(db, project_id, **ago) -> None:
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == project_id).values(templates_synced_at=utcnow() - timedelta(**ago)))


async def synced_at(db, project_id):
    async with db.read() as session:
        return (await session.execute(select(Project.templates_synced_at).where(Project.id == project_id))).scalar_one()


async def test_periodic_sync(db, settings, fake_meta):
    """What the dispatcher did (test_periodic_sync_in_the_dispatcher), now its own loop."""
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    loop = TemplateSync(db, settings)
    listings = len(fake_meta.template_requests)
    assert await loop.tick() == 0 and len(fake_meta.template_requests) == listings, "synced just now: not again"
    fake_meta.set_status("order_update", "DISABLED")
    await age_sync(db, setup.project_id, minutes=61)
    assert await loop.tick() == 1, "WACAST_TEMPLATE_SYNC_MINUTES (60) passed: a sync runs"
    assert len(fake_meta.template_requests) > listings
    assert (await templates_of(db, setup.project_id))["order_update"].status == "DISABLED"
    assert utcnow() - await synced_at(db, setup.project_id) < timedelta(minutes=1)
    assert await loop.tick() == 0

    # WACAST_TEMPLATE_SYNC_MINUTES=0 turns it off.
    loop = TemplateSync(db, settings.model_copy(update={"template_sync_minutes": 0}))
    await age_sync(db, setup.project_id, days=3)
    listings = len(fake_meta.template_requests)
    assert await loop.tick() == 0 and len(fake_meta.template_requests) == listings


async def test_held_sends_go_once_their_template_is_approved_again(db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    template = (await templates_of(db, setup.project_id))["order_update"]
    later = utcnow() + timedelta(hours=1)
    async with db.transaction() as session:
        await session.execute(update(Template).where(Template.id == template.id).values(status="PAUSED"))
        contact = Contact(project_id=setup.project_id, phone="+919900000001")
        session.add(contact)
        await session.flush()
        held = Message(project_id=setup.project_id, contact_id=contact.id, template_id=template.id, destination=contact.phone,
                       payload={"template": "order_update"}, held_reason="template order_update is PAUSED", next_attempt_at=later)
        session.add(held)
    await age_sync(db, setup.project_id, minutes=61)
    assert await TemplateSync(db, settings).tick() == 1
    async with db.read() as session:
        due = (await session.execute(select(Message.next_attempt_at).where(Message.id == held.id))).scalar_one()
    assert due < later - timedelta(minutes=30), "APPROVED again at Meta: the held send is due now"


async def test_one_process_syncs_a_project(db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    await make_cloud_project(db, settings, fake_meta, "other", phone_number_id="2098765", campaigns_for=())
    await age_sync(db, setup.project_id, minutes=61)
    listings = len(fake_meta.template_requests)
    first, second = TemplateSync(db, settings), TemplateSync(db, settings)
    assert sorted(await asyncio.gather(first.tick(), second.tick())) == [0, 1]
    per_sync = (len(fake_meta.template_requests) - listings)
    assert per_sync >= 1
    assert await first.tick() == 0 and await second.tick() == 0
    assert len(fake_meta.template_requests) - listings == per_sync, "the other process found it synced"


async def test_a_failed_sync_is_retried_later_and_keeps_the_last_sync_time(db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == setup.project_id).values(access_token="expired-token"))
    await age_sync(db, setup.project_id, minutes=90)
    before = await synced_at(db, setup.project_id)
    loop = TemplateSync(db, settings)
    assert await loop.tick() == 1, "tried (Meta refused the token)"
    assert await synced_at(db, setup.project_id) == before, "`wacast doctor` still sees the last good sync"
    listings = len(fake_meta.template_requests)
    assert await loop.tick() == 0 and len(fake_meta.template_requests) == listings, "not again before 5 minutes"
    loop.attempted.clear()  # five minutes later
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == setup.project_id).values(access_token=fake_meta.token))
    assert await loop.tick() == 1
    assert await synced_at(db, setup.project_id) > before


async def test_run_stops_when_asked(db, settings, fake_meta):
    await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    loop = TemplateSync(db, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    loop.wake.set()
    await asyncio.wait_for(task, 5)
