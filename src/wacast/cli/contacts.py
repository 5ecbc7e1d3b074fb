"""`wacast tags ...` and `wacast attributes ...`: what requests may assign to contacts."""

from __future__ import annotations

import typer

from wacast.cli.common import JsonOpt, ProjectOpt, emit, project_by_name, run
from wacast.contacts import service as contacts_service
from wacast.db.engine import Database

tags_app = typer.Typer(help="Contact tags.", no_args_is_help=True)
attributes_app = typer.Typer(help="Contact attributes.", no_args_is_help=True)


@tags_app.command("create")
def tags_create(names: list[str], project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Define tags (requests may then assign them)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            created, existing = await contacts_service.create_tags(session, p.id, names)
            return {"created": created, "existing": existing}

    emit(run(work), as_json)


@attributes_app.command("create")
def attributes_create(names: list[str], project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Define contact attributes (requests may then set them)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            created, existing = await contacts_service.create_attributes(session, p.id, names)
            return {"created": created, "existing": existing}

    emit(run(work), as_json)
