"""The processes and the operator's commands: migrate, serve, worker, demo, doctor, secrets."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import sys
from typing import Any

import typer
import uvicorn
from rich.markup import escape

from wacast.cli.common import (
    JsonOpt,
    ProjectOpt,
    checked_settings,
    console,
    database_label,
    database_problem,
    emit,
    err_console,
    fail,
    missing_database_file,
    run,
    safe_url,
)
from wacast.config import Settings, get_settings
from wacast.db.engine import Database
from wacast.db.migrate import head_revision, upgrade
from wacast.demo.seed import seed_demo
from wacast.kit import crypto
from wacast.kit.crypto import generate_key
from wacast.kit.logs import configure_from_settings
from wacast.ops import doctor as checks
from wacast.ops import worker_http
from wacast.ops.secrets import rotate
from wacast.runtime import Supervisor, build_loops

secrets_app = typer.Typer(help="Secrets at rest (WACAST_SECRET_KEY).", no_args_is_help=True)


def migrate(as_json: bool = JsonOpt) -> None:
    """Create or upgrade the database schema."""

    settings = checked_settings()
    upgrade(settings.database_url)
    emit({"database": safe_url(settings.database_url), "revision": head_revision()}, as_json,
         f"database migrated to {head_revision()}: {database_label(settings.database_url)}")


def _json_logs(settings: Settings, as_json: bool) -> Settings:
    """--json of `serve` and `worker`: their output is their log, one JSON object a line."""
    return settings.model_copy(update={"log_format": "json"}) if as_json else settings


def _refuse_busy_port(host: str, port: int) -> None:
    """One line, before uvicorn starts, when the address cannot be listened on (uvicorn would
    log the bind error among its start-up lines)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            fail(f"port {port} on {host} is already in use (another `wacast serve`?): stop what listens there, "
                 "or choose another port with --port or WACAST_PORT")
        fail(f"cannot listen on {host}:{port} ({error.strerror or error}): "
             "choose the address with --host / WACAST_HOST and --port / WACAST_PORT")


