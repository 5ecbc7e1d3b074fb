"""Billing's use cases, one function each, called by REST (api/billing.py), the dashboard
(dashboard/pages/billing.py) and the CLI (cli/billing.py): rate card versions (import, list,
show), the pricing Meta reports for each message (from whatsapp/statuses.py), the ledger and
the estimate of a list of (category, country) counts. Services flush, never commit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.billing import pricing
from wacast.billing import rate_card_csv as card_csv
from wacast.billing import repository as repo
from wacast.billing.pricing import Estimate, RateTable, money
from wacast.kit import csv as kit_csv
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.models.billing import RateCard
from wacast.models.campaigns import Campaign

IMPORT_FIELDS = ("currency", "effective_from", "note", "rates", "csv")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_LEDGER_DAYS = 3660


# --- checks of what people type ------------------------------------------------------------------


def check_currency(value: Any, field: str = "currency") -> str:
    word = text.clean(field, value if value is not None else "", max_len=10).upper()
    if not _CURRENCY.match(word):
        raise WacastError(f"{field} must be an ISO 4217 currency code such as INR, USD or EUR", "INVALID_CURRENCY", {"field": field})
    return word


def _day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date.fromisoformat(value)
    except ValueError:
        raise WacastError(f"{field} must be a date such as 2026-12-31", "INVALID_DATE", {"field": field}) from None


def effective_time(value: Any, now: datetime) -> datetime:
    """When a new version takes effect: a date's start (00:00 UTC), or now (empty, or today),
    to the whole second: Meta's status times are whole seconds."""
    now = now.replace(microsecond=0)
    if value is None or value == "":
        return now
    if isinstance(value, datetime):
        given = value.astimezone(UTC)
        return max(given, now) if given.date() == now.date() else given
    word = text.clean("effective_from", value if isinstance(value, str) else str(value), max_len=40)
    if not word:
        return now
    if len(word) > 10:
        try:
            given = datetime.fromisoformat(word.replace("Z", "+00:00"))
        except ValueError:
            raise WacastError("effective_from must be a date such as 2026-12-31 (or a time with its zone)", "INVALID_DATE",
                              {"field": "effective_from"}) from None
        if given.tzinfo is None:
            raise WacastError("effective_from needs a time zone (2026-12-31T00:00:00+05:30) or just a date", "INVALID_DATE",
                              {"field": "effective_from"})
        return effective_time(given, now)
    day = _day(word, "effective_from")
    if day == now.date():
        return now
    return datetime.combine(day, time(), UTC)


# --- rate cards ----------------------------------------------------------------------------------


def card_view(card: RateCard, rates: int | None = None, *, in_force: bool | None = None) -> dict[str, Any]:
    out = {"id": str(card.id), "version": card.version, "currency": card.currency, "effective_from": card.effective_from.isoformat(),
           "note": card.note, "source": card.source, "created_at": card.created_at.isoformat()}
    if rates is not None:
        out["rates"] = rates
    if in_force is not None:
        out["in_force"] = in_force
    return out


def rate_view(rate: Any) -> dict[str, Any]:
    return {"category": rate.category, "country": rate.country, "price": money(rate.price_micros), "region": rate.region}


async def import_rate_card(
    session: AsyncSession, project_id: uuid.UUID, *, currency: Any, effective_from: Any, rows: list[card_csv.RateRow],
    source: str, note: Any = None, now: datetime | None = None,
) -> dict[str, Any]:
    """A new version of the project's rate card, all rows or none. It takes effect at
    `effective_from` (a date: its 00:00 UTC; empty or today: now) and never before now, so no
    message already sent changes price; only a project's first card may be dated back (it
    prices the messages before it, which had no price)."""
    now = (now or utcnow()).replace(microsecond=0)
    currency = check_currency(currency)
    starts = effective_time(effective_from, now)
    note_text = (text.clean("note", note, max_len=200) or None) if note is not None else None
    latest = await repo.latest_version(session, project_id)
    if latest and starts < now:
        raise WacastError(
            "A new rate card version cannot take effect in the past: the messages already sent keep the price of the version in "
            "force then. Give today or a later date.", "RATE_CARD_IN_PAST", {"effective_from": starts.isoformat(), "now": now.isoformat()},
        )
    card = RateCard(project_id=project_id, version=latest + 1, currency=currency, effective_from=starts, note=note_text,
                    source=source, created_at=now)
    await repo.add_card(session, card, [{"category": r.category, "country": r.country, "price_micros": r.price_micros, "region": r.region}
                                        for r in rows])
    return {**card_view(card, len(rows)), "rates": len(rows)}


