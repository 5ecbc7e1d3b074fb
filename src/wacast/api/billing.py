"""Billing's REST API: /api/v1/rate-cards (list, import CSV or JSON, show), /api/v1/ledger
(JSON or CSV), a broadcast's estimate beside its actual cost, /api/v1/budgets and
/api/v1/billing/estimate. Each route calls one billing service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from wacast.api.auth import ApiIdentity, require_full
from wacast.api.common import allow_fields, answer, doc
from wacast.billing import budgets, service
from wacast.billing.pricing import ANY_COUNTRY
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.kit.http import MAX_BODY, read_body, read_json

router = APIRouter(prefix="/api/v1", tags=["Billing"])
FullKey = Annotated[ApiIdentity, Depends(require_full)]

CARD_EXAMPLE = {"id": "5b0c0c1e-7f57-4a55-9d3f-2b8f2f0f7e11", "version": 2, "currency": "INR", "effective_from": "2027-01-01T00:00:00+00:00",
                "note": "Meta's January prices", "source": "csv", "created_at": "2026-12-07T10:00:00+00:00", "rates": 14, "in_force": False}
IMPORT_EXAMPLE = {"currency": "INR", "effective_from": "2027-01-01", "note": "Meta's January prices",
                  "rates": [{"category": "marketing", "country": "IN", "price": "0.8631"},
                            {"category": "utility", "country": "*", "price": "0.1150", "region": "everywhere else"}]}
LEDGER_EXAMPLE = {"group_by": ["month"], "from": "2026-12-01", "to": "2026-12-31", "rows": [
    {"month": "2026-12", "category": "marketing", "country": "IN", "currency": "INR", "messages": 120, "billable": 118, "free": 2,
     "cost": "101.845800", "unpriced": 0}],
    "totals": [{"currency": "INR", "messages": 120, "billable": 118, "free": 2, "unpriced": 0, "cost": "101.845800"}]}
BUDGET_EXAMPLE = {"id": "0e4c1d38-0a51-4bb7-a0a4-a4f0b6b0c1aa", "scope": "month", "campaign_id": None, "campaign": None, "amount": "5000.000000",
                  "currency": "INR", "warned": None, "exceeded": None, "updated_at": "2026-12-07T10:00:00+00:00"}
ESTIMATE_FIELDS = ("counts", "at")


@router.get("/rate-cards", summary="Every version of the project's rate card, newest first (in_force marks the one pricing now)",
            **doc({"data": [CARD_EXAMPLE]}))
async def list_rate_cards(identity: FullKey, session: ReadSession) -> Any:
    return {"data": await service.list_rate_cards(session, identity.project_id)}


@router.post("/rate-cards", status_code=201, summary="Import a new rate card version: JSON (rates or csv) or a text/csv body",
             description="A text/csv body takes `currency`, `effective_from` and `note` as query parameters. All rows or none: "
                         "a bad row is a 400 CSV_ROW_INVALID listing every bad row (details.errors: line, field, problem).",
             **doc(CARD_EXAMPLE, 400, 422, status=201, request_example=IMPORT_EXAMPLE, fields=service.IMPORT_FIELDS))
async def import_rate_card(request: Request, identity: FullKey, session: WriteSession, currency: str | None = None,
                           effective_from: str | None = None, note: str | None = None) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("text/csv", "text/plain", "application/csv"):
        data = await read_body(request, MAX_BODY)
        return answer(await service.import_csv(session, identity.project_id, data, currency=currency, effective_from=effective_from,
                                               note=note), 201)
    if currency is not None or effective_from is not None or note is not None:
        raise WacastError("With a JSON body, give currency, effective_from and note in the body", "VALIDATION_ERROR",
                          {"fields": ["currency", "effective_from", "note"]}, status_code=422)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    allow_fields(body, service.IMPORT_FIELDS)
    return answer(await service.import_body(session, identity.project_id, body), 201)


@router.get("/rate-cards/{version}", summary="One version (its number, or `current`) with every rate; ?format=csv for the import's CSV",
            **doc({**CARD_EXAMPLE, "rate_list": IMPORT_EXAMPLE["rates"]}, 404))
async def show_rate_card(version: str, identity: FullKey, session: ReadSession, format: str = "json") -> Any:  # noqa: A002
    if text.clean("format", format, max_len=10).lower() == "csv":
        body = await service.rate_card_csv(session, identity.project_id, version)
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="rate-card-{version}.csv"'})
    return await service.show_rate_card(session, identity.project_id, version)


@router.get("/ledger", summary="Billable messages by category and country, per campaign, broadcast, day or month, and their cost",
            description="group_by: month (default), day, campaign, broadcast, comma-separated; from/to: dates (UTC, both included); "
                        "campaign_id: an id or a name; format=csv for a CSV file. Costs are at the rate card in force at each message's time.",
            **doc(LEDGER_EXAMPLE, 400, 404))
async def ledger(identity: FullKey, session: ReadSession, group_by: str = "month", start: Annotated[str | None, Query(alias="from")] = None,
                 to: str | None = None, campaign_id: str | None = None, format: str = "json") -> Any:  # noqa: A002
    report = await service.ledger(session, identity.project_id, group_by=group_by, start=start, end=to, campaign=campaign_id)
    if text.clean("format", format, max_len=10).lower() == "csv":
        return Response(service.ledger_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})
    return report


@router.get("/ledger/broadcasts/{campaign}", summary="A broadcast's estimated cost (as it queued) beside its actual cost", **doc({
    "campaign_id": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "campaign": "diwali_sale",
    "estimate": {"currency": "INR", "messages": 1000, "cost": "863.100000", "unpriced": 0},
    "actual": {"currencies": {"INR": "846.000000"}, "messages": 990, "billable": 980}}, 404))
async def broadcast_cost(campaign: str, identity: FullKey, session: ReadSession) -> Any:
    return await service.broadcast_cost(session, identity.project_id, campaign)


@router.post("/billing/estimate", summary="Price (category, country) message counts at the rate card in force (now, or at `at`)",
             **doc({"currency": "INR", "rate_card_version": 2, "messages": 3, "cost": "1.841200", "unpriced_messages": 0, "lines": []}, 400,
                   request_example={"counts": [{"category": "marketing", "country": "IN", "messages": 2}, {"category": "utility", "country": "AE", "messages": 1}]},
                   fields=ESTIMATE_FIELDS))
async def estimate(identity: FullKey, session: ReadSession, request: Request) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    allow_fields(body, ESTIMATE_FIELDS)
    counts: dict[tuple[str, str], int] = {}
    items = body.get("counts")
    if not isinstance(items, list) or len(items) > 10000:
        raise WacastError("counts must be a list of {category, country, messages} (at most 10000)", "FIELD_INVALID", {"field": "counts"})
    for i, item in enumerate(items):
        allow_fields(item, ("category", "country", "messages"), f"counts[{i}]")
        if not isinstance(item, dict) or not isinstance(item.get("messages"), int) or isinstance(item.get("messages"), bool) or item["messages"] < 0:
            raise WacastError(f"counts[{i}].messages must be a whole number", "FIELD_INVALID", {"field": f"counts[{i}].messages"})
        category = text.clean(f"counts[{i}].category", item.get("category", ""), max_len=40)
        country = text.clean(f"counts[{i}].country", item.get("country") or ANY_COUNTRY, max_len=2)
        counts[(category, country)] = counts.get((category, country), 0) + item["messages"]
    at = service.effective_time(body["at"], utcnow()) if body.get("at") else None
    return (await service.estimate_cost(session, identity.project_id, counts, at)).as_dict()


@router.get("/budgets", summary="The project's budgets (monthly, per broadcast) with what each has used", **doc({"data": [BUDGET_EXAMPLE]}))
async def list_budgets(identity: FullKey, session: ReadSession) -> Any:
    return {"data": await budgets.list_budgets(session, identity.project_id)}


@router.put("/budgets", summary="Set the project's monthly budget (scope month) or a broadcast's (scope broadcast, campaign_id)",
            **doc(BUDGET_EXAMPLE, 400, 404, 422, request_example={"scope": "month", "amount": 5000, "currency": "INR"}, fields=budgets.BUDGET_FIELDS))
async def set_budget(identity: FullKey, session: WriteSession, request: Request) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    allow_fields(body, budgets.BUDGET_FIELDS)
    return await budgets.set_budget(session, identity.project_id, scope=body.get("scope", "month"), campaign=body.get("campaign_id"),
                                    amount=body.get("amount"), currency=body.get("currency"))


@router.delete("/budgets", status_code=204, summary="Remove a budget (?scope=month, or ?scope=broadcast&campaign_id=...)", **doc(None, 404, status=204))
async def delete_budget(identity: FullKey, session: WriteSession, scope: str = "month", campaign_id: str | None = None) -> Response:
    await budgets.remove_budget(session, identity.project_id, scope=scope, campaign=campaign_id)
    return Response(status_code=204)
