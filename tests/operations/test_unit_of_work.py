"""The unit of work at the HTTP edge (db/requests.py): a WriteSession commits before the
response is sent, so a commit that fails never follows a 200; a ReadSession takes no write
lock on SQLite, so a writer goes ahead while a read is open.

Each test serves a real FastAPI app whose endpoints use the dependencies, on a real database."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from wacast.db.engine import Database
from wacast.db.requests import ReadSession, WriteSession
from wacast.models.projects import Project
from wacast.projects import service as projects


class CommitRefused(Exception):
    pass


def _app(db: Database) -> tuple[FastAPI, dict[str, asyncio.Event]]:
    app = FastAPI()
    app.state.db = db
    gates = {"reading": asyncio.Event(), "release": asyncio.Event()}

    @app.post("/projects/{name}")
    async def create(name: str, session: WriteSession, refuse: bool = False) -> dict:
        if refuse:
            def refuse_commit(_session) -> None:
                raise CommitRefused("the database refused the commit")

            event.listen(session.sync_session, "before_commit", refuse_commit)
        project = await projects.create(session, name)
        return {"id": str(project.id)}

    @app.get("/projects")
    async def count(session: ReadSession) -> dict:
        n = (await session.execute(select(func.count()).select_from(Project))).scalar_one()
        gates["reading"].set()
        await gates["release"].wait()  # the read stays open while the test writes
        return {"count": n}

    return app, gates


async def _count(db: Database, name: str) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Project).where(Project.name == name))).scalar_one()


@pytest.fixture
async def served(db_url: str) -> AsyncIterator[tuple[Database, httpx.AsyncClient, dict]]:
    db = Database(db_url)
    app, gates = _app(db)
    # raise_app_exceptions=False: the client sees what a real one would (a 500), not the exception
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://wacast.test") as client:
        yield db, client, gates
    await db.dispose()


async def test_a_write_is_committed_before_its_200(served) -> None:
    db, client, _ = served
    response = await client.post("/projects/kept")
    assert response.status_code == 200, response.text
    assert await _count(db, "kept") == 1


async def test_a_failed_commit_gives_no_200_and_leaves_no_row(served) -> None:
    db, client, _ = served
    response = await client.post("/projects/refused", params={"refuse": "true"})
    assert response.status_code >= 500, response.text
    assert await _count(db, "refused") == 0


@pytest.fixture
async def sqlite_served(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[tuple[Database, httpx.AsyncClient, dict]]:
    # SQLite only: the write lock this is about exists there (PostgreSQL readers never block writers).
    path = tmp_path / "wacast.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    app, gates = _app(db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wacast.test") as client:
        yield db, client, gates
    await db.dispose()


async def test_an_open_read_session_does_not_block_a_writer_on_sqlite(sqlite_served) -> None:
    db, client, gates = sqlite_served
    reading = asyncio.create_task(client.get("/projects"))
    await asyncio.wait_for(gates["reading"].wait(), 5)

    async def write() -> None:
        async with db.transaction() as session:
            await projects.create(session, "written-during-a-read")

    # A read that held the write lock would keep this waiting for SQLite's busy timeout (30 s).
    await asyncio.wait_for(write(), 5)
    gates["release"].set()
    response = await reading
    assert response.status_code == 200 and response.json() == {"count": 0}
    assert await _count(db, "written-during-a-read") == 1


async def test_sqlite_writers_of_one_process_take_turns_in_arrival_order(sqlite_template: Path, tmp_path: Path) -> None:
    """db/engine.WriteGate: the process's writers queue on the event loop, each starting the
    moment the one before commits, in the order they came (in SQLite's busy handler they would
    sleep and retry, and the order would be whoever woke first)."""
    path = tmp_path / "wacast.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    committed: list[int] = []
    try:
        async def write(n: int) -> None:
            async with db.transaction() as session:
                await projects.create(session, f"writer-{n}")
                await asyncio.sleep(0.01)  # hold the write lock across an await, as a request does
            committed.append(n)

        writers = []
        for n in range(12):
            writers.append(asyncio.create_task(write(n)))
            await asyncio.sleep(0)  # each starts (and asks for the lock) before the next
        await asyncio.wait_for(asyncio.gather(*writers), 20)
        assert committed == list(range(12))

        # A transaction opened inside another by the same task is not queued behind itself.
        async def nested() -> None:
            async with db.transaction() as outer:
                await projects.create(outer, "outer")
            async with db.transaction() as _first, db.transaction() as inner:
                await projects.create(inner, "inner")

        await asyncio.wait_for(nested(), 5)
        assert await _count(db, "inner") == 1
    finally:
        await db.dispose()