async def import_body(session: AsyncSession, project_id: uuid.UUID, body: dict[str, Any], *, source: str = "json") -> dict[str, Any]:
    """A JSON import: {currency, effective_from, note, rates: [...]} or {..., csv: "<the CSV text>"}."""
    if ("rates" in body) == ("csv" in body):
        raise WacastError("Give the rates either as `rates` (a list) or as `csv` (the file's text), not both", "FIELD_REQUIRED",
                          {"field": "rates"})
    if "csv" in body:
        if not isinstance(body["csv"], str):
            raise WacastError("csv must be the CSV file's text", "FIELD_INVALID", {"field": "csv"})
        rows, source = card_csv.parse_csv(body["csv"]), "csv"
    else:
        rows = card_csv.parse_json_rates(body["rates"])
    return await import_rate_card(session, project_id, currency=body.get("currency"), effective_from=body.get("effective_from"),
                                  rows=rows, source=source, note=body.get("note"))


async def import_csv(session: AsyncSession, project_id: uuid.UUID, data: bytes | str, *, currency: Any, effective_from: Any = None,
                     note: Any = None, source: str = "csv") -> dict[str, Any]:
    return await import_rate_card(session, project_id, currency=currency, effective_from=effective_from,
                                  rows=card_csv.parse_csv(data), source=source, note=note)


async def list_rate_cards(session: AsyncSession, project_id: uuid.UUID, now: datetime | None = None) -> list[dict[str, Any]]:
    current = await repo.card_in_force(session, project_id, now or utcnow())
    return [card_view(card, rates, in_force=current is not None and card.id == current.id) for card, rates in await repo.cards(session, project_id)]


async def _card(session: AsyncSession, project_id: uuid.UUID, ref: Any, now: datetime) -> RateCard:
    word = text.clean("version", str(ref), max_len=60)
    if word in ("current", ""):
        card = await repo.card_in_force(session, project_id, now)
    elif word.isdigit():
        card = await repo.card_by_version(session, project_id, int(word))
    else:
        card = None
    if card is None:
        raise NotFound(f"No rate card version {word or 'in force'}" if word not in ("current", "") else "No rate card is in force yet: import one",
                       "RATE_CARD_NOT_FOUND", {"version": word})
    return card


async def show_rate_card(session: AsyncSession, project_id: uuid.UUID, ref: Any = "current", now: datetime | None = None) -> dict[str, Any]:
    """One version (its number, or `current`) with every rate."""
    now = now or utcnow()
    card = await _card(session, project_id, ref, now)
    current = await repo.card_in_force(session, project_id, now)
    rates = await repo.rates_of(session, card.id)
    return {**card_view(card, len(rates), in_force=current is not None and current.id == card.id), "rate_list": [rate_view(r) for r in rates]}


async def rate_card_csv(session: AsyncSession, project_id: uuid.UUID, ref: Any = "current") -> str:
    """A version as the import's CSV (to edit and import as the next version)."""
    card = await _card(session, project_id, ref, utcnow())
    return card_csv.to_csv(await repo.rates_of(session, card.id))


async def table_at(session: AsyncSession, project_id: uuid.UUID, at: datetime) -> RateTable | None:
    card = await repo.card_in_force(session, project_id, at)
    if card is None:
        return None
    rates = await repo.rates_of(session, card.id)
    return RateTable(card.currency, {(r.category, r.country): r.price_micros for r in rates}, card.version)


# --- pricing of each message (Meta's status webhooks) ------------------------------------------------


