"""What every `wacast` command shares: consoles, common options, running against the
database, printing text or JSON, the project named by --project."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import typer
from alembic.script import ScriptDirectory
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import make_url

from wacast.config import Settings, get_settings, sqlite_path_of
from wacast.db.engine import Database, async_url
from wacast.db.migrate import alembic_config, current_revision, head_revision
from wacast.kit.crypto import SecretKeyError
from wacast.kit.errors import WacastError
from wacast.ops.config_check import ConfigError, load
from wacast.projects import service as projects
from wacast.runtime import provide_interfaces

console = Console()
err_console = Console(stderr=True)
JsonOpt = typer.Option(False, "--json", help="Print JSON.")
ProjectOpt = typer.Option(..., "--project", help="Project name.")
MIGRATE_HINT = "run `wacast migrate` with this WACAST_DATABASE_URL"


class DatabaseNotReady(Exception):
    """The configured database is missing, unreachable or not at this wacast's schema; the
    message is the one line that says which database and what to run."""


def fail(message: str, code: int = 2) -> NoReturn:
    """`error: <message>` on stderr as one line (never wrapped at the terminal's width), then exit."""
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def database_label(url: str) -> str:
    """The database URL as configured, its password hidden; a relative SQLite path also as the
    file it names (relative to the current folder)."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (any unparseable URL: name the setting, never its text)
        return "WACAST_DATABASE_URL (not a valid URL)"
    path = sqlite_path_of(url)
    if path is not None and not path.is_absolute():
        shown += f" (the file {path.resolve()}: a relative path is relative to the current folder)"
    return shown


def missing_database_file(url: str) -> str | None:
    """The line for a SQLite file that does not exist (checked before any engine is made, so
    that no stray `./data/wacast.db` appears in whatever folder the command ran in)."""
    try:
        path = sqlite_path_of(url)
    except Exception:  # noqa: BLE001 (a bad URL is reported when the engine is made)
        return None
    if path is None or path.exists():
        return None
    return (f"no database at {database_label(url)}: run `wacast migrate` to create it there, "
            "or set WACAST_DATABASE_URL to your database")


async def schema_problem(db: Database) -> str | None:
    """The line for a database that cannot be reached, has no wacast tables or is at an older
    schema than this wacast's; None when it is at this wacast's revision (or at one this
    wacast does not know: a newer schema, which the old code keeps working on during an upgrade)."""
    label = database_label(db.url)
    try:
        # A read: on SQLite no BEGIN IMMEDIATE, so the check never waits for a busy writer.
        current = await asyncio.wait_for(current_revision(db.engine.execution_options(wacast_read_only=True)), 15)
    except Exception as error:  # noqa: BLE001 (whatever the driver raises: refused, unknown database, auth)
        cause = getattr(error, "orig", None) or error  # the driver's error, not SQLAlchemy's wrapper
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
        return (f"cannot reach the database {label} ({reason}); "
                "check WACAST_DATABASE_URL and that the database server is up")
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return f"the database {label} has no wacast tables: {MIGRATE_HINT}"
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if current not in known:
        return None
    return f"the database {label} is at schema revision {current}, this wacast needs {head}: {MIGRATE_HINT}"


async def database_problem(url: str) -> str | None:
    """Every check of a database URL, for a command that makes its own engine later (`serve`)."""
    missing = missing_database_file(url)
    if missing is not None:
        return missing
    db = Database(url)
    try:
        return await schema_problem(db)
    finally:
        await db.dispose()


def run(work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Run `work(db)` on the configured database. A database that is missing, unreachable or
    not migrated is one line naming it and what to run (exit 2), before any work; a wacast
    error is printed on one line and exits 2."""

    url = get_settings().database_url

    async def main() -> Any:
        provide_interfaces()
        missing = missing_database_file(url)
        if missing is not None:
            raise DatabaseNotReady(missing)
        db = Database(url)
        try:
            problem = await schema_problem(db)
            if problem is not None:
                raise DatabaseNotReady(problem)
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except DatabaseNotReady as error:
        fail(str(error))
    except WacastError as error:
        fail(error.message)
    except SecretKeyError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


def checked_settings() -> Settings:
    """The settings, or every configuration problem on its own line and exit 2."""
    try:
        return load()
    except ConfigError as error:
        for problem in error.problems:
            print(f"config error: {problem}", file=sys.stderr)
        raise typer.Exit(2) from None


def emit(data: dict[str, Any], as_json: bool, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, default=str, indent=2))
    else:
        console.print(text if text is not None else "\n".join(f"{k}: {v}" for k, v in data.items()))


def safe_url(url: str) -> str:
    return make_url(async_url(url)).render_as_string(hide_password=True)


async def project_by_name(session: Any, name: str) -> Any:
    return await projects.get_by_name(session, name)
