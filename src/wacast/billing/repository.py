"""Every query of billing. The ledger is one aggregate statement: each priced message joined to
the rate card version in force at its time (versions as intervals, by a window function) and to
its rate (the country's own, else the card's `*`), grouped in SQL. Money is BIGINT micros, so the
sums are the same integers on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wacast.db.dialect import insert_ignore, is_postgres
from wacast.models.billing import BroadcastSpend, Budget, MessagePricing, Rate, RateCard
from wacast.models.campaigns import Campaign
from wacast.models.messages import Message

ANY_COUNTRY = "*"


# --- rate cards ----------------------------------------------------------------------------------


async def latest_version(session: AsyncSession, project_id: uuid.UUID) -> int:
    return int((await session.execute(select(func.max(RateCard.version)).where(RateCard.project_id == project_id))).scalar() or 0)


async def add_card(session: AsyncSession, card: RateCard, rates: list[dict[str, Any]]) -> None:
    session.add(card)
    await session.flush()
    if rates:
        await session.execute(Rate.__table__.insert(), [{**r, "rate_card_id": card.id} for r in rates])


async def cards(session: AsyncSession, project_id: uuid.UUID) -> list[Any]:
    """Every version, newest first, with its number of rates."""
    counted = select(Rate.rate_card_id, func.count().label("rates")).group_by(Rate.rate_card_id).subquery()
    stmt = (select(RateCard, func.coalesce(counted.c.rates, 0).label("rates"))
            .outerjoin(counted, counted.c.rate_card_id == RateCard.id)
            .where(RateCard.project_id == project_id).order_by(RateCard.version.desc()))
    return list((await session.execute(stmt)).all())


async def card_by_version(session: AsyncSession, project_id: uuid.UUID, version: int) -> RateCard | None:
    return (await session.execute(select(RateCard).where(RateCard.project_id == project_id, RateCard.version == version))).scalar_one_or_none()


async def card_in_force(session: AsyncSession, project_id: uuid.UUID, at: datetime) -> RateCard | None:
    """The version in force at `at`: the latest effective time not after it (the higher version
    of two with the same time)."""
    stmt = (select(RateCard).where(RateCard.project_id == project_id, RateCard.effective_from <= at)
            .order_by(RateCard.effective_from.desc(), RateCard.version.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def rates_of(session: AsyncSession, card_id: uuid.UUID) -> list[Rate]:
    stmt = select(Rate).where(Rate.rate_card_id == card_id).order_by(Rate.category, Rate.country == ANY_COUNTRY, Rate.country)
    return list((await session.execute(stmt)).scalars())


# --- pricing of messages ---------------------------------------------------------------------------


async def messages_to_price(session: AsyncSession, message_ids: list[uuid.UUID]) -> list[Any]:
    """The named messages that have no pricing yet: id, project, campaign, broadcast, destination."""
    if not message_ids:
        return []
    priced = select(MessagePricing.message_id).where(MessagePricing.message_id == Message.id).exists()
    stmt = (select(Message.id, Message.project_id, Message.campaign_id, Message.broadcast_id, Message.destination)
            .where(Message.id.in_(message_ids), ~priced))
    return list((await session.execute(stmt)).all())


async def insert_pricing(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One row per message; a message priced already keeps its first pricing."""
    if rows:
        await session.execute(insert_ignore(session, MessagePricing, ["message_id"]), rows)


# --- the ledger ------------------------------------------------------------------------------------


def _bucket(session: AsyncSession, column: Any, unit: str) -> Any:
    # The format as literal SQL, not a bound parameter: PostgreSQL matches the GROUP BY
    # expression to the selected one only when both are the same text.
    if is_postgres(session):
        return func.to_char(column, literal_column("'YYYY-MM-DD'" if unit == "day" else "'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m-%d'" if unit == "day" else "'%Y-%m'"), column)