async def record_pricing(session: AsyncSession, items: list[tuple[uuid.UUID, Any, datetime]]) -> int:
    """Keep Meta's `pricing` of each message once, whichever status carries it: `items` are
    (message id, the status's `pricing` object, the status's time) of one batch of statuses. The
    country is the destination's; the time chooses the rate card. Returns the rows written."""
    first: dict[uuid.UUID, tuple[pricing.Pricing, datetime]] = {}
    for message_id, value, at in items:
        read = pricing.read_pricing(value)
        if read is not None and message_id not in first:
            first[message_id] = (read, at)
    if not first:
        return 0
    now = utcnow()
    rows = []
    for message in await repo.messages_to_price(session, list(first)):
        read, at = first[message.id]
        rows.append({
            "message_id": message.id, "project_id": message.project_id, "campaign_id": message.campaign_id,
            "broadcast_id": message.broadcast_id, "category": read.category, "type": read.type, "pricing_model": read.pricing_model,
            "billable_flag": read.billable_flag, "billable": read.billable, "country": pricing.country_of(message.destination),
            "priced_at": at, "recorded_at": now,
        })
    await repo.insert_pricing(session, rows)
    return len(rows)


# --- the ledger -------------------------------------------------------------------------------------


def parse_group_by(value: Any) -> list[str]:
    word = text.clean("group_by", value or "month", max_len=100)
    parts = [p.strip().lower() for p in word.split(",") if p.strip()] or ["month"]
    unknown = [p for p in parts if p not in repo.GROUPS]
    if unknown:
        raise WacastError(f"group_by takes {', '.join(repo.GROUPS)} (comma-separated); not {', '.join(unknown)}", "INVALID_GROUP_BY",
                          {"field": "group_by", "allowed": list(repo.GROUPS)})
    return list(dict.fromkeys(parts))


