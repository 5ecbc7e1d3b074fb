"""`wacast billing ...`: rate card versions (import, list, show), the ledger, estimates and
budgets. The same service functions as /api/v1/rate-cards, /api/v1/ledger and /api/v1/budgets."""

from __future__ import annotations

from pathlib import Path

import typer

from wacast.billing import budgets, service
from wacast.cli.common import JsonOpt, ProjectOpt, console, emit, fail, project_by_name, run
from wacast.db.engine import Database
from wacast.kit import text

billing_app = typer.Typer(help="Rate cards, the ledger of what messages cost, estimates and budgets.", no_args_is_help=True)


@billing_app.command("import")
def billing_import(file: Path = typer.Argument(..., help="The rate card CSV (category,country,price[,region])."), project: str = ProjectOpt,
                   currency: str = typer.Option(..., "--currency", help="ISO 4217 code: INR, USD, EUR..."),
                   effective: str = typer.Option("", "--effective", help="The date it takes effect (UTC; empty: now)."),
                   note: str = typer.Option("", "--note"), as_json: bool = JsonOpt) -> None:
    """Import a rate card CSV as a new version (all rows or none)."""
    try:
        data = file.read_bytes()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            return await service.import_csv(session, p.id, data, currency=currency, effective_from=effective, note=note or None)

    made = run(work)
    emit(made, as_json, f"rate card version {made['version']}: {made['rates']} rates in {made['currency']}, from {made['effective_from']}")


@billing_app.command("cards")
def billing_cards(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """Every version of the rate card, newest first."""

    async def work(db: Database) -> list:
        async with db.read() as session:
            return await service.list_rate_cards(session, (await project_by_name(session, project)).id)

    cards = run(work)
    if as_json:
        emit({"data": cards}, True)
        return
    for c in cards or []:
        console.print(f"v{c['version']}  {c['currency']}  from {c['effective_from']}  {c['rates']} rates"
                      + ("  (in force)" if c["in_force"] else "") + (f"  {c['note']}" if c["note"] else ""), highlight=False)
    if not cards:
        console.print("no rate card yet: `wacast billing import FILE --project ... --currency ...`")


@billing_app.command("show")
def billing_show(version: str = typer.Argument("current"), project: str = ProjectOpt,
                 as_csv: bool = typer.Option(False, "--csv", help="Print the version as the import's CSV."), as_json: bool = JsonOpt) -> None:
    """One version (its number, or current) with every rate."""

    async def work(db: Database) -> object:
        async with db.read() as session:
            p = await project_by_name(session, project)
            return await (service.rate_card_csv(session, p.id, version) if as_csv else service.show_rate_card(session, p.id, version))

    shown = run(work)
    if as_csv:
        print(shown, end="")
        return
    if as_json:
        emit(shown, True)
        return
    console.print(f"v{shown['version']}  {shown['currency']}  from {shown['effective_from']}", highlight=False)
    for r in shown["rate_list"]:
        console.print(f"  {r['category']:<30} {r['country']:<3} {r['price']}" + (f"  {r['region']}" if r["region"] else ""), highlight=False)


@billing_app.command("ledger")
def billing_ledger(project: str = ProjectOpt, group_by: str = typer.Option("month", "--group-by", help="month, day, campaign, broadcast (comma-separated)."),
                   start: str = typer.Option("", "--from"), end: str = typer.Option("", "--to"), campaign: str = typer.Option("", "--campaign"),
                   as_csv: bool = typer.Option(False, "--csv"), as_json: bool = JsonOpt) -> None:
    """Billable messages by category and country and their cost at the rate card in force then."""

    async def work(db: Database) -> dict:
        async with db.read() as session:
            p = await project_by_name(session, project)
            return await service.ledger(session, p.id, group_by=group_by, start=start or None, end=end or None, campaign=campaign or None)

    report = run(work)
    if as_csv:
        print(service.ledger_csv(report), end="")
        return
    if as_json:
        emit(report, True)
        return
    for row in report["rows"]:
        keys = " ".join(str(row[k]) for k in ("month", "day", "campaign", "broadcast") if k in row and row[k])
        console.print(f"{keys:<24} {row['category']:<28} {row['country']:<3} {row['billable']:>7} billable {row['free']:>6} free  "
                      f"{row['cost'] or '-'} {row['currency'] or '(no rate card)'}", highlight=False)
    for total in report["totals"]:
        console.print(f"total: {total['billable']} billable, {total['free']} free, {total['cost'] or '-'} {total['currency'] or '(no rate card)'}"
                      + (f", {total['unpriced']} without a rate" if total["unpriced"] else ""), highlight=False)


@billing_app.command("estimate")
def billing_estimate(project: str = ProjectOpt, count: list[str] = typer.Option(..., "--count", help="category:country:messages, e.g. marketing:IN:1000"),
                     as_json: bool = JsonOpt) -> None:
    """Price message counts at the rate card in force now."""
    counts: dict[tuple[str, str], int] = {}
    for item in count:
        parts = text.clean("--count", item, max_len=100).split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            fail(f"--count {item}: give category:country:messages, e.g. marketing:IN:1000")
        counts[(parts[0], parts[1])] = counts.get((parts[0], parts[1]), 0) + int(parts[2])

    async def work(db: Database) -> dict:
        async with db.read() as session:
            return (await service.estimate_cost(session, (await project_by_name(session, project)).id, counts)).as_dict()

    out = run(work)
    emit(out, as_json, f"{out['messages']} messages: {out['cost']} {out['currency'] or '(no rate card)'}"
         + (f", {out['unpriced_messages']} without a rate" if out["unpriced_messages"] else ""))


@billing_app.command("budget")
def billing_budget(project: str = ProjectOpt, amount: str = typer.Option(..., "--amount"), currency: str = typer.Option("", "--currency"),
                   broadcast: str = typer.Option("", "--broadcast", help="A broadcast's id or name (empty: the project's monthly budget)."),
                   as_json: bool = JsonOpt) -> None:
    """Set the project's monthly budget, or a broadcast's (--broadcast)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            return await budgets.set_budget(session, p.id, scope="broadcast" if broadcast else "month", campaign=broadcast or None,
                                            amount=amount, currency=currency or None)

    made = run(work)
    emit(made, as_json, f"budget ({made['scope']}{' ' + made['campaign'] if made['campaign'] else ''}): {made['amount']} {made['currency']}")


@billing_app.command("budgets")
def billing_budgets(project: str = ProjectOpt, as_json: bool = JsonOpt) -> None:
    """The project's budgets with what each has used."""

    async def work(db: Database) -> list:
        async with db.read() as session:
            return await budgets.list_budgets(session, (await project_by_name(session, project)).id)

    rows = run(work)
    if as_json:
        emit({"data": rows}, True)
        return
    for b in rows:
        console.print(f"{b['scope']:<9} {b['campaign'] or '':<24} {b['spent']} of {b['amount']} {b['currency']}", highlight=False)


@billing_app.command("budget-remove")
def billing_budget_remove(project: str = ProjectOpt, broadcast: str = typer.Option("", "--broadcast"), as_json: bool = JsonOpt) -> None:
    """Remove the monthly budget, or a broadcast's (--broadcast)."""

    async def work(db: Database) -> dict:
        async with db.transaction() as session:
            p = await project_by_name(session, project)
            await budgets.remove_budget(session, p.id, scope="broadcast" if broadcast else "month", campaign=broadcast or None)
            return {"removed": "broadcast" if broadcast else "month"}

    emit(run(work), as_json, "budget removed")
