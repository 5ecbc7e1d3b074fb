"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL when
WACAST_TEST_DATABASE_URL is set (CI sets it and fails if any test is skipped)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.support.delivery import DeliveryDriver
from tests.support.http_server import LoopbackServer
from wacast.app import build_providers, create_app
from wacast.config import Settings
from wacast.db.engine import Database, create_engine
from wacast.db.migrate import upgrade
from wacast.messages.dispatcher import Dispatcher
from wacast.whatsapp.inbound import InboundEvents

PG_URL = os.environ.get("WACAST_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("WACAST_REQUIRE_POSTGRES") == "1" and not PG_URL:
        raise pytest.UsageError("WACAST_REQUIRE_POSTGRES=1 but WACAST_TEST_DATABASE_URL is not set")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI a skipped test is a test that did not run: fail the run.
    if os.environ.get("WACAST_REQUIRE_POSTGRES") == "1":
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
        if skipped:
            reporter.write_line(f"FAILED: {skipped} test(s) skipped; CI runs every test on both backends", red=True)
            session.exitstatus = 1


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


_pg_ready = False


def _prepare_postgres() -> None:
    global _pg_ready
    if _pg_ready:
        return

    async def reset() -> None:
        engine = create_engine(PG_URL)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())
    upgrade(PG_URL)
    _pg_ready = True


async def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        tables = (
            await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))
        ).scalars().all()
        if tables:
            await conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def db_url(backend: str, sqlite_template: Path, tmp_path: Path) -> str:
    if backend == "sqlite":
        path = tmp_path / "wacast.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    _prepare_postgres()
    asyncio.run(_truncate_postgres(PG_URL))
    return PG_URL


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=db_url,
        cache_seconds=0,
        sandbox_delivered_after=0,
        sandbox_read_after=0,
        allow_private_media_hosts=True,
        meta_app_secret="test-app-secret",
        meta_verify_token="test-verify-token",
        dispatcher_poll_seconds=0.05,
        dispatcher_join_seconds=0,  # one dispatcher per test: it takes its numbers at once (the join has its own test)
        media_check_timeout=2,
        # A loaded CI machine can take seconds over the queue snapshot; tests that read
        # /readyz assert what it says, not how fast it says it.
        readyz_timeout_seconds=60,
        secret_key="test-secret-key-for-sessions",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings, run_dispatcher=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wacast.test") as c:
        yield c


@pytest.fixture
def db(app) -> Database:
    return app.state.db


@pytest.fixture
async def dispatcher(app, settings: Settings) -> AsyncIterator[DeliveryDriver]:
    """The dispatcher and the inbound event loop, driven by the test (tests/support/delivery.py)."""
    providers = build_providers(settings)
    inbound = InboundEvents(app.state.db, settings)
    d = Dispatcher(app.state.db, settings, providers, notify_inbound=inbound.wake.set)
    app.state.wake_dispatcher = d.wake.set
    app.state.wake_inbound = inbound.wake.set
    yield DeliveryDriver(d, inbound)
    for provider in providers.values():
        await provider.close()


@pytest.fixture
def fake_meta():
    """A fake Meta Graph API, a real HTTP server on loopback (tests/support/fake_meta.py)."""
    from tests.support.fake_meta import FakeMeta

    fake = FakeMeta(app_secret="test-app-secret").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def media_server() -> LoopbackServer:
    """A real HTTP server on loopback serving media files of several types and sizes."""
    server = LoopbackServer()
    server.start()
    yield server
    server.stop()
