"""The `wacast` command: serve, worker, migrate and the operator's commands.

Every command takes --json for output a script can read.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from wacast.config import get_settings
from wacast.db.engine import Database
from wacast.kit.errors import WacastError

app = typer.Typer(help="wacast: self-hosted WhatsApp campaigns, AiSensy-compatible.", no_args_is_help=True, add_completion=False)
projects_app = typer.Typer(help="Projects (a WhatsApp sender and its settings).", no_args_is_help=True)
apikeys_app = typer.Typer(help="API keys.", no_args_is_help=True)
templates_app = typer.Typer(help="Message templates.", no_args_is_help=True)
tags_app = typer.Typer(help="Contact tags.", no_args_is_help=True)
attributes_app = typer.Typer(help="Contact attributes.", no_args_is_help=True)
campaigns_app = typer.Typer(help="API campaigns.", no_args_is_help=True)
users_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
messages_app = typer.Typer(help="Messages.", no_args_is_help=True)
for sub, name in (
    (projects_app, "projects"), (apikeys_app, "apikeys"), (templates_app, "templates"), (tags_app, "tags"),
    (attributes_app, "attributes"), (campaigns_app, "campaigns"), (users_app, "users"), (messages_app, "messages"),
):
    app.add_typer(sub, name=name)

console = Console()
err_console = Console(stderr=True)
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _run(work: Callable[[Database], Awaitable[Any]]) -> Any:
    async def main() -> Any:
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


def _checked_settings() -> Any:
    """The settings, or every configuration problem on its own line and exit 2."""

    try:
        return load()
    except ConfigError as error:
        for problem in error.problems:
            print(f"config error: {problem}", file=sys.stderr)
        raise typer.Exit(2) from None


def _emit(data: dict[str, Any], as_json: bool, text: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, default=str, indent=2))
    else:
        console.print(text if text is not None else "\n".join(f"{k}: {v}" for k, v in data.items()))


# --- processes ------------------------------------------------------------------------------


@app.command()
def migrate(as_json: bool = JsonOpt) -> None:
    """Create or upgrade the database schema."""

    settings = _checked_settings()
    upgrade(settings.database_url)
    _emit({"database": _safe_url(settings.database_url), "revision": head_revision()}, as_json,
          f"database migrated to {head_revision()} ({_safe_url(settings.database_url)})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url


    return make_url(async_url(url)).render_as_string(hide_password=True)


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (WACAST_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (WACAST_PORT, default 8000)."),
    workers: int = typer.Option(1, help="Server processes (PostgreSQL only; set WACAST_RUN_DISPATCHER=0 and run `wacast worker`)."),
) -> None:
    """Serve the campaign API, the REST API, Meta's webhooks and the dashboard."""
    import uvicorn


    settings = _checked_settings()
    configure_from_settings(settings)
    kwargs: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "log_config": None,  # wacast's own logging (kit/logs.py): JSON or text, request ids, redaction
        "access_log": False,  # one access line per request comes from ops/middleware.py
        "proxy_headers": True,
        "loop": "auto",
        "http": "auto",
        # SIGTERM: stop accepting, finish in-flight requests (up to this), then the lifespan
        # stops the embedded dispatcher, which finishes or hands back its sends and leases.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if workers > 1:
        uvicorn.run("wacast.app:create_app", factory=True, workers=workers, **kwargs)
    else:

        uvicorn.run(create_app(settings), **kwargs)