def date_range(start: Any, end: Any) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` (dates, both included, UTC) as [start, end)."""
    first = _day(text.clean("from", start, max_len=40), "from") if start else None
    last = _day(text.clean("to", end, max_len=40), "to") if end else None
    if first and last and (last < first or (last - first).days > MAX_LEDGER_DAYS):
        raise WacastError("to must be on or after from, at most ten years later", "INVALID_DATE_RANGE", {"from": str(first), "to": str(last)})
    return (datetime.combine(first, time(), UTC) if first else None,
            datetime.combine(last + timedelta(days=1), time(), UTC) if last else None)


async def find_campaign(session: AsyncSession, project_id: uuid.UUID, ref: Any, *, broadcast_only: bool = False) -> Campaign:
    """A campaign (or only a broadcast) of the project by id or name."""
    word = text.clean("campaign_id", ref if isinstance(ref, str) else str(ref), max_len=200)
    found = await repo.campaign_by_ref(session, project_id, word, broadcast_only=broadcast_only)
    if found is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": word})
    return found


async def ledger(
    session: AsyncSession, project_id: uuid.UUID, *, group_by: Any = "month", start: Any = None, end: Any = None, campaign: Any = None,
) -> dict[str, Any]:
    """Billable messages by category and country, per campaign, broadcast, day or month (UTC),
    and their cost at the rate card in force at each message's time, per currency."""
    groups = parse_group_by(group_by)
    first, last = date_range(start, end)
    campaign_id = (await find_campaign(session, project_id, campaign)).id if campaign else None
    rows = await repo.ledger(session, project_id, groups, first, last, campaign_id)
    named = {getattr(r, k) for r in rows for k in ("campaign_id", "broadcast_id") if k in r._fields and getattr(r, k)}
    names = await repo.campaign_names(session, project_id, named)
    out_rows, totals = [], {}
    for r in rows:
        item: dict[str, Any] = {}
        for key in ("month", "day"):
            if key in r._fields:
                item[key] = getattr(r, key)
        for key, name in (("campaign_id", "campaign"), ("broadcast_id", "broadcast")):
            if key in r._fields:
                value = getattr(r, key)
                item[key] = str(value) if value else None
                item[name] = names.get(value) if value else None
        billable = int(r.billable or 0)
        item.update(category=r.category, country=r.country, currency=r.currency, messages=int(r.messages), billable=billable,
                    free=int(r.messages) - billable, cost=money(int(r.cost_micros or 0)) if r.currency else None,
                    unpriced=int(r.unpriced or 0) if r.currency else billable)
        out_rows.append(item)
        total = totals.setdefault(r.currency or "", {"currency": r.currency, "messages": 0, "billable": 0, "free": 0, "cost_micros": 0, "unpriced": 0})
        total["messages"] += item["messages"]
        total["billable"] += billable
        total["free"] += item["free"]
        total["cost_micros"] += int(r.cost_micros or 0) if r.currency else 0
        total["unpriced"] += item["unpriced"]
    return {
        "group_by": groups, "from": first.date().isoformat() if first else None,
        "to": (last - timedelta(days=1)).date().isoformat() if last else None, "rows": out_rows,
        "totals": [{**{k: v for k, v in t.items() if k != "cost_micros"}, "cost": money(t["cost_micros"]) if t["currency"] else None}
                   for _, t in sorted(totals.items())],
    }


GROUP_COLUMNS = {"month": ("month",), "day": ("day",), "campaign": ("campaign", "campaign_id"), "broadcast": ("broadcast", "broadcast_id")}
LEDGER_COLUMNS = ("category", "country", "currency", "messages", "billable", "free", "cost", "unpriced")


def ledger_csv(report: dict[str, Any]) -> str:
    """The ledger's rows as CSV (kit/csv: every cell formula-guarded): its grouping's columns, then the sums."""
    columns = [c for g in ("month", "day", "campaign", "broadcast") if g in report["group_by"] for c in GROUP_COLUMNS[g]]
    columns += LEDGER_COLUMNS
    return kit_csv.rows_to_text([columns, *([row.get(c) if row.get(c) is not None else "" for c in columns] for row in report["rows"])])


# --- estimates ---------------------------------------------------------------------------------------


async def estimate_cost(session: AsyncSession, project_id: uuid.UUID, counts: Mapping[tuple[str, str], int], at: datetime | None = None) -> Estimate:
    """What (category, country) message counts would cost at the rate card in force at `at`
    (now): for the broadcast dry run. Categories are Meta's pricing words (a template's
    MARKETING is marketing); countries ISO codes (pricing.country_of of a destination)."""
    table = await table_at(session, project_id, at or utcnow())
    merged: dict[tuple[str, str], int] = {}
    for (category, country), count in counts.items():
        key = (pricing.template_category(category), (country or pricing.ANY_COUNTRY).upper())
        merged[key] = merged.get(key, 0) + int(count)
    return pricing.estimate(table, merged)


async def broadcast_cost(session: AsyncSession, project_id: uuid.UUID, ref: Any) -> dict[str, Any]:
    """A broadcast's estimate (as it queued) beside its actual cost (Meta's pricing at the rate card)."""
    campaign = await find_campaign(session, project_id, ref)
    spend = await repo.spend(session, campaign.id)
    actual = await repo.actual_cost(session, project_id, broadcast_id=campaign.id)
    mine = await repo.ledger(session, project_id, [], None, None, campaign.id)
    return {
        "campaign_id": str(campaign.id), "campaign": campaign.name,
        "estimate": {"currency": spend.currency if spend else None, "messages": spend.messages if spend else 0,
                     "cost": money(spend.amount_micros) if spend and spend.currency else None, "unpriced": spend.unpriced if spend else 0},
        "actual": {"currencies": {cur or "": money(v) for cur, v in actual.items() if cur},
                   "messages": sum(int(r.messages) for r in mine), "billable": sum(int(r.billable or 0) for r in mine)},
    }


async def broadcast_choices(session: AsyncSession, project_id: uuid.UUID) -> list[dict[str, Any]]:
    """The project's broadcasts a budget may be set on (newest first)."""
    return [{"id": str(r.id), "name": r.name, "status": r.status} for r in await repo.broadcasts(session, project_id)]
