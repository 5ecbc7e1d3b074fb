"""`wacast segments ...` and `wacast broadcasts ...`, and the broadcast part of `campaigns show`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table

# The package's helpers (_run, _project, err_console), read when a command runs.
from wacast import cli
from wacast.campaign_api.media import MediaChecker
from wacast.campaigns.broadcasts import dry_run, presenter
from wacast.campaigns.broadcasts import service as broadcasts
from wacast.campaigns.broadcasts.plan import param_shorthand
from wacast.cli import tracking as tracking_input
from wacast.config import get_settings
from wacast.contacts import segments
from wacast.kit import text
from wacast.links import service as links

segments_app = typer.Typer(help="Segments: saved contact filters (docs/broadcasts.md).", no_args_is_help=True)
broadcasts_app = typer.Typer(help="Broadcast campaigns: a template to a segment or CSV, now or scheduled.", no_args_is_help=True)

console = Console()
ProjectOpt = typer.Option(..., "--project", help="Project name.")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def render_progress(data: dict[str, Any]) -> None:
    """A progress bar and the counts of a campaign (`progress` of presenter.describe)."""
    progress = data.get("progress") or {}
    total = progress.get("total") or 0
    done = sum(progress.get(k, 0) for k in ("sent", "delivered", "read", "failed")) + progress.get("skipped", 0)
    line = f"{data.get('type', 'broadcast')} [bold]{data['status']}[/bold]"
    if data.get("status_reason"):
        line += f"  ({data['status_reason']})"
    if data.get("send_at") and data["status"] == "scheduled":
        line += f"  sends at {data['send_at']}"
    console.print(line)
    if total:
        table = Table.grid(padding=(0, 1))
        table.add_row(ProgressBar(total=total, completed=min(done, total), width=40), f"{progress.get('percent_done', 0)}%  of {total}")
        console.print(table)
    parts = [f"{k} {progress.get(k, 0)}" for k in ("queued", "sent", "delivered", "read", "failed", "replied", "skipped")]
    if progress.get("not_yet_queued"):
        parts.append(f"not yet queued {progress['not_yet_queued']}")
    if progress.get("held"):
        parts.append(f"held {progress['held']}")
    console.print("  " + ", ".join(parts))
    for reason, n in (progress.get("held_reasons") or {}).items():  # why the held ones wait
        console.print(f"  [yellow]held {n}: {reason}[/yellow]")
    for reason, n in (progress.get("skip_reasons") or {}).items():
        console.print(f"  [dim]skipped {n}: {reason}[/dim]")


def render_dry_run(data: dict[str, Any]) -> None:
    """A dry run (campaigns/broadcasts/dry_run.py) as tables: audience, skips, held, countries, cost."""
    console.print(f"dry run of [bold]{data['name']}[/bold] ({data['template']['name']}, {data['template']['category']}): nothing was created or sent")
    table = Table(title="Audience", show_header=False)
    table.add_row("matching", str(data["matching"]))
    table.add_row("will send", str(data["will_send"]))
    for reason, n in data["skips"].items():
        table.add_row(f"skipped: {reason}", str(n))
    for reason, n in data["held"].items():
        table.add_row(f"held (sent later): {reason}", str(n))
    console.print(table)
    countries = Table(title="Messages by country")
    countries.add_column("country")
    countries.add_column("messages", justify="right")
    for country, n in data["by_country"].items():
        countries.add_row(country, str(n))
    console.print(countries)
    console.print(f"cost: {data['cost_line']}")
    for w in data["warnings"]:
        console.print(f"[yellow]warning: {w}[/yellow]")


async def broadcast_view(session: Any, project_id: Any, campaign_id: str) -> dict[str, Any]:
    campaign = await broadcasts.find(session, project_id, campaign_id)
    return await presenter.describe(session, campaign)


# --- segments ------------------------------------------------------------------------------


def _filter_arg(filter_json: str | None, filter_file: Path | None) -> Any:
    raw = filter_file.read_text() if filter_file else filter_json
    if not raw:
        return {"match": "all", "conditions": []}
    try:
        return json.loads(raw)
    except ValueError as error:
        cli.err_console.print(f"[red]error:[/red] the filter is not JSON: {error}")
        raise typer.Exit(2) from None


@segments_app.command("create")
def segments_create(
    name: str, project: str = ProjectOpt,
    filter_json: str = typer.Option(None, "--filter", help='JSON: {"match": "all", "conditions": [...]} (docs/broadcasts.md).'),
    filter_file: Path = typer.Option(None, "--filter-file", exists=True, dir_okay=False, help="The filter in a JSON file."),
    as_json: bool = JsonOpt,
) -> None:
    """Save a segment and print its live count."""

    flt = _filter_arg(filter_json, filter_file)

    async def work(db: Any) -> dict:
        async with db.transaction() as session:
            p = await cli._project(session, project)
            segment = await segments.create(session, p.id, name, flt)
            return {"id": str(segment.id), "name": segment.name, "count": await segments.count(session, p.id, segment.filter)}

    data = cli._run(work)
    if as_json:
        _print_json(data)
    else:
        c = data["count"]
        console.print(f"segment [bold]{data['name']}[/bold]: {c['sendable']} sendable of {c['matching']} matching ({c['opted_out']} opted out, {c['blocked']} blocked)")


@segments_app.command("count")
def segments_count(name: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """The live count of a segment."""

    async def work(db: Any) -> dict:
        async with db.sessionmaker() as session:
            p = await cli._project(session, project)
            segment = await segments.get(session, p.id, name)
            return await segments.count(session, p.id, segment.filter)

    data = cli._run(work)
    _print_json(data) if as_json else console.print(", ".join(f"{k} {v}" for k, v in data.items()))


@segments_app.command("list")
def segments_list(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """All segments of a project."""

    async def work(db: Any) -> list:
        async with db.sessionmaker() as session:
            p = await cli._project(session, project)
            return [{"id": str(s.id), "name": s.name, "filter": s.filter} for s in await segments.list_all(session, p.id)]

    data = cli._run(work)
    if as_json:
        _print_json(data)
    for s in [] if as_json else data:
        console.print(f"[bold]{s['name']}[/bold]  {json.dumps(s['filter'])}")


@segments_app.command("export")
def segments_export(name: str, project: str = ProjectOpt, output: Path = typer.Option(..., "--output", "-o", help="CSV file to write."),
                    as_json: bool = JsonOpt) -> None:
    """Write a segment's contacts to a CSV file (streamed, any size)."""

    async def work(db: Any) -> int:
        async with db.sessionmaker() as session:
            p = await cli._project(session, project)
            segment = await segments.get(session, p.id, name)
        written = 0
        with output.open("wb") as handle:
            async for chunk in segments.export_csv(db, p.id, segment.filter):
                handle.write(chunk)
                written += chunk.count(b"\n")
        return written - 1

    written = cli._run(work)
    _print_json({"segment": name, "contacts": written, "output": str(output)}) if as_json else console.print(f"{written} contacts written to {output}")


