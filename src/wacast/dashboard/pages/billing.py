"""Billing in Settings (owners): the rate card (the version in force, every version, import a
CSV, edit the current one as a new version), budgets (monthly, per broadcast); and the ledger
(managers): billable messages and their cost by month, day, campaign or broadcast, with a CSV
export. The same service functions as /api/v1/rate-cards, /api/v1/budgets and /api/v1/ledger."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.billing import budgets, service
from wacast.billing import repository as billing_repo
from wacast.billing.rate_card_csv import MAX_BYTES
from wacast.dashboard.forms import fields, query_text
from wacast.dashboard.web import DashboardRoute, Manager, Owner, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.kit.text import clean

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

ImportForm = fields("file", "currency", "effective_from", "note")
EditForm = fields("rates", "currency", "effective_from", "note")
BudgetForm = fields("scope", "broadcast", "amount", "currency")
RemoveForm = fields("scope", "broadcast")
LEDGER_QUERY = ("group_by", "from", "to", "campaign")


@router.get("/settings/billing")
async def billing_page(request: Request, ctx: Owner, session: ReadSession) -> Response:
    cards = await service.list_rate_cards(session, ctx.project.id)
    current = next((c for c in cards if c["in_force"]), None)
    shown = await service.show_rate_card(session, ctx.project.id, "current") if current else None
    text_now = await service.rate_card_csv(session, ctx.project.id, "current") if current else "category,country,price,region\n"
    return render(ctx, "billing.html", page="settings", cards=cards, current=shown, rates_text=text_now,
                  budgets=await budgets.list_budgets(session, ctx.project.id),
                  broadcasts=await service.broadcast_choices(session, ctx.project.id))


@router.post("/settings/billing/import")
async def billing_import(request: Request, ctx: Owner, form: ImportForm, session: WriteSession) -> Response:
    upload = form.upload("file")
    if upload is None:
        raise WacastError("Choose a rate card CSV file to import", "CSV_EMPTY")
    data = await upload.read(MAX_BYTES + 1)
    made = await service.import_csv(session, ctx.project.id, data, currency=form.text("currency"), effective_from=form.text("effective_from"),
                                    note=form.text("note") or None)
    return redirect(ctx, "/settings/billing", f"Rate card version {made['version']} saved: {made['rates']} rates, from {made['effective_from'][:16]}.")


@router.post("/settings/billing/edit")
async def billing_edit(request: Request, ctx: Owner, form: EditForm, session: WriteSession) -> Response:
    """The rates as edited in the page's text box, saved as a new version (the old one stays)."""
    made = await service.import_csv(session, ctx.project.id, form.text("rates", multiline=True, max_len=MAX_BYTES), currency=form.text("currency"),
                                    effective_from=form.text("effective_from"), note=form.text("note") or None, source="dashboard")
    return redirect(ctx, "/settings/billing", f"Rate card version {made['version']} saved: {made['rates']} rates, from {made['effective_from'][:16]}.")


@router.post("/settings/billing/budget")
async def billing_budget(request: Request, ctx: Owner, form: BudgetForm, session: WriteSession) -> Response:
    scope = form.text("scope") or "month"
    made = await budgets.set_budget(session, ctx.project.id, scope=scope, campaign=(form.text("broadcast") or None) if scope == "broadcast" else None,
                                    amount=form.text("amount"), currency=form.text("currency") or None)
    what = f"the broadcast {made['campaign']}" if made["campaign"] else "the project, per month"
    return redirect(ctx, "/settings/billing", f"Budget for {what}: {made['amount']} {made['currency']}.")


@router.post("/settings/billing/budget/remove")
async def billing_budget_remove(request: Request, ctx: Owner, form: RemoveForm, session: WriteSession) -> Response:
    scope = form.text("scope") or "month"
    await budgets.remove_budget(session, ctx.project.id, scope=scope, campaign=(form.text("broadcast") or None) if scope == "broadcast" else None)
    return redirect(ctx, "/settings/billing", "Budget removed.")


def _ledger_query(request: Request) -> dict[str, str]:
    return {name: query_text(request, name) for name in LEDGER_QUERY}


@router.get("/billing/ledger")
async def ledger_page(request: Request, ctx: Manager, session: ReadSession) -> Response:
    query = _ledger_query(request)
    error = None
    try:
        report = await service.ledger(session, ctx.project.id, group_by=query["group_by"] or "month", start=query["from"] or None,
                                      end=query["to"] or None, campaign=query["campaign"] or None)
    except WacastError as refused:
        report, error = {"rows": [], "totals": [], "group_by": []}, f"{refused.message} ({refused.code})"
    return render(ctx, "billing_ledger.html", status_code=400 if error else 200, page="billing", report=report, query=query, error=error,
                  groups=billing_repo.GROUPS, export=urlencode({k: v for k, v in query.items() if v}))


@router.get("/billing/ledger.csv")
async def ledger_export(request: Request, ctx: Manager, session: ReadSession) -> Response:
    query = _ledger_query(request)
    report = await service.ledger(session, ctx.project.id, group_by=query["group_by"] or "month", start=query["from"] or None,
                                  end=query["to"] or None, campaign=query["campaign"] or None)
    name = clean("filename", f"ledger-{ctx.project.name}", max_len=120)
    return Response(service.ledger_csv(report), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{"".join(c for c in name if c.isalnum() or c in "-_") or "ledger"}.csv"'})