@app.command()
def worker() -> None:
    """Run the dispatcher alone (several of them scale out on PostgreSQL)."""


    settings = _checked_settings()
    configure_from_settings(settings)
    crypto.configure(settings.secret_keys)

    async def main(db: Database) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        providers = build_providers(settings)
        inbound = InboundEvents(db, settings)  # Meta's webhooks (stored by `serve`) and the sandbox's reports
        inbound_task = asyncio.create_task(inbound.run(stop))
        dispatcher = Dispatcher(db, settings, providers, notify_inbound=inbound.wake.set)
        ops_server = None
        if settings.worker_metrics_port:  # /healthz, /readyz and /metrics of this worker

            ops_server, ops_task = await worker_http.serve(worker_http.ops_app(db, settings, dispatcher), settings.host, settings.worker_metrics_port)
        err_console.print(f"worker {dispatcher.worker_id} started on {_safe_url(settings.database_url)}")

        broadcasts = BroadcastEngine(db, settings, notify=dispatcher.wake.set)  # broadcast fan-out (docs/broadcasts.md)
        broadcast_task = asyncio.create_task(broadcasts.run(stop))

        webhooks = WebhookSender(db, settings)  # customer webhooks, from their outbox (docs/integrations.md)
        webhooks_task = asyncio.create_task(webhooks.run(stop))
        try:
            await dispatcher.run(stop)
        finally:
            broadcasts.wake.set()
            await broadcast_task
            stop.set()
            await webhooks_task
            await inbound_task
            for provider in providers.values():
                await provider.close()
            if ops_server is not None:
                ops_server.should_exit = True
                await ops_task

    _run(main)


# --- projects ------------------------------------------------------------------------------

CountryOpt = typer.Option(None, "--default-country", help="ISO country for numbers without a country code (default IN).")
WabaOpt = typer.Option(None, "--waba-id", help="Meta WhatsApp Business Account id.")
PhoneIdOpt = typer.Option(None, "--phone-number-id", help="Meta phone number id of the sender.")
TokenOpt = typer.Option(None, "--access-token", help="Meta system-user access token.")
MpsOpt = typer.Option(None, "--messages-per-second", help="The sender number's throughput cap (default 80, up to 1000).")
SenderOpt = typer.Option(None, "--sender-number", help="The sender's phone number, for display.")


def _project_dict(project: Any) -> dict[str, Any]:
    return {
        "id": str(project.id), "name": project.name, "default_country": project.default_country,
        "provider": project.provider, "waba_id": project.waba_id, "phone_number_id": project.phone_number_id,
        "access_token": "set" if project.access_token else None, "messages_per_second": project.messages_per_second,
        "halted_reason": project.halted_reason,
        "opt_out_keywords": project.opt_out_keywords, "opt_out_payloads": project.opt_out_payloads,
    }


@projects_app.command("create")
def projects_create(name: str, default_country: str = CountryOpt, waba_id: str = WabaOpt, phone_number_id: str = PhoneIdOpt,
                    access_token: str = TokenOpt, messages_per_second: int = MpsOpt, sender_number: str = SenderOpt,
                    as_json: bool = JsonOpt) -> None:
    """Create a project. Without Meta credentials it sends through the sandbox."""
    from wacast.projects import service

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            project = await service.create(session, name, default_country=default_country, waba_id=waba_id,
                                           phone_number_id=phone_number_id, access_token=access_token,
                                           messages_per_second=messages_per_second, sender_number=sender_number)
            return _project_dict(project)

    _emit(_run(work), as_json)


@projects_app.command("update")
def projects_update(name: str, default_country: str = CountryOpt, waba_id: str = WabaOpt, phone_number_id: str = PhoneIdOpt,
                    access_token: str = TokenOpt, messages_per_second: int = MpsOpt, sender_number: str = SenderOpt,
                    clear_halt: bool = typer.Option(False, "--clear-halt", help="Resume sending after Meta halted the sender."),
                    opt_out_keywords: str = typer.Option(None, "--opt-out-keywords", help="Comma-separated words that opt a contact out (default STOP,UNSUBSCRIBE)."),
                    opt_out_payloads: str = typer.Option(None, "--opt-out-payloads", help="Comma-separated quick-reply payloads that opt a contact out."),
                    as_json: bool = JsonOpt) -> None:
    """Change a project's settings."""

    def split(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            project = await senders.update_project(session, name, default_country=default_country, waba_id=waba_id,
                                           phone_number_id=phone_number_id, access_token=access_token,
                                           messages_per_second=messages_per_second, sender_number=sender_number,
                                           clear_halt=clear_halt, opt_out_keywords=split(opt_out_keywords),
                                           opt_out_payloads=split(opt_out_payloads))
            return _project_dict(project)

    _emit(_run(work), as_json)


@projects_app.command("list")
def projects_list(as_json: bool = JsonOpt) -> None:
    """List projects."""
    from sqlalchemy import select


    async def work(db: Database) -> list:
        async with db.sessionmaker() as session:
            return [_project_dict(p) for p in (await session.execute(select(Project).order_by(Project.name))).scalars()]

    rows = _run(work)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "provider", "country", "msg/s", "halted")
    for row in rows:
        table.add_row(row["name"], row["provider"], row["default_country"], str(row["messages_per_second"]), row["halted_reason"] or "")
    console.print(table)