def uvicorn_options(settings: Any, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """How `wacast serve` runs uvicorn (the benchmarks' server uses the same, bench/server_app.py)."""
    return {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "log_config": None,  # wacast's own logging (kit/logs.py): JSON or text, request ids, redaction
        "access_log": False,  # one access line per request comes from ops/middleware.py
        "proxy_headers": True,
        "loop": "auto",
        "http": "auto",
        # SIGTERM: stop accepting, finish in-flight requests (up to this), then the lifespan
        # stops the embedded loops (wacast/runtime.py), which finish or hand back their sends and leases.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }


def serve(
    host: str = typer.Option(None, help="Interface to bind (WACAST_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (WACAST_PORT, default 8000)."),
    workers: int = typer.Option(1, help="Server processes (PostgreSQL only; set WACAST_RUN_DISPATCHER=0 and run `wacast worker`)."),
    as_json: bool = typer.Option(False, "--json", help="Log JSON lines (WACAST_LOG_FORMAT=json)."),
) -> None:
    """Serve the campaign API, the REST API, Meta's webhooks and the dashboard."""

    settings = _json_logs(checked_settings(), as_json)
    # A database that is missing or not migrated: one line and no server (`make run` and the
    # deployment guide migrate first; a server that answered every request with an error
    # would only hide it).
    problem = asyncio.run(database_problem(settings.database_url))
    if problem is not None:
        fail(problem)
    _refuse_busy_port(host or settings.host, port or settings.port)
    configure_from_settings(settings)
    kwargs = uvicorn_options(settings, host, port)
    if workers > 1:
        uvicorn.run("wacast.app:create_app", factory=True, workers=workers, **kwargs)
    else:
        # The app pulls in every router and the dashboard (about 2 s of CPU): `wacast worker`
        # and the other commands must not pay that at start-up (a worker joining a loaded
        # machine delayed its peers' sends).
        from wacast.app import (
            create_served_app,  # only `serve` needs the app: see above
        )

        # The embedded default: the loops run in a worker process beside the server
        # (runtime.WorkerProcess), started and stopped by the app's lifespan (uvicorn re-raises
        # a handled SIGTERM once shut down, so nothing after uvicorn.run would run).
        app = create_served_app(settings)
        uvicorn.run(app, **kwargs)


def worker(as_json: bool = typer.Option(False, "--json", help="Log JSON lines (WACAST_LOG_FORMAT=json).")) -> None:
    """Run the dispatcher alone (several of them scale out on PostgreSQL)."""

    settings = _json_logs(checked_settings(), as_json)
    configure_from_settings(settings)
    crypto.configure(settings.secret_keys)

    async def main(db: Database) -> None:
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        loops = build_loops(db, settings)  # the same loops as `wacast serve` runs in-process
        supervisor = Supervisor(loops.runnables, shutdown_timeout=settings.shutdown_timeout)
        ops_server = None
        if settings.worker_metrics_port:  # /healthz, /readyz and /metrics of this worker
            ops_app = worker_http.ops_app(db, settings, loops.dispatcher, supervisor)
            ops_server, ops_task = await worker_http.serve(ops_app, settings.host, settings.worker_metrics_port)
        err_console.print(f"worker {loops.dispatcher.worker_id} started on {safe_url(settings.database_url)}")
        try:
            await supervisor.run(until=shutdown)
        finally:
            await loops.close()
            if ops_server is not None:
                ops_server.should_exit = True
                await ops_task

    run(main)


def demo(as_json: bool = JsonOpt) -> None:
    """Seed (or refresh) the demo project and print its API key, login and a ready curl."""

    settings = get_settings()
    data = run(lambda db: seed_demo(db, settings))
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.rule("[bold green]wacast demo[/bold green]")
    console.print(f"Dashboard:      http://{settings.host}:{settings.port}/")
    console.print(f"Login:          {data['email']}  /  {data['password']}")
    console.print(f"Demo API key:   {data['api_key']}")
    console.print(f"Campaign:       {data['campaign']} (live, sandbox provider)\n")
    # The two curls are printed whole on one line each (never wrapped at the terminal's width:
    # a wrapped command breaks when pasted).
    console.print("Send a campaign message:")
    console.print(data["curl"], soft_wrap=True, markup=False, highlight=False)
    console.print("\nThen follow it:")
    console.print(data["follow_curl"], soft_wrap=True, markup=False, highlight=False)
    console.rule()


def doctor(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Check what stands between a project and delivered messages, and say what to fix."""

    try:
        settings = Settings()
    except Exception as error:  # noqa: BLE001 (a setting of the wrong type)
        print(f"config error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    missing = missing_database_file(settings.database_url)  # checked here: no stray database file
    if missing is not None:
        fail(missing)
    results = asyncio.run(checks.run(settings, project, environ=dict(os.environ)))
    report = checks.as_json(results)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        marks = {"ok": "[green]ok  [/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]FAIL[/red]", "skip": "[dim]skip[/dim]"}
        for check in results:
            console.print(f"{marks[check.status]} {escape(check.name)}: {escape(check.detail)}", highlight=False, soft_wrap=True)
            if check.fix and check.status != "ok":
                console.print(f"     fix: {check.fix}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(0 if report["ok"] else 1)


@secrets_app.command("generate-key")
def secrets_generate_key(as_json: bool = JsonOpt) -> None:
    """Print a new key for WACAST_SECRET_KEY."""

    key = generate_key()
    print(json.dumps({"key": key}, indent=2) if as_json else key)


@secrets_app.command("rotate")
def secrets_rotate(as_json: bool = JsonOpt) -> None:
    """Re-encrypt every stored secret with the first key of WACAST_SECRET_KEY.

    To change keys: put the new key first and keep the old one after it
    (WACAST_SECRET_KEY=new,old), restart, run this, then drop the old key."""

    settings = checked_settings()
    crypto.configure(settings.secret_keys)
    done = run(rotate)
    emit({"reencrypted": done}, as_json, "\n".join(f"{column}: {n} re-encrypted with the first key" for column, n in done.items()))