# --- broadcasts ----------------------------------------------------------------------------


@broadcasts_app.command("create")
@tracking_input.with_flags
def broadcasts_create(
    name: str, project: str = ProjectOpt,
    template: str = typer.Option(..., "--template", help="An approved template's name."),
    segment: str = typer.Option(None, "--segment", help="Segment name or id (or give --csv)."),
    csv_file: Path = typer.Option(None, "--csv", exists=True, dir_okay=False, help="A CSV with a phone column and values."),
    param: list[str] = typer.Option([], "--param", help='Each template parameter in order: "$attribute", "$attribute|fallback" or fixed text.'),
    media_url: str = typer.Option(None, "--media-url", help="Header media URL when the template has one."),
    send_at: str = typer.Option(None, "--send-at", help="ISO time in the project's time zone (e.g. 2026-11-28T10:00); default now."),
    dry: bool = typer.Option(False, "--dry-run", help="Validate and estimate (audience, skips, countries, cost): create and send nothing."),
    tracking_json: str = tracking_input.JsonOpt, tracking_file: Path = tracking_input.FileOpt,
    as_json: bool = JsonOpt, tracking_flags: tracking_input.Flags = tracking_input.NO_FLAGS,
) -> None:
    """Create a broadcast (it starts at --send-at, or as soon as a worker sees it); --dry-run only says what it would do.

    Its click and conversion settings: --tracking (or --tracking-file), the flags over it (docs/links.md)."""
    settings = get_settings()
    loaded = tracking_input.load(tracking_json, tracking_file)
    tracking = tracking_input.merge(None if loaded is tracking_input.NOT_GIVEN else loaded, tracking_flags)

    def request_body() -> dict[str, Any]:
        # The base text rule (kit/text.py) for every option; the service checks the body again.
        for option, value in (("name", name), ("--template", template), ("--segment", segment), ("--media-url", media_url), ("--send-at", send_at)):
            if value is not None:
                text.check(option, value)
        body: dict[str, Any] = {"name": name, "template": template, "params": [param_shorthand(text.check("--param", p)) for p in param], "send_at": send_at}
        if segment:
            body["segment"] = segment
        if media_url:
            body["media"] = {"url": media_url}
        return body

    async def check_media(url: str, header_format: str | None, field: str) -> None:
        checker = MediaChecker(timeout=settings.media_check_timeout, cache_seconds=0, allow_private_hosts=settings.allow_private_media_hosts)
        try:
            await checker.check(url, header_format, field)
        finally:
            await checker.close()

    async def work(db: Any) -> dict:
        body = request_body()
        async with db.read() as session:
            project_id = (await cli._project(session, project)).id
        csv_data = csv_file.read_bytes() if csv_file else None
        if dry:  # checked as a create checks it (REST's dry run the same), nothing stored
            links.check_tracking(tracking, settings.public_url)
            return await dry_run.broadcast(db, project_id, body, defaults=settings, check_media=check_media, csv_data=csv_data)
        return await broadcasts.create(db, project_id, body, defaults=settings, check_media=check_media, csv_data=csv_data, tracking=tracking)

    data = cli._run(work)
    if as_json:
        _print_json(data)
    elif dry:
        render_dry_run(data)
    else:
        console.print(f"broadcast [bold]{data['name']}[/bold] created")
        render_progress(data)
        tracking_input.render(data["tracking"])