async def _project(session: Any, name: str) -> Any:
    from wacast.projects import service

    return await service.get_by_name(session, name)


ProjectOpt = typer.Option(..., "--project", help="Project name.")


# --- API keys ------------------------------------------------------------------------------


@apikeys_app.command("create")
def apikeys_create(project: str = ProjectOpt, scope: str = typer.Option("full", help="send | full"),
                   name: str = typer.Option("", help="A label for the key."), as_json: bool = JsonOpt,
                   rate_limit: float = typer.Option(None, "--rate-limit", help="Requests/s for this key (default WACAST_API_RATE_LIMIT)."),
                   rate_burst: int = typer.Option(None, "--rate-burst", help="Burst for this key (default WACAST_API_RATE_BURST).")) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from wacast.api_keys import service

    if scope not in service.SCOPES:
        err_console.print("[red]error:[/red] --scope must be send or full")
        raise typer.Exit(2)

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            key, plain = await service.create_key(session, p.id, scope, name)
            key.rate_limit, key.rate_burst = rate_limit, rate_burst  # None: the global limit (docs/integrations.md)
            await session.flush()
            return {"id": str(key.id), "project": p.name, "scope": scope, "prefix": key.prefix, "api_key": plain,
                    "rate_limit": rate_limit, "rate_burst": rate_burst}

    data = _run(work)
    _emit(data, as_json, f"{data['api_key']}\n[dim](scope {scope}; shown once, store it now)[/dim]")


# --- templates -----------------------------------------------------------------------------


@templates_app.command("add")
def templates_add(project: str = ProjectOpt, file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="A template in Meta's JSON format."),
                  as_json: bool = JsonOpt) -> None:
    """Add a template from a file (approved at once in a sandbox project)."""
    from wacast.templates import service

    try:
        data = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        err_console.print(f"[red]error:[/red] {file} is not valid JSON: {error}")
        raise typer.Exit(2) from None

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            template = await service.add_from_definition(session, p, data)
            needs = analyze(template.components, template.parameter_format)
            return {"id": str(template.id), "name": template.name, "language": template.language, "status": template.status,
                    "category": template.category, "parameter_format": template.parameter_format,
                    "template_params": len(needs.text_params), "total_parameters": needs.total_parameters}

    _emit(_run(work), as_json)


@templates_app.command("create")
def templates_create(project: str = ProjectOpt, file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="A template in Meta's JSON format."),
                     as_json: bool = JsonOpt) -> None:
    """Create a template and submit it to Meta for review (stored PENDING until Meta decides;
    a sandbox project approves it at once)."""

    try:
        data = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        err_console.print(f"[red]error:[/red] {file} is not valid JSON: {error}")
        raise typer.Exit(2) from None
    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            template = await create_template(session, p, data, settings)
            return {"id": str(template.id), "meta_id": template.meta_id, "name": template.name, "language": template.language,
                    "category": template.category, "status": template.status}

    _emit(_run(work), as_json)