def _priced(project_id: uuid.UUID) -> tuple[Any, Any, Any]:
    """(from-clause of each priced message with its card and unit price, the card subquery, the
    unit price expression)."""
    versions = (
        select(RateCard.id, RateCard.currency, RateCard.effective_from.label("starts"),
               func.lead(RateCard.effective_from).over(order_by=(RateCard.effective_from, RateCard.version)).label("ends"))
        .where(RateCard.project_id == project_id).subquery("versions")
    )
    own, anywhere = aliased(Rate), aliased(Rate)
    joined = (
        MessagePricing.__table__
        .outerjoin(versions, and_(versions.c.starts <= MessagePricing.priced_at,
                                  or_(versions.c.ends.is_(None), MessagePricing.priced_at < versions.c.ends)))
        .outerjoin(own, and_(own.rate_card_id == versions.c.id, own.category == MessagePricing.category, own.country == MessagePricing.country))
        .outerjoin(anywhere, and_(anywhere.rate_card_id == versions.c.id, anywhere.category == MessagePricing.category,
                                  anywhere.country == ANY_COUNTRY))
    )
    return joined, versions, func.coalesce(own.price_micros, anywhere.price_micros)


def _sums(unit: Any) -> list[Any]:
    charged = MessagePricing.billable.is_(True)
    return [
        func.count().label("messages"),
        func.sum(case((charged, 1), else_=0)).label("billable"),
        func.sum(case((and_(charged, unit.is_not(None)), unit), else_=0)).label("cost_micros"),
        func.sum(case((and_(charged, unit.is_(None)), 1), else_=0)).label("unpriced"),
    ]


GROUPS = ("campaign", "broadcast", "day", "month")


async def ledger(
    session: AsyncSession, project_id: uuid.UUID, group_by: list[str], start: datetime | None, end: datetime | None,
    campaign_id: uuid.UUID | None = None,
) -> list[Any]:
    """Priced messages grouped by `group_by` (of GROUPS), then category, country and currency:
    messages, billable, their cost (micros) at the version in force at each one's time, and the
    billable ones with no rate (unpriced)."""
    joined, versions, unit = _priced(project_id)
    keys: list[Any] = []
    if "month" in group_by:
        keys.append(_bucket(session, MessagePricing.priced_at, "month").label("month"))
    if "day" in group_by:
        keys.append(_bucket(session, MessagePricing.priced_at, "day").label("day"))
    if "campaign" in group_by:
        keys.append(MessagePricing.campaign_id.label("campaign_id"))
    if "broadcast" in group_by:
        keys.append(MessagePricing.broadcast_id.label("broadcast_id"))
    keys += [MessagePricing.category.label("category"), MessagePricing.country.label("country"), versions.c.currency.label("currency")]
    stmt = select(*keys, *_sums(unit)).select_from(joined).where(MessagePricing.project_id == project_id)
    if start is not None:
        stmt = stmt.where(MessagePricing.priced_at >= start)
    if end is not None:
        stmt = stmt.where(MessagePricing.priced_at < end)
    if campaign_id is not None:
        stmt = stmt.where(MessagePricing.campaign_id == campaign_id)
    stmt = stmt.group_by(*keys).order_by(*keys)
    return list((await session.execute(stmt)).all())


