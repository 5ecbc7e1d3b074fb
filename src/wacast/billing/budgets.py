"""Budgets: per project and calendar month (UTC), and per broadcast; set, listed and removed by
REST, dashboard and CLI; checked by the broadcast engine before each batch
(`check_broadcast_batch`), which also records what each batch was estimated to cost.

What a budget has used (`spent`): the cost of its messages that Meta priced, at the rate card in
force at each one's time, plus the messages queued or sent and not priced yet at the broadcast's
average estimated price. The next batch is priced as if every contact of it were sent to. The
policy (80 % warning, the pause) is billing/budget_policy.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.billing import budget_policy as policy
from wacast.billing import pricing
from wacast.billing import repository as repo
from wacast.billing import service
from wacast.billing import warnings
from wacast.billing.pricing import money
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.models.billing import Budget
from wacast.models.campaigns import Campaign

BUDGET_FIELDS = ("scope", "campaign_id", "amount", "currency")
MONTH = "month"


def _scope(campaign_id: uuid.UUID | None) -> str:
    return f"broadcast:{campaign_id}" if campaign_id else MONTH


def budget_view(row: Budget, names: dict[uuid.UUID, str] | None = None) -> dict[str, Any]:
    return {"id": str(row.id), "scope": "broadcast" if row.campaign_id else MONTH, "campaign_id": str(row.campaign_id) if row.campaign_id else None,
            "campaign": (names or {}).get(row.campaign_id) if row.campaign_id else None, "amount": money(row.amount_micros),
            "currency": row.currency, "warned": row.warned_period, "exceeded": row.exceeded_period, "updated_at": row.updated_at.isoformat()}


async def _target(session: AsyncSession, project_id: uuid.UUID, scope: Any, campaign: Any) -> Campaign | None:
    word = text.clean("scope", scope if isinstance(scope, str) else "", max_len=20).lower() or MONTH
    if word not in (MONTH, "broadcast"):
        raise WacastError("scope must be month (the project's, per calendar month) or broadcast", "BUDGET_INVALID", {"field": "scope"})
    if word == MONTH:
        if campaign:
            raise WacastError("a month budget is the project's: give no campaign_id", "BUDGET_INVALID", {"field": "campaign_id"})
        return None
    if not campaign:
        raise WacastError("a broadcast budget needs campaign_id (the broadcast's id or name)", "FIELD_REQUIRED", {"field": "campaign_id"})
    return await service.find_campaign(session, project_id, campaign, broadcast_only=True)


async def set_budget(session: AsyncSession, project_id: uuid.UUID, *, scope: Any = MONTH, campaign: Any = None, amount: Any,
                     currency: Any = None) -> dict[str, Any]:
    """Set (or change) the project's monthly budget or a broadcast's. The currency defaults to
    the current rate card's and must be it when a card exists."""
    target = await _target(session, project_id, scope, campaign)
    micros = pricing.parse_price(amount if isinstance(amount, (str, int, float)) and not isinstance(amount, bool) else "")
    if micros is None or micros == 0:
        raise WacastError("amount must be a positive number such as 5000 or 2500.50", "BUDGET_INVALID", {"field": "amount"})
    now = utcnow()
    card = await repo.card_in_force(session, project_id, now)
    word = service.check_currency(currency) if currency not in (None, "") else (card.currency if card else None)
    if word is None:
        raise WacastError("currency is required while the project has no rate card", "FIELD_REQUIRED", {"field": "currency"})
    if card is not None and word != card.currency:
        raise WacastError(f"The rate card is in {card.currency}: a budget in {word} could never be measured", "BUDGET_CURRENCY_MISMATCH",
                          {"currency": word, "rate_card_currency": card.currency})
    key = _scope(target.id if target else None)
    row = await repo.budget(session, project_id, key)
    if row is None:
        row = Budget(project_id=project_id, scope=key, campaign_id=target.id if target else None, amount_micros=micros, currency=word,
                     updated_at=now)
        await repo.add_budget(session, row)
    else:
        if micros != row.amount_micros:  # a new amount: warn again when it is reached
            row.warned_period = row.exceeded_period = None
        row.amount_micros, row.currency, row.updated_at = micros, word, now
        await session.flush()
    return budget_view(row, {target.id: target.name} if target else None)


