"""The SQL of what tracked links and conversions show: each message's `clicked` and
`converted` outcome, a campaign's clicked and converted audiences, the segment conditions
"clicked / converted in campaign X" (over `contacts`), and the campaigns compared."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.contacts import Contact
from wacast.models.links import Conversion, LinkClick
from wacast.models.messages import Message

AUDIENCES = ("CLICKED", "CONVERTED")


async def click_outcomes(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[datetime, int]]:
    """Each clicked message's first counted click and its number of counted clicks."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(LinkClick.message_id, func.min(LinkClick.clicked_at), func.count())
        .where(LinkClick.message_id.in_(list(message_ids)), LinkClick.counted.is_(True)).group_by(LinkClick.message_id)
    )
    return {mid: (at, int(n)) for mid, at, n in rows.all()}


async def conversion_outcomes(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each converted message's conversions: the first time, their number, goals and revenue per currency."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(Conversion.message_id, Conversion.goal, Conversion.currency, func.min(Conversion.occurred_at), func.count(), func.sum(Conversion.value))
        .where(Conversion.message_id.in_(list(message_ids)))
        .group_by(Conversion.message_id, Conversion.goal, Conversion.currency)
    )
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for mid, goal, currency, first, count, value in rows.all():
        entry = out.setdefault(mid, {"first_at": first, "count": 0, "goals": [], "revenue": {}})
        entry["first_at"] = min(entry["first_at"], first)
        entry["count"] += int(count)
        if goal not in entry["goals"]:
            entry["goals"].append(goal)
        if currency and value is not None:
            entry["revenue"][currency] = entry["revenue"].get(currency, Decimal(0)) + Decimal(value)
    for entry in out.values():
        entry["goals"].sort()
        entry["revenue"] = {c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(entry["revenue"].items())}
    return out


def _audience_condition(campaign_id: uuid.UUID, outcome: str) -> ColumnElement[bool]:
    if outcome == "CLICKED":
        return exists(select(LinkClick.id).where(LinkClick.message_id == Message.id, LinkClick.counted.is_(True)))
    return exists(select(Conversion.id).where(Conversion.message_id == Message.id, Conversion.campaign_id == campaign_id))


async def audience_page(
    session: AsyncSession, campaign_id: uuid.UUID, outcome: str, *, before: tuple[datetime, uuid.UUID] | None, limit: int,
) -> list[tuple[Message, str, str]]:
    """(message, phone, name) of the campaign's messages that were CLICKED (a counted click) or
    CONVERTED (an attributed conversion), newest first, after the cursor `before`."""
    stmt = (
        select(Message, Contact.phone, Contact.name)
        .join(Contact, Contact.id == Message.contact_id)
        .where(Message.campaign_id == campaign_id, _audience_condition(campaign_id, outcome))
    )
    if before is not None:
        at, last_id = before
        stmt = stmt.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
    rows = await session.execute(stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit))
    return [(m, phone, name) for m, phone, name in rows.all()]


def clicked_by_contact(campaign_id: uuid.UUID) -> ColumnElement[bool]:
    """Over `contacts`: the contact tapped a tracked link of the campaign (a counted click)."""
    return exists(select(LinkClick.id).where(
        LinkClick.campaign_id == campaign_id, LinkClick.contact_id == Contact.id, LinkClick.counted.is_(True)))


def converted_by_contact(campaign_id: uuid.UUID, goals: list[str] | None = None) -> ColumnElement[bool]:
    """Over `contacts`: a conversion of the contact (of one of `goals`, when given) is attributed to the campaign."""
    stmt = select(Conversion.id).where(Conversion.campaign_id == campaign_id, Conversion.contact_id == Contact.id)
    if goals:
        stmt = stmt.where(Conversion.goal.in_(goals))
    return exists(stmt)


async def campaigns_compared(session: AsyncSession, campaign_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Per campaign: messages clicked, counted clicks, messages converted, conversions and
    revenue per currency (campaigns without any are absent)."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    out: dict[uuid.UUID, dict[str, Any]] = {}

    def entry(cid: uuid.UUID) -> dict[str, Any]:
        return out.setdefault(cid, {"clicked": 0, "clicks": 0, "converted": 0, "conversions": 0, "revenue": {}})

    for cid, clicked, clicks in (await session.execute(
        select(LinkClick.campaign_id, func.count(func.distinct(LinkClick.message_id)), func.count())
        .where(LinkClick.campaign_id.in_(ids), LinkClick.counted.is_(True)).group_by(LinkClick.campaign_id)
    )).all():
        entry(cid).update(clicked=int(clicked), clicks=int(clicks))
    for cid, converted, conversions in (await session.execute(
        select(Conversion.campaign_id, func.count(func.distinct(Conversion.message_id)), func.count())
        .where(Conversion.campaign_id.in_(ids)).group_by(Conversion.campaign_id)
    )).all():
        entry(cid).update(converted=int(converted), conversions=int(conversions))
    for cid, currency, value in (await session.execute(
        select(Conversion.campaign_id, Conversion.currency, func.sum(Conversion.value))
        .where(Conversion.campaign_id.in_(ids), Conversion.currency.is_not(None), Conversion.value.is_not(None))
        .group_by(Conversion.campaign_id, Conversion.currency).order_by(Conversion.currency)
    )).all():
        entry(cid)["revenue"][currency] = str(Decimal(value).quantize(Decimal("0.01")))
    return out
