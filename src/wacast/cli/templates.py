"""`wacast templates ...`: add from a file, create and submit to Meta, sync, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

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
from wacast.templates import service
from wacast.templates import service as templates_service
from wacast.templates.params import analyze
from wacast.templates.sync import create_template, sync_project

templates_app = typer.Typer(help="Message templates.", no_args_is_help=True)
FileOpt = typer.Option(..., "--file", exists=True, dir_okay=False, help="A template in Meta's JSON format.")


def _definition(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        err_console.print(f"[red]error:[/red] {file} is not valid JSON: {error}")
        raise typer.Exit(2) from None


@templates_app.command("add")
def templates_add(project: str = ProjectOpt, file: Path = FileOpt, as_json: bool = JsonOpt) -> None:
    """Add a template from a file (approved at once in a sandbox project)."""

    data = _definition(file)

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            template = await service.add_from_definition(session, p, data)
            needs = analyze(template.components, template.parameter_format)
            return {"id": str(template.id), "name": template.name, "language": template.language, "status": template.status,
                    "category": template.category, "parameter_format": template.parameter_format,
                    "template_params": len(needs.text_params), "total_parameters": needs.total_parameters}

    emit(run(work), as_json)


@templates_app.command("create")
def templates_create(project: str = ProjectOpt, file: Path = FileOpt, as_json: bool = JsonOpt) -> None:
    """Create a template and submit it to Meta for review (stored PENDING until Meta decides;
    a sandbox project approves it at once)."""

    data = _definition(file)
    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            template = await create_template(session, p, data, settings)
            return {"id": str(template.id), "meta_id": template.meta_id, "name": template.name, "language": template.language,
                    "category": template.category, "status": template.status}

    emit(run(work), as_json)


@templates_app.command("sync")
def templates_sync(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Fetch every template of the project's WhatsApp Business Account from Meta."""

    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            return await sync_project(session, p, settings)

    emit(run(work), as_json)


@templates_app.command("list")
def templates_list(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """List a project's templates."""

    async def work(db: Database) -> list:
        async with db.read() as session:
            p = await project_by_name(session, project)
            rows = await templates_service.list_for_project(session, p.id)
            return [{"name": t.name, "language": t.language, "status": t.status, "category": t.category, "quality": t.quality,
                     "template_params": len(analyze(t.components, t.parameter_format).text_params)} for t in rows]

    rows = run(work)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "language", "status", "category", "quality", "templateParams")
    for r in rows:
        table.add_row(r["name"], r["language"], r["status"], r["category"], r["quality"] or "", str(r["template_params"]))
    console.print(table)