async def campaign_names(session: AsyncSession, project_id: uuid.UUID, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    stmt = select(Campaign.id, Campaign.name).where(Campaign.project_id == project_id, Campaign.id.in_(ids))
    return {row.id: row.name for row in (await session.execute(stmt)).all()}


async def actual_cost(
    session: AsyncSession, project_id: uuid.UUID, *, broadcast_id: uuid.UUID | None = None,
    start: datetime | None = None, end: datetime | None = None,
) -> dict[str | None, int]:
    """Cost (micros) of the billable priced messages per currency, of one broadcast or a period."""
    joined, versions, unit = _priced(project_id)
    stmt = (select(versions.c.currency, func.sum(case((and_(MessagePricing.billable.is_(True), unit.is_not(None)), unit), else_=0)))
            .select_from(joined).where(MessagePricing.project_id == project_id).group_by(versions.c.currency))
    if broadcast_id is not None:
        stmt = stmt.where(MessagePricing.broadcast_id == broadcast_id)
    if start is not None:
        stmt = stmt.where(MessagePricing.priced_at >= start)
    if end is not None:
        stmt = stmt.where(MessagePricing.priced_at < end)
    return {currency: int(total or 0) for currency, total in (await session.execute(stmt)).all()}


async def pending_by_broadcast(session: AsyncSession, project_id: uuid.UUID, *, broadcast_id: uuid.UUID | None = None,
                               since: datetime | None = None) -> dict[uuid.UUID, int]:
    """Broadcast messages not failed and not priced yet (queued, or sent and not reported), per broadcast."""
    priced = select(MessagePricing.message_id).where(MessagePricing.message_id == Message.id).exists()
    stmt = (select(Message.broadcast_id, func.count()).where(Message.project_id == project_id, Message.broadcast_id.is_not(None),
                                                           Message.status != "failed", ~priced).group_by(Message.broadcast_id))
    if broadcast_id is not None:
        stmt = stmt.where(Message.broadcast_id == broadcast_id)
    if since is not None:
        stmt = stmt.where(Message.created_at >= since)
    return {row[0]: int(row[1]) for row in (await session.execute(stmt)).all()}


# --- broadcast estimates ------------------------------------------------------------------------------


async def spend(session: AsyncSession, campaign_id: uuid.UUID) -> BroadcastSpend | None:
    return await session.get(BroadcastSpend, campaign_id)


async def spends(session: AsyncSession, project_id: uuid.UUID, campaign_ids: set[uuid.UUID] | None = None) -> list[BroadcastSpend]:
    stmt = select(BroadcastSpend).where(BroadcastSpend.project_id == project_id)
    if campaign_ids is not None:
        if not campaign_ids:
            return []
        stmt = stmt.where(BroadcastSpend.campaign_id.in_(campaign_ids))
    return list((await session.execute(stmt)).scalars())


async def add_spend(session: AsyncSession, campaign_id: uuid.UUID, project_id: uuid.UUID, currency: str | None,
                    messages: int, micros: int, unpriced: int, now: datetime) -> None:
    """Add one batch's estimate (the caller holds the campaign's row lock)."""
    done = await session.execute(
        update(BroadcastSpend).where(BroadcastSpend.campaign_id == campaign_id).values(
            messages=BroadcastSpend.messages + messages, amount_micros=BroadcastSpend.amount_micros + micros,
            unpriced=BroadcastSpend.unpriced + unpriced, currency=func.coalesce(BroadcastSpend.currency, literal(currency)), updated_at=now))
    if done.rowcount == 0:
        session.add(BroadcastSpend(campaign_id=campaign_id, project_id=project_id, currency=currency, messages=messages,
                                   amount_micros=micros, unpriced=unpriced, updated_at=now))
        await session.flush()


# --- budgets ----------------------------------------------------------------------------------------


async def budget(session: AsyncSession, project_id: uuid.UUID, scope: str) -> Budget | None:
    return (await session.execute(select(Budget).where(Budget.project_id == project_id, Budget.scope == scope))).scalar_one_or_none()


async def budgets(session: AsyncSession, project_id: uuid.UUID) -> list[Budget]:
    return list((await session.execute(select(Budget).where(Budget.project_id == project_id).order_by(Budget.scope))).scalars())


async def add_budget(session: AsyncSession, row: Budget) -> None:
    session.add(row)
    await session.flush()


async def delete_budget(session: AsyncSession, project_id: uuid.UUID, scope: str) -> bool:
    done = await session.execute(delete(Budget).where(Budget.project_id == project_id, Budget.scope == scope))
    return bool(done.rowcount)


async def campaign_by_ref(session: AsyncSession, project_id: uuid.UUID, ref: str, *, broadcast_only: bool = False) -> Campaign | None:
    """A campaign of the project by id or name (only a broadcast, when asked)."""
    try:
        cond = or_(Campaign.id == uuid.UUID(ref), Campaign.name == ref)
    except ValueError:
        cond = Campaign.name == ref
    stmt = select(Campaign).where(Campaign.project_id == project_id, cond)
    if broadcast_only:
        stmt = stmt.where(Campaign.type == "broadcast")
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def broadcasts(session: AsyncSession, project_id: uuid.UUID, limit: int = 200) -> list[Any]:
    """The project's broadcasts, newest first (a budget's choices)."""
    stmt = (select(Campaign.id, Campaign.name, Campaign.status).where(Campaign.project_id == project_id, Campaign.type == "broadcast")
            .order_by(Campaign.created_at.desc()).limit(limit))
    return list((await session.execute(stmt)).all())