def _control(name: str, project: str, action: str, as_json: bool) -> None:
    async def work(db: Any) -> dict:
        text.check("name", name)
        async with db.transaction() as session:
            p = await cli._project(session, project)
            campaign, result = await broadcasts.control(session, p.id, name, action)
            return {**await presenter.describe(session, campaign), "result": result}

    data = cli._run(work)
    if as_json:
        _print_json(data)
    else:
        console.print(f"{action}: {data['result']}")
        render_progress(data)


@broadcasts_app.command("pause")
def broadcasts_pause(name: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Pause: nothing more is queued and queued messages are held."""
    _control(name, project, "pause", as_json)


@broadcasts_app.command("resume")
def broadcasts_resume(name: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Resume a paused broadcast where it stopped."""
    _control(name, project, "resume", as_json)


@broadcasts_app.command("cancel")
def broadcasts_cancel(name: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Cancel: nothing more is queued; queued, unsent messages are withdrawn."""
    _control(name, project, "cancel", as_json)


@broadcasts_app.command("retry-failed")
def broadcasts_retry_failed(name: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Queue again the failures worth retrying (never permanent errors or opt-outs)."""
    _control(name, project, "retry-failed", as_json)


@broadcasts_app.command("policy")
def broadcasts_policy(
    project: str = ProjectOpt,
    quiet_hours: str = typer.Option(None, "--quiet-hours", help='Local quiet window "21:00-09:00", or "off".'),
    frequency_cap: str = typer.Option(None, "--frequency-cap", help='"N/D": at most N marketing messages per contact per D days, or "off".'),
    tier: str = typer.Option(None, "--tier", help="Messaging tier: 250, 2000, 10000, 100000 or unlimited."),
    as_json: bool = JsonOpt,
) -> None:
    """Show or set the project's quiet hours, frequency cap and messaging tier."""

    body: dict[str, Any] = {}
    try:
        if quiet_hours is not None:
            body["quiet_hours"] = None if quiet_hours == "off" else dict(zip(("start", "end"), quiet_hours.split("-", 1), strict=True))
        if frequency_cap is not None:
            body["frequency_cap"] = None if frequency_cap == "off" else dict(zip(("messages", "days"), map(int, frequency_cap.split("/", 1)), strict=True))
        if tier is not None:
            body["messaging_tier"] = "unlimited" if tier == "unlimited" else int(tier)
    except ValueError:
        cli.err_console.print('[red]error:[/red] use --quiet-hours 21:00-09:00, --frequency-cap 2/7, --tier 2000')
        raise typer.Exit(2) from None

    async def work(db: Any) -> dict:
        async with db.transaction() as session:
            p = await cli._project(session, project)
            policy = await broadcasts.set_policy(session, p.id, body) if body else await broadcasts.get_policy(session, p.id)
            return await broadcasts.policy_view(session, p.id, policy)

    data = cli._run(work)
    _print_json(data) if as_json else console.print("\n".join(f"{k}: {v}" for k, v in data.items()))

