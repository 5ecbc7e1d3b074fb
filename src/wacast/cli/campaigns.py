"""`wacast campaigns ...` (API campaigns) and `wacast messages show`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import typer

from wacast.campaigns import analytics, service
from wacast.cli import tracking as tracking_input
from wacast.cli.broadcasts import broadcast_view, render_progress
from wacast.cli.common import (
    JsonOpt,
    ProjectOpt,
    console,
    emit,
    err_console,
    project_by_name,
    run,
)
from wacast.config import get_settings
from wacast.db.engine import Database
from wacast.kit import text
from wacast.links import service as links
from wacast.links import tracking as link_tracking
from wacast.messages import service as messages_service
from wacast.models.campaigns import CampaignStatus

campaigns_app = typer.Typer(help="API campaigns.", no_args_is_help=True)
messages_app = typer.Typer(help="Messages.", no_args_is_help=True)


@campaigns_app.command("create")
@tracking_input.with_flags
def campaigns_create(project: str = ProjectOpt, name: str = typer.Option(..., "--name"), template: str = typer.Option(..., "--template"),
                     language: str = typer.Option(None, "--language"), live: bool = typer.Option(False, "--live"),
                     tracking_json: str = tracking_input.JsonOpt, tracking_file: Path = tracking_input.FileOpt,
                     as_json: bool = JsonOpt, tracking_flags: tracking_input.Flags = tracking_input.NO_FLAGS) -> None:
    """Create an API campaign on a template (--live to accept sends at once).

    Its click and conversion settings: --tracking (or --tracking-file), the flags over it (docs/links.md)."""
    loaded = tracking_input.load(tracking_json, tracking_file)
    tracking = tracking_input.merge(None if loaded is tracking_input.NOT_GIVEN else loaded, tracking_flags)

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            campaign = await service.create(session, p.id, name, template, language, live=live, tracking=tracking,
                                            public_url=get_settings().public_url)
            return {"id": str(campaign.id), "name": campaign.name, "status": campaign.status,
                    "tracking": link_tracking.parse(campaign.tracking).as_dict()}

    data = run(work)
    emit(data if as_json else {k: data[k] for k in ("id", "name", "status")}, as_json)
    if not as_json:
        tracking_input.render(data["tracking"])


def _set_campaign_status(campaign: str, project: str, status: str, as_json: bool) -> None:

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            c = await service.set_status(session, p.id, campaign, CampaignStatus(status))
            return {"name": c.name, "status": c.status}

    emit(run(work), as_json)


@campaigns_app.command("show")
def campaigns_show(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """A campaign: its template and status, its messages by status, and why sends are held."""

    async def work(db: Database) -> dict:
        async with db.read() as session:
            p = await project_by_name(session, project)
            data = await service.describe(session, p, campaign)
            data["broadcast"] = await broadcast_view(session, p.id, data["id"])  # progress (docs/broadcasts.md)
            return data

    data = run(work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    console.print(f"[bold]{data['name']}[/bold]  {data['status']}  template {data['template']['name']} ({data['template']['language']}) "
                  f"{data['template']['status']}")
    if data["hold_reason"]:
        console.print(f"[yellow]held:[/yellow] {data['hold_reason']} ({data['held_messages']} messages waiting)")
    console.print("messages: " + ", ".join(f"{k} {v}" for k, v in data["messages"].items()) if data["messages"] else "messages: none")
    tracking_input.render(data["tracking"])
    render_progress(data["broadcast"])


@campaigns_app.command("live")
def campaigns_live(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Set a campaign Live: it accepts sends."""
    _set_campaign_status(campaign, project, "live", as_json)


@campaigns_app.command("pause")
def campaigns_pause(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Pause a campaign: sends are refused until it is Live again."""
    _set_campaign_status(campaign, project, "paused", as_json)


@campaigns_app.command("tracking")
@tracking_input.with_flags
def campaigns_tracking(
    campaign: str, project: str = ProjectOpt,
    set_json: str = typer.Option(None, "--set", help="Replace the settings with this tracking object (JSON, as PUT .../tracking takes it)."),
    set_file: Path = typer.Option(None, "--set-file", exists=True, dir_okay=False, help="The tracking object in a JSON file."),
    as_json: bool = JsonOpt, tracking_flags: tracking_input.Flags = tracking_input.NO_FLAGS,
) -> None:
    """Show a campaign's click and conversion settings, or set them (docs/links.md).

    --set (or --set-file) replaces them, as PUT /api/v1/campaigns/{campaign}/tracking does; a flag
    alone changes only its field, the rest stays as stored."""
    loaded = tracking_input.load(set_json, set_file, "--set")
    writing = loaded is not tracking_input.NOT_GIVEN or tracking_flags.given()
    public_url = get_settings().public_url

    async def work(db: Database) -> dict:
        text.check("campaign", campaign)
        async with db.transaction() if writing else db.read() as session:
            p = await project_by_name(session, project)
            found = await analytics.find_campaign(session, p.id, campaign)
            if writing:  # the flags over what is given, else over what is stored
                base = link_tracking.parse(found.tracking).as_dict() if loaded is tracking_input.NOT_GIVEN else loaded
                settings = await links.set_tracking(session, found, tracking_input.merge(base, tracking_flags), public_url)
            else:
                settings = link_tracking.parse(found.tracking)
            return {"campaign_id": str(found.id), "campaign": found.name, "tracking": settings.as_dict()}

    data = run(work)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    tracking_input.render(data["tracking"], f"{data['campaign']} tracking")


@messages_app.command("show")
def messages_show(message_id: str, as_json: bool = JsonOpt) -> None:
    """A message's status, error and history, by submitted_message_id."""

    try:
        mid = uuid.UUID(message_id)
    except ValueError:
        err_console.print("[red]error:[/red] not a submitted_message_id")
        raise typer.Exit(2) from None

    async def work(db: Database) -> dict | None:
        async with db.read() as session:
            found = await messages_service.find_message(session, mid)
            return found.model_dump(mode="json") if found else None

    data = run(work)
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
