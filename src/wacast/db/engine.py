"""Engine and sessions for both backends: embedded SQLite (WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from wacast.config import async_url, sqlite_path_of

__all__ = ["Database", "async_url", "create_engine", "is_sqlite", "sqlite_path_of"]


def is_sqlite(engine_or_url: AsyncEngine | str) -> bool:
    if isinstance(engine_or_url, str):
        return make_url(async_url(engine_or_url)).get_backend_name() == "sqlite"
    return engine_or_url.dialect.name == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """The engine of a database URL. `hide_parameters`: a database error's text never carries
    the statement's values (phone numbers, names, an uploaded file's rows) into a log line."""
    url = async_url(url)
    if is_sqlite(url):
        path = sqlite_path_of(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, pool_size=20, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; only an OS crash or power
        # loss can roll back the last transactions. Stated in the README.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn):  # noqa: ANN001
        # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads and
        # then writes can fail at once with SQLITE_BUSY when another connection wrote in
        # between; taking the lock first makes writers queue on busy_timeout instead.
        # Database.read() sessions only read: a deferred BEGIN lets them run beside the writer.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("wacast_read_only") else "BEGIN IMMEDIATE")


class WriteGate:
    """SQLite's writers of one process, queued on the event loop in arrival order.

    SQLite has one writer at a time. Without the gate, every writer of the process (accepted
    requests, the dispatcher's claims and outcomes, status events, the broadcast fan-out)
    takes its own BEGIN IMMEDIATE and waits in SQLite's busy handler, which sleeps up to
    100 ms between tries: the lock sits idle while a waiter sleeps, and throughput collapses
    as soon as two loops write. Behind the gate a writer starts the moment the previous one
    commits. Re-entrant per task: a transaction opened inside another by the same task goes
    through (as before, SQLite itself then decides).

    Writers of other processes (a `wacast worker`, the CLI) still meet at SQLite's lock."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield
            return
        await self._lock.acquire()
        self._owner = task
        try:
            yield
        finally:
            self._owner = None
            self._lock.release()


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.write_gate = WriteGate() if is_sqlite(self.engine) else None
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; the option tells SQLite's begin hook to take no write lock (read()).
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(wacast_read_only=True), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit at the end, roll back on any error. On SQLite it waits
        its turn behind the process's other writers first (WriteGate)."""
        if self.write_gate is None:
            async with self.sessionmaker() as session, session.begin():
                yield session
            return
        async with self.write_gate.hold(), self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit: no BEGIN IMMEDIATE, so on SQLite it takes no write lock and never
        waits for the writer; whatever it did is rolled back at the end. What it loaded stays
        readable afterwards (detached first: a rollback would expire it)."""
        async with self.read_sessionmaker() as session:
            try:
                yield session
            finally:
                session.expunge_all()
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