async def list_budgets(session: AsyncSession, project_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await repo.budgets(session, project_id)
    names = await repo.campaign_names(session, project_id, {r.campaign_id for r in rows if r.campaign_id})
    out = []
    for row in rows:
        view = budget_view(row, names)
        view["spent"] = money(await spent(session, project_id, row, utcnow()))
        out.append(view)
    return out


async def remove_budget(session: AsyncSession, project_id: uuid.UUID, *, scope: Any = MONTH, campaign: Any = None) -> None:
    target = await _target(session, project_id, scope, campaign)
    if not await repo.delete_budget(session, project_id, _scope(target.id if target else None)):
        raise NotFound("No such budget", "BUDGET_NOT_FOUND", {"scope": "broadcast" if target else MONTH})


def _pending_micros(pending: int, spend: Any) -> int:
    """`pending` messages at a broadcast's average estimated price (rounded up)."""
    if not pending or spend is None:
        return 0
    priced = spend.messages - spend.unpriced
    if priced <= 0:
        return 0
    return (pending * spend.amount_micros + priced - 1) // priced


async def spent(session: AsyncSession, project_id: uuid.UUID, row: Budget, now: datetime) -> int:
    """What the budget has used (micros of its currency)."""
    if row.campaign_id is not None:
        actual = (await repo.actual_cost(session, project_id, broadcast_id=row.campaign_id)).get(row.currency, 0)
        pending = (await repo.pending_by_broadcast(session, project_id, broadcast_id=row.campaign_id)).get(row.campaign_id, 0)
        spend = await repo.spend(session, row.campaign_id)
        return actual + (_pending_micros(pending, spend) if spend is not None and spend.currency == row.currency else 0)
    start, end = policy.month_start(now), policy.next_month_start(now)
    actual = (await repo.actual_cost(session, project_id, start=start, end=end)).get(row.currency, 0)
    pending = await repo.pending_by_broadcast(session, project_id, since=start)
    spends = {s.campaign_id: s for s in await repo.spends(session, project_id, set(pending))}
    return actual + sum(_pending_micros(n, spends.get(b)) for b, n in pending.items()
                        if spends.get(b) is not None and spends[b].currency == row.currency)


async def check_broadcast_batch(session: AsyncSession, campaign: Campaign, template_category: str | None,
                                destinations: list[str | None], now: datetime) -> str | None:
    """Before the engine queues a batch of `campaign` (its row locked): None to go on (the
    batch's estimate is recorded), or the reason to pause it with (a budget would be passed).
    Warns once per budget and period at 80 %."""
    if not destinations:
        return None
    table = await service.table_at(session, campaign.project_id, now)
    batch = pricing.estimate(table, pricing.count_destinations(pricing.template_category(template_category), destinations))
    mine = [b for b in await repo.budgets(session, campaign.project_id) if b.scope in (MONTH, _scope(campaign.id))]
    for row in mine:
        if table is None or row.currency != table.currency:
            continue  # nothing to measure it with
        used = await spent(session, campaign.project_id, row, now)
        verdict = policy.judge(row.amount_micros, used, batch.cost_micros)
        period = policy.month_of(now) if row.campaign_id is None else "broadcast"
        scope = MONTH if row.campaign_id is None else "broadcast"
        data = {"scope": scope, "period": period if scope == MONTH else None, "campaign_id": str(campaign.id), "campaign": campaign.name,
                "budget": money(row.amount_micros), "spent": money(used), "with_next_batch": money(verdict.used_micros),
                "percent": verdict.percent, "currency": row.currency}
        if verdict.state == "exceed":
            reason = policy.pause_reason(scope, verdict, used, row.currency)
            if row.exceeded_period != period:
                row.exceeded_period = period
                await warnings.budget_exceeded(session, campaign.project_id, {**data, "reason": reason}, now)
            return reason
        if verdict.state == "warn" and row.warned_period != period:
            row.warned_period = period
            await warnings.budget_warning(session, campaign.project_id, {**data, "message": policy.warning_words(scope, verdict, row.currency)}, now)
    await repo.add_spend(session, campaign.id, campaign.project_id, table.currency if table else None, batch.messages,
                         batch.cost_micros, batch.unpriced, now)
    return None
