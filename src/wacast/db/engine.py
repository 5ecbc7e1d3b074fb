"""Engine and sessions for both backends: embedded SQLite (WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
    """SQLite's writers queued in arrival order: those of this process on the event loop, and
    the processes on one database file (`wacast serve` and the worker it starts) by an flock
    on a file beside it.

    SQLite has one writer at a time. Without the gate, every writer (accepted requests, the
    dispatcher's claims and outcomes, status events, the broadcast fan-out) takes its own
    BEGIN IMMEDIATE and waits in SQLite's busy handler, which sleeps up to 100 ms between
    tries: the lock sits idle while a waiter sleeps, and throughput collapses as soon as two
    loops write. Behind the gate a writer starts the moment the previous one commits (the
    kernel wakes the process waiting on the flock). Re-entrant per task: a transaction opened
    inside another by the same task goes through (as before, SQLite itself then decides).

    Other programs on the file (the CLI, a backup) still meet at SQLite's own lock."""

    def __init__(self, lock_path: Path | None = None) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task | None = None
        self._lock_path = lock_path
        self._fd: int | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and self._owner is task:
            yield
            return
        await self._lock.acquire()
        try:
            await self._lock_file()
        except BaseException:
            self._lock.release()
            raise
        self._owner = task
        try:
            yield
        finally:
            self._owner = None
            self._unlock_file()
            self._lock.release()

    async def _lock_file(self) -> None:
        if self._lock_path is None:
            return
        if self._fd is None:
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no thread needed
            return
        except BlockingIOError:
            pass
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, self._fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread may still get the lock: give it back then, or every process stalls.
            waiting.add_done_callback(lambda done: None if done.cancelled() or done.exception() else self._unlock_file())
            raise

    def _unlock_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class LazySession:
    """Stands in for an AsyncSession that is only created when something is asked of it."""

    __slots__ = ("_factory", "_session")

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._session: AsyncSession | None = None

    def __getattr__(self, name: str):  # noqa: ANN204 (whatever the session's attribute is)
        if self._session is None:
            self._session = self._factory()
        return getattr(self._session, name)

    async def finish(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            session.expunge_all()
            await session.rollback()
        finally:
            await session.close()


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.write_gate = None
        if is_sqlite(self.engine):
            path = sqlite_path_of(url)
            self.write_gate = WriteGate(path.with_name(path.name + "-writers.lock") if path is not None else None)
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
        its turn behind the other writers first (WriteGate)."""
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
        readable afterwards (detached first: a rollback would expire it).

        The session is made on first use (LazySession): the campaign API's reads are mostly
        answered from its caches (key, campaign, attribute names), and building and closing
        an unused AsyncSession was 11 % of an accepted request's CPU on PostgreSQL."""
        lazy = LazySession(self.read_sessionmaker)
        try:
            yield lazy  # type: ignore[misc]  (an AsyncSession in every way a caller sees)
        finally:
            await lazy.finish()

    async def dispose(self) -> None:
        await self.engine.dispose()
