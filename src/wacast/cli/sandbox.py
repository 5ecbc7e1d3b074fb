"""`wacast sandbox ...`: the sandbox provider's failure rule of a project (docs/delivery.md,
"Failures in the sandbox"); the same use cases as the sandbox inbox page."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from wacast.cli.common import JsonOpt, ProjectOpt, console, emit, project_by_name, run
from wacast.config import get_settings
from wacast.db.engine import Database
from wacast.whatsapp import sandbox
from wacast.whatsapp import sandbox_failures as failures

NumberOpt = typer.Option(None, "--number", help="A destination whose every send fails; NUMBER=CODE for its own code. Repeat it.")
sandbox_app = typer.Typer(help="The sandbox provider: make sends fail with Meta's error codes.", no_args_is_help=True)


def _text(view: dict[str, Any]) -> str:
    source = "its own rule" if view["source"] == "project" else "the default (WACAST_SANDBOX_FAIL_*)"
    lines = [f"Project {view['project']} ({view['provider']}): {source}", f"  {view['description']}"]
    if view["numbers"]:
        lines.append("  numbers: " + ", ".join(f"{n} ({c})" for n, c in view["numbers"]))
    if view["provider"] != "sandbox":
        lines.append("  (a Cloud API project: Meta answers its sends, the rule does not apply)")
    return "\n".join(lines)


@sandbox_app.command("fail")
def sandbox_fail(
    project: str = ProjectOpt,
    rate: float = typer.Option(None, "--rate", help="Per cent of sends that fail (0-100), chosen by message id."),
    code: str = typer.Option(None, "--code", help=f"Meta error code they fail with (default {failures.DEFAULT_CODE}; `wacast sandbox codes`)."),
    number: list[str] = NumberOpt,
    mode: str = typer.Option("sync", "--mode", help="sync: the send is refused (the retry policy applies); webhook: accepted, then a failed status webhook."),
    off: bool = typer.Option(False, "--off", help="No failures for this project (whatever the default)."),
    default: bool = typer.Option(False, "--default", help="Drop the project's rule: the WACAST_SANDBOX_FAIL_* default applies."),
    as_json: bool = JsonOpt,
) -> None:
    """Set a sandbox project's failure rule (it replaces the previous one whole)."""
    given: dict[str, Any] | None
    if off and default:
        raise typer.BadParameter("--off and --default exclude each other")
    if default:
        given = None
    elif off:
        given = {"rate": 0, "numbers": [], "mode": mode}
    else:
        if rate is None and not number:
            raise typer.BadParameter("give --rate and/or --number (or --off, or --default)")
        given = {"rate": rate or 0, "code": code, "numbers": list(number or []), "mode": mode}

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            return await sandbox.set_failure_rule(session, p, given, failures.from_settings(get_settings()))

    view = run(work)
    emit(view, as_json, _text(view))


@sandbox_app.command("show")
def sandbox_show(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """The failure rule that applies to a project's sandbox sends, and where it comes from."""

    async def work(db: Database) -> dict:
        async with db.read() as session:
            p = await project_by_name(session, project)
            return await sandbox.failure_rule(session, p, failures.from_settings(get_settings()))

    view = run(work)
    emit(view, as_json, _text(view))


@sandbox_app.command("codes")
def sandbox_codes(as_json: bool = JsonOpt) -> None:
    """The Meta error codes a rule can use, what they mean, and what the dispatcher does with each (sync mode)."""
    choices = failures.code_choices()
    if as_json:
        emit({"codes": choices}, True)
        return
    table = Table("code", "meaning", "refused at the send (sync)")
    for c in choices:
        table.add_row(str(c["code"]), c["meaning"], c["sync_effect"])
    console.print(table)