@templates_app.command("sync")
def templates_sync(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Fetch every template of the project's WhatsApp Business Account from Meta."""

    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            return await sync_project(session, p, settings)

    _emit(_run(work), as_json)


@templates_app.command("list")
def templates_list(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """List a project's templates."""
    from sqlalchemy import select


    async def work(db: Database) -> list:
        async with db.sessionmaker() as session:
            p = await _project(session, project)
            rows = (await session.execute(select(Template).where(Template.project_id == p.id).order_by(Template.name))).scalars()
            return [{"name": t.name, "language": t.language, "status": t.status, "category": t.category, "quality": t.quality,
                     "template_params": len(analyze(t.components, t.parameter_format).text_params)} for t in rows]

    rows = _run(work)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "language", "status", "category", "quality", "templateParams")
    for r in rows:
        table.add_row(r["name"], r["language"], r["status"], r["category"], r["quality"] or "", str(r["template_params"]))
    console.print(table)


# --- tags and attributes -------------------------------------------------------------------


@tags_app.command("create")
def tags_create(names: list[str], project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Define tags (requests may then assign them)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            created = await repository.create_tags(session, p.id, names)
            return {"created": created, "existing": [n for n in names if n not in created]}

    _emit(_run(work), as_json)


@attributes_app.command("create")
def attributes_create(names: list[str], project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Define contact attributes (requests may then set them)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            created = await repository.create_attributes(session, p.id, names)
            return {"created": created, "existing": [n for n in names if n not in created]}

    _emit(_run(work), as_json)


# --- campaigns -----------------------------------------------------------------------------


@campaigns_app.command("create")
def campaigns_create(project: str = ProjectOpt, name: str = typer.Option(..., "--name"), template: str = typer.Option(..., "--template"),
                     language: str = typer.Option(None, "--language"), live: bool = typer.Option(False, "--live"),
                     as_json: bool = JsonOpt) -> None:
    """Create an API campaign on a template (--live to accept sends at once)."""
    from wacast.campaigns import service

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            campaign = await service.create(session, p.id, name, template, language, live=live)
            return {"id": str(campaign.id), "name": campaign.name, "status": campaign.status}

    _emit(_run(work), as_json)


def _set_campaign_status(campaign: str, project: str, status: str, as_json: bool) -> None:
    from wacast.campaigns import service

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            c = await service.set_status(session, p.id, campaign, CampaignStatus(status))
            return {"name": c.name, "status": c.status}

    _emit(_run(work), as_json)


@campaigns_app.command("show")
def campaigns_show(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """A campaign: its template and status, its messages by status, and why sends are held."""
    from wacast.campaigns import service

    async def work(db: Database) -> dict:
        async with db.sessionmaker() as session:
            p = await _project(session, project)
            data = await service.describe(session, p, campaign)

            data["broadcast"] = await broadcast_view(session, p.id, data["id"])  # progress (docs/broadcasts.md)
            return data

    data = _run(work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    console.print(f"[bold]{data['name']}[/bold]  {data['status']}  template {data['template']['name']} ({data['template']['language']}) "
                  f"{data['template']['status']}")
    if data["hold_reason"]:
        console.print(f"[yellow]held:[/yellow] {data['hold_reason']} ({data['held_messages']} messages waiting)")
    console.print("messages: " + ", ".join(f"{k} {v}" for k, v in data["messages"].items()) if data["messages"] else "messages: none")

    render_progress(data["broadcast"])


@campaigns_app.command("live")
def campaigns_live(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Set a campaign Live: it accepts sends."""
    _set_campaign_status(campaign, project, "live", as_json)


@campaigns_app.command("pause")
def campaigns_pause(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Pause a campaign: sends are refused until it is Live again."""
    _set_campaign_status(campaign, project, "paused", as_json)


# --- users ---------------------------------------------------------------------------------


@users_app.command("create")
def users_create(project: str = ProjectOpt, email: str = typer.Option(..., "--email"), password: str = typer.Option(..., "--password"),
                 role: str = typer.Option("agent", "--role", help="owner | manager | agent"), as_json: bool = JsonOpt) -> None:
    """Create a dashboard user (or add an existing one to the project)."""
    from wacast.users import service

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await _project(session, project)
            user = await service.create_or_update(session, p.id, email, password, role)
            return {"id": str(user.id), "email": user.email, "project": p.name, "role": role}

    _emit(_run(work), as_json)


# --- messages ------------------------------------------------------------------------------


@messages_app.command("show")
def messages_show(message_id: str, as_json: bool = JsonOpt) -> None:
    """A message's status, error and history, by submitted_message_id."""

    try:
        mid = uuid.UUID(message_id)
    except ValueError:
        err_console.print("[red]error:[/red] not a submitted_message_id")
        raise typer.Exit(2) from None

    async def work(db: Database) -> dict | None:
        async with db.sessionmaker() as session:
            message = await session.get(Message, mid)
            if message is None:
                return None
            found = await get_with_events(session, message.project_id, mid)
            campaign = await session.get(Campaign, message.campaign_id) if message.campaign_id else None
            return message_out(*found, campaign_name=campaign.name if campaign else None).model_dump(mode="json")

    data = _run(work)
    if data is None:
        err_console.print(f"[red]error:[/red] message {message_id} not found")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.print(f"[bold]{data['submitted_message_id']}[/bold]  {data['status']}  to {data['destination']}  campaign {data['campaign']}")
    if data["error"]:
        console.print(f"[red]error {data['error']['code']}:[/red] {data['error']['title']} ({data['error']['meaning']})")
    for event in data["events"]:
        console.print(f"  {event['at']}  {event['status']}")


# --- demo ----------------------------------------------------------------------------------


@app.command()
def demo(as_json: bool = JsonOpt) -> None:
    """Seed (or refresh) the demo project and print its API key, login and a ready curl."""

    settings = get_settings()
    data = _run(lambda db: seed_demo(db, settings))
    if as_json:
        print(json.dumps(data, indent=2))
        return
    console.rule("[bold green]wacast demo[/bold green]")
    console.print(f"Dashboard:      http://{settings.host}:{settings.port}/")
    console.print(f"Login:          {data['email']}  /  {data['password']}")
    console.print(f"Demo API key:   {data['api_key']}")
    console.print(f"Campaign:       {data['campaign']} (live, sandbox provider)\n")
    console.print("Send a campaign message:")
    print(data["curl"])
    console.print(f"\nThen follow it:  curl -s -H 'Authorization: Bearer {data['api_key']}' http://{settings.host}:{settings.port}/api/v1/messages/<submitted_message_id>")
    console.rule()


# --- operations: secrets and doctor (ops/) -------------------------------------------------

secrets_app = typer.Typer(help="Secrets at rest (WACAST_SECRET_KEY).", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
from wacast.cli.broadcasts import broadcasts_app, segments_app  # noqa: E402
from wacast.app import build_providers
from wacast.app import create_app
from wacast.campaigns.broadcast import BroadcastEngine
from wacast.cli.broadcasts import broadcast_view
from wacast.cli.broadcasts import render_progress
from wacast.config import Settings
from wacast.contacts import repository
from wacast.db.engine import async_url
from wacast.db.migrate import head_revision
from wacast.db.migrate import upgrade
from wacast.demo.seed import seed_demo
from wacast.kit import crypto
from wacast.kit.crypto import SecretKeyError
from wacast.kit.crypto import generate_key
from wacast.kit.logs import configure_from_settings
from wacast.messages import senders
from wacast.messages.dispatcher import Dispatcher
from wacast.whatsapp.inbound import InboundEvents
from wacast.messages.repository import get_with_events
from wacast.messages.schemas import message_out
from wacast.models.campaigns import Campaign
from wacast.models.campaigns import CampaignStatus
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.ops import doctor as checks
from wacast.ops import worker_http
from wacast.ops.config_check import ConfigError
from wacast.ops.config_check import load
from wacast.ops.secrets import rotate
from wacast.templates.params import analyze
from wacast.templates.sync import create_template
from wacast.templates.sync import sync_project
from wacast.webhooks.tasks import WebhookSender

app.add_typer(segments_app, name="segments")
app.add_typer(broadcasts_app, name="broadcasts")


@secrets_app.command("generate-key")
def secrets_generate_key() -> None:
    """Print a new key for WACAST_SECRET_KEY."""

    print(generate_key())


@secrets_app.command("rotate")
def secrets_rotate(as_json: bool = JsonOpt) -> None:
    """Re-encrypt every stored secret with the first key of WACAST_SECRET_KEY.

    To change keys: put the new key first and keep the old one after it
    (WACAST_SECRET_KEY=new,old), restart, run this, then drop the old key."""

    settings = _checked_settings()
    crypto.configure(settings.secret_keys)
    done = _run(rotate)
    _emit({"reencrypted": done}, as_json, "\n".join(f"{column}: {n} re-encrypted with the first key" for column, n in done.items()))


@app.command()
def doctor(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Check what stands between a project and delivered messages, and say what to fix."""
    import os

    from rich.markup import escape


    try:
        settings = Settings()
    except Exception as error:  # noqa: BLE001 (a setting of the wrong type)
        print(f"config error: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
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


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
