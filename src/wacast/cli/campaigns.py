"""`wacast campaigns ...` (API campaigns) and `wacast messages show`."""

from __future__ import annotations

import json
import uuid

import typer

from wacast.campaigns import service
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
from wacast.db.engine import Database
from wacast.messages import service as messages_service
from wacast.models.campaigns import CampaignStatus

campaigns_app = typer.Typer(help="API campaigns.", no_args_is_help=True)
messages_app = typer.Typer(help="Messages.", no_args_is_help=True)


@campaigns_app.command("create")
def campaigns_create(project: str = ProjectOpt, name: str = typer.Option(..., "--name"), template: str = typer.Option(..., "--template"),
                     language: str = typer.Option(None, "--language"), live: bool = typer.Option(False, "--live"),
                     as_json: bool = JsonOpt) -> None:
    """Create an API campaign on a template (--live to accept sends at once)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            campaign = await service.create(session, p.id, name, template, language, live=live)
            return {"id": str(campaign.id), "name": campaign.name, "status": campaign.status}

    emit(run(work), as_json)


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
    render_progress(data["broadcast"])


@campaigns_app.command("live")
def campaigns_live(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Set a campaign Live: it accepts sends."""
    _set_campaign_status(campaign, project, "live", as_json)


@campaigns_app.command("pause")
def campaigns_pause(campaign: str, project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Pause a campaign: sends are refused until it is Live again."""
    _set_campaign_status(campaign, project, "paused", as_json)


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
