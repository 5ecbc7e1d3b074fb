"""`wacast templates ...`: add from a file, create and submit to Meta, edit, duplicate, delete, sync, list."""

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
from wacast.templates.sync import (
    create_template,
    delete_template,
    duplicate_template,
    edit_template,
    sync_project,
)

templates_app = typer.Typer(help="Message templates.", no_args_is_help=True)
FileOpt = typer.Option(..., "--file", exists=True, dir_okay=False, help="A template in Meta's JSON format.")
EditFileOpt = typer.Option(..., "--file", exists=True, dir_okay=False,
                           help="The edit in Meta's JSON format: components (and category, message_send_ttl_seconds).")
TemplateOpt = typer.Option(..., "--template", help="Template name.")
LanguageOpt = typer.Option(None, "--language", help="The template's language (when it has several).")


def _summary(template: Any) -> dict:
    return {"id": str(template.id), "meta_id": template.meta_id, "name": template.name, "language": template.language,
            "category": template.category, "status": template.status}


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
            return _summary(await create_template(session, p, data, settings))

    emit(run(work), as_json)


@templates_app.command("edit")
def templates_edit(project: str = ProjectOpt, template: str = TemplateOpt, file: Path = EditFileOpt,
                   language: str = LanguageOpt, as_json: bool = JsonOpt) -> None:
    """Edit a template's components and submit the edit to Meta for review (an approved
    template goes back to PENDING until Meta approves the edit; a sandbox project approves it
    at once). Name, language and parameter format stay."""

    data = _definition(file)
    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            found = await service.find(session, p.id, template, language)
            return _summary(await edit_template(session, p, found, data, settings))

    emit(run(work), as_json)


@templates_app.command("duplicate")
def templates_duplicate(project: str = ProjectOpt, template: str = TemplateOpt,
                        name: str = typer.Option(..., "--name", help="The copy's name."), language: str = LanguageOpt,
                        to_language: str = typer.Option(None, "--to-language", help="The copy's language (default: the same)."),
                        as_json: bool = JsonOpt) -> None:
    """Copy a template under a new name (or language): created and submitted like a new one."""

    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            found = await service.find(session, p.id, template, language)
            return _summary(await duplicate_template(session, p, found, name, settings, to_language))

    emit(run(work), as_json)


@templates_app.command("delete")
def templates_delete(project: str = ProjectOpt, template: str = TemplateOpt, language: str = LanguageOpt,
                     as_json: bool = JsonOpt) -> None:
    """Delete a template (at Meta too); refused while a campaign or broadcast uses it."""

    settings = get_settings()

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            found = await service.find(session, p.id, template, language)
            out = {"deleted": True, "name": found.name, "language": found.language, "id": str(found.id)}
            await delete_template(session, p, found, settings)
            return out

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
