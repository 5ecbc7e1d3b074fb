"""`wacast projects ...`: a WhatsApp sender and its settings."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from wacast.cli.common import JsonOpt, console, emit, run
from wacast.db.engine import Database
from wacast.messages import senders
from wacast.projects import service
from wacast.projects import service as projects_service

projects_app = typer.Typer(help="Projects (a WhatsApp sender and its settings).", no_args_is_help=True)

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

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            project = await service.create(session, name, default_country=default_country, waba_id=waba_id,
                                           phone_number_id=phone_number_id, access_token=access_token,
                                           messages_per_second=messages_per_second, sender_number=sender_number)
            return _project_dict(project)

    emit(run(work), as_json)


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

    emit(run(work), as_json)


@projects_app.command("list")
def projects_list(as_json: bool = JsonOpt) -> None:
    """List projects."""

    async def work(db: Database) -> list:
        async with db.read() as session:
            return [_project_dict(p) for p in await projects_service.list_all(session)]

    rows = run(work)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("name", "provider", "country", "msg/s", "halted")
    for row in rows:
        table.add_row(row["name"], row["provider"], row["default_country"], str(row["messages_per_second"]), row["halted_reason"] or "")
    console.print(table)
