"""/readyz says who (project names, sender numbers, halt texts, dispatcher ids host:pid) only to
the metrics token; anyone else gets its status, counts and reasons in general words. The same
on a worker's own /readyz, which also sees whether its dispatcher still runs."""

from __future__ import annotations

import os

import httpx
import pytest
from sqlalchemy import update

from tests.support.factories import body, make_project
from wacast.app import create_app
from wacast.models.projects import Project
from wacast.ops.worker_http import ops_app
from wacast.runtime import Supervisor

TOKEN = "readyz-token-0123456789"
WITH_TOKEN = {"Authorization": f"Bearer {TOKEN}"}
HALT = "Meta refused the sender (190): Access token has expired"


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"metrics_cache_seconds": 0, "metrics_token": TOKEN})


async def halted_shop(client, db, dispatcher) -> str:
    """A sandbox project with one queued message, served by the dispatcher, then halted."""
    setup = await make_project(db, "hidden-shop")
    assert (await client.post("/campaign/t1/api/v2", json=body(setup))).status_code == 200
    await dispatcher.refresh_leases()
    async with db.transaction() as session:
        await session.execute(update(Project).where(Project.id == setup.project_id).values(halted_reason=HALT))
    return setup.project_name


def assert_no_names(response: httpx.Response, name: str, worker_id: str) -> dict:
    text = response.text
    for secret in (name, worker_id, f":{os.getpid()}:", HALT):
        assert secret not in text, f"{secret!r} in {text}"
    return response.json()


async def test_readyz_without_the_token_gives_counts_and_reasons_only(client, db, dispatcher):
    name = await halted_shop(client, db, dispatcher)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.get("/readyz", headers=headers)
        assert response.status_code == 200
        data = assert_no_names(response, name, dispatcher.worker_id)
        assert data["status"] == "degraded" and "senders" not in data
        assert data["sender_numbers"] == {"total": 1, "ok": 0, "halted": 1, "unserved": 0, "stuck": 0, "account": 0}
        assert "1 sender number(s): sending halted (Meta refused the sender)" in data["problems"]
        assert data["checks"]["dispatcher"]["live_workers"] == 1 and "workers" not in data["checks"]["dispatcher"]

    full = await client.get("/readyz", headers=WITH_TOKEN)
    assert name in full.text and dispatcher.worker_id in full.text and HALT in full.text
    assert any(p.startswith(f"{name}: sending halted") for p in full.json()["problems"])


async def test_readyz_gives_no_names_when_no_token_is_set(settings, client, db, dispatcher):
    name = await halted_shop(client, db, dispatcher)
    open_app = create_app(settings.model_copy(update={"metrics_token": ""}), run_dispatcher=False)
    async with open_app.router.lifespan_context(open_app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=open_app), base_url="http://wacast.test") as c:
            data = assert_no_names(await c.get("/readyz"), name, dispatcher.worker_id)
            assert data["sender_numbers"]["halted"] == 1


async def test_a_workers_readyz_hides_its_id_and_sees_its_dispatcher_stop(client, db, dispatcher, settings):
    name = await halted_shop(client, db, dispatcher)
    supervisor = Supervisor([dispatcher.dispatcher], shutdown_timeout=5)
    worker = ops_app(db, settings, dispatcher.dispatcher, supervisor)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=worker), base_url="http://worker.test") as c:
        assert dispatcher.worker_id not in (await c.get("/healthz")).text
        supervisor.start()
        await dispatcher.refresh_leases()
        public = assert_no_names(await c.get("/readyz"), name, dispatcher.worker_id)
        assert public["checks"]["dispatcher"]["in_process"] == {"running": True, "last_heartbeat_seconds_ago":
                                                                public["checks"]["dispatcher"]["in_process"]["last_heartbeat_seconds_ago"], "ok": True}
        full = (await c.get("/readyz", headers=WITH_TOKEN)).json()
        assert full["checks"]["dispatcher"]["in_process"]["id"] == dispatcher.worker_id

        await supervisor.stop()  # stopped for good, its heartbeat still fresh: not running
        stopped = (await c.get("/readyz")).json()
        assert stopped["checks"]["dispatcher"]["in_process"]["running"] is False
        assert "this process's dispatcher is not running or its heartbeat is stale" in stopped["problems"]
