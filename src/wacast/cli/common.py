"""What every `wacast` command shares: consoles, common options, running against the
database, printing text or JSON, the project named by --project."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from wacast.config import Settings, get_settings
from wacast.db.engine import Database, async_url
from wacast.kit.crypto import SecretKeyError
from wacast.kit.errors import WacastError
from wacast.ops.config_check import ConfigError, load
from wacast.projects import service as projects
from wacast.runtime import provide_interfaces

console = Console()
err_console = Console(stderr=True)
JsonOpt = typer.Option(False, "--json", help="Print JSON.")
ProjectOpt = typer.Option(..., "--project", help="Project name.")


def run(work: Callable[[Database], Awaitable[Any]]) -> Any:
    """Run `work(db)` on the configured database; a wacast error is printed and exits 2."""

    async def main() -> Any:
        provide_interfaces()
        db = Database(get_settings().database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except WacastError as error:
        err_console.print(f"[red]error:[/red] {error.message}")
        raise typer.Exit(2) from None
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
