"""`wacast tags ...` and `wacast attributes ...`: what requests may assign to contacts;
`wacast contacts consent|consent-settings|export-person|erase`: consent and a person's data."""

from __future__ import annotations

import json

import typer

from wacast.cli.common import JsonOpt, ProjectOpt, emit, project_by_name, run
from wacast.contacts import consent, privacy
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


contacts_app = typer.Typer(help="A contact's marketing consent, its data export and erasure (docs/consent.md).", no_args_is_help=True)


@contacts_app.command("consent")
def contacts_consent(contact: str = typer.Argument(..., help="Contact id, phone number or BSUID."), project: str = ProjectOpt,
                     granted: bool = typer.Option(..., "--granted/--withdrawn", help="Grant or withdraw marketing consent."),
                     source: str = typer.Option(None, "--source", help="Where it was given (a form, a shop ...)."),
                     evidence: str = typer.Option(None, "--evidence", help="The raw evidence text."),
                     at: str = typer.Option(None, "--at", help="When it was given (ISO time); default now."),
                     as_json: bool = JsonOpt) -> None:
    """Record a grant or withdrawal of a contact's marketing consent, with its evidence."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            value = {"granted": granted, **({"source": source} if source else {}), **({"evidence": evidence} if evidence else {}),
                     **({"at": at} if at else {})}
            out = await consent.set_consent(session, p.id, contact, value, method="cli")
            return {"id": str(out.id), "marketing_consent": out.marketing_consent, "consent_at": out.consent_at}

    emit(run(work), as_json)


@contacts_app.command("consent-settings")
def contacts_consent_settings(project: str = ProjectOpt,
                              require: bool = typer.Option(None, "--require/--no-require", help="Require consent for MARKETING sends."),
                              payloads: str = typer.Option(None, "--payloads", help="Comma-separated quick-reply payloads that grant consent."),
                              as_json: bool = JsonOpt) -> None:
    """Show or change require_marketing_consent and the double opt-in payloads."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            body: dict = {}
            if require is not None:
                body["require_marketing_consent"] = require
            if payloads is not None:
                body["consent_payloads"] = [x.strip() for x in payloads.split(",") if x.strip()]
            return await consent.update_settings(session, p.id, body) if body else await consent.get_settings(session, p.id)

    emit(run(work), as_json)


@contacts_app.command("export-person")
def contacts_export_person(contact: str = typer.Argument(..., help="Contact id, phone number or BSUID."), project: str = ProjectOpt,
                           output: str = typer.Option(None, "--output", "-o", help="Write the JSON to this file (default: print it)."),
                           as_json: bool = JsonOpt) -> None:
    """Everything wacast holds about one contact, as JSON."""

    async def work(db: Database) -> dict:
        async with db.read() as session:
            p = await project_by_name(session, project)
            return await privacy.export_person(session, p.id, contact)

    data = run(work)
    if output:
        with open(output, "w", encoding="utf-8") as out:
            json.dump(data, out, default=str, indent=2, ensure_ascii=False)
        emit({"written": output, "messages": len(data["messages"])}, as_json)
    else:
        print(json.dumps(data, default=str, indent=2, ensure_ascii=False))


@contacts_app.command("erase")
def contacts_erase(contact: str = typer.Argument(..., help="Contact id, phone number or BSUID."), project: str = ProjectOpt,
                   yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."), as_json: bool = JsonOpt) -> None:
    """Erase a contact's personal data everywhere; its messages stay as anonymous counts."""
    if not yes and not typer.confirm(f"Erase every piece of personal data of {contact}? This cannot be undone"):
        raise typer.Exit(1)

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            return await privacy.erase_person(session, p.id, contact)

    emit(run(work), as_json)
