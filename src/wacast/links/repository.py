"""The SQL of tracked links, clicks and conversions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import insert_ignore
from wacast.kit.cache import TTLCache
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.links import Conversion, LinkClick, MessageClick, TrackedLink
from wacast.models.messages import Message
from wacast.models.templates import Template

LINK_COLUMNS = (TrackedLink.token, TrackedLink.project_id, TrackedLink.campaign_id, TrackedLink.message_id,
                TrackedLink.contact_id, TrackedLink.button_index, TrackedLink.destination)


# campaign id -> (its name, its tracking settings, its template's tracked buttons): read by every
# send of the campaign API; a change here forgets it, another process's is seen within the TTL.
_send_settings: TTLCache[tuple[str, Any, Any] | None] = TTLCache(ttl=2)


def configure_cache(ttl: float) -> None:
    _send_settings.ttl = ttl
    _send_settings.clear()


def forget_send_settings() -> None:
    _send_settings.clear()


async def send_settings(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[str, Any, Any] | None:
    """A campaign's name, tracking settings and its template's tracked buttons (cached)."""
    found = _send_settings.get(campaign_id)
    if found is None:
        row = (await session.execute(
            select(Campaign.name, Campaign.tracking, Template.tracked_buttons)
            .join(Template, Template.id == Campaign.template_id).where(Campaign.id == campaign_id)
        )).first()
        found = (row.name, row.tracking, row.tracked_buttons) if row else None
        _send_settings.put(campaign_id, found)
    return found


async def set_tracking(session: AsyncSession, campaign: Campaign, tracking: dict[str, Any] | None) -> None:
    campaign.tracking = tracking
    await session.flush()
    forget_send_settings()


async def insert_links(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(TrackedLink), rows)


# The redirect batch's statements, built once: building a SELECT with its subqueries (and its
# cache key) for every batch cost more CPU than running it (a batch of the redirect is a few
# milliseconds; docs/benchmarks.md).
_LAST_COUNTED = (select(func.max(LinkClick.clicked_at))
                 .where(LinkClick.token == TrackedLink.token, LinkClick.counted.is_(True)).scalar_subquery())
_LINKS_TO_FOLLOW = (select(*LINK_COLUMNS, _LAST_COUNTED.label("last_counted_at"),
                           exists().where(MessageClick.message_id == TrackedLink.message_id).label("message_clicked"))
                    .where(TrackedLink.token.in_(bindparam("tokens", expanding=True))))
_INSERT_CLICKS = insert(LinkClick.__table__)
_CLAIM_FIRST_CLICKS: dict[str, Any] = {}  # dialect name -> INSERT ... ON CONFLICT DO NOTHING RETURNING


async def links_to_follow(session: AsyncSession, tokens: list[str]) -> dict[str, Any]:
    """What a batch of the redirect needs, in ONE statement (each round trip of the batch waits
    behind the event loop's other requests): each token's link, the time of its latest counted
    click (`last_counted_at`, None without one) and whether its message has a counted click
    (`message_clicked`, from message_clicks)."""
    if not tokens:
        return {}
    rows = await session.execute(_LINKS_TO_FOLLOW, {"tokens": tokens})
    return {row.token: row for row in rows.all()}


async def links_of_message(session: AsyncSession, message_id: uuid.UUID) -> Sequence[Any]:
    return (await session.execute(select(*LINK_COLUMNS).where(TrackedLink.message_id == message_id).order_by(TrackedLink.button_index))).all()


async def insert_clicks(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The batch's clicks in one executemany, through the table rather than the ORM's bulk
    insert (which spent a third of the redirect batch's database time building its rows)."""
    if rows:
        await session.execute(_INSERT_CLICKS, rows)


async def claim_first_clicks(session: AsyncSession, first_at: dict[uuid.UUID, datetime]) -> set[uuid.UUID]:
    """Of these messages (each with the time of its first counted click in this batch), those
    whose first click this is: their message_clicks row went in. A message another batch or
    process has already claimed is left as it is (ON CONFLICT DO NOTHING; PostgreSQL makes a
    concurrent claim of the same message wait for the first one's commit)."""
    if not first_at:
        return set()
    # One statement, many parameter sets (a multi-row VALUES would be compiled anew for each
    # batch size); built once per backend.
    stmt = _CLAIM_FIRST_CLICKS.get(session.bind.dialect.name)
    if stmt is None:
        stmt = _CLAIM_FIRST_CLICKS[session.bind.dialect.name] = (
            insert_ignore(session, MessageClick.__table__, ["message_id"]).returning(MessageClick.message_id))
    rows = await session.execute(stmt, [{"message_id": message_id, "clicked_at": at} for message_id, at in first_at.items()])
    return set(rows.scalars().all())


async def message_of_project(session: AsyncSession, project_id: uuid.UUID, message_id: uuid.UUID) -> Any | None:
    return (await session.execute(
        select(Message.id, Message.contact_id).where(Message.project_id == project_id, Message.id == message_id)
    )).first()


async def touches(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, since: datetime, until: datetime) -> Sequence[Any]:
    """The contact's messages sent in [since, until], each with its steps' times, its first
    counted click and its campaign's tracking settings (most recent first, at most 500)."""
    first_click = (
        select(LinkClick.message_id, func.min(LinkClick.clicked_at).label("clicked_at"))
        .where(LinkClick.contact_id == contact_id, LinkClick.counted.is_(True)).group_by(LinkClick.message_id).subquery()
    )
    return (await session.execute(
        select(Message.id, Message.campaign_id, Message.sent_at, Message.delivered_at, Message.read_at,
               first_click.c.clicked_at, Campaign.tracking)
        .outerjoin(first_click, first_click.c.message_id == Message.id)
        .outerjoin(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.project_id == project_id, Message.contact_id == contact_id,
               Message.sent_at.is_not(None), Message.sent_at >= since, Message.sent_at <= until)
        .order_by(Message.sent_at.desc()).limit(500)
    )).all()


async def conversion_by_order(session: AsyncSession, project_id: uuid.UUID, order_id: str) -> Conversion | None:
    return (await session.execute(select(Conversion).where(Conversion.project_id == project_id, Conversion.order_id == order_id))).scalar_one_or_none()


async def add_conversion(session: AsyncSession, conversion: Conversion) -> None:
    session.add(conversion)
    await session.flush()


async def campaign_names(session: AsyncSession, campaign_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not campaign_ids:
        return {}
    return dict((await session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(campaign_ids)))).all())


async def campaign_name(session: AsyncSession, campaign_id: uuid.UUID | None) -> str | None:
    if campaign_id is None:
        return None
    return (await session.execute(select(Campaign.name).where(Campaign.id == campaign_id))).scalar_one_or_none()


async def contact_in_project(session: AsyncSession, project_id: uuid.UUID, *, contact_id: uuid.UUID | None = None,
                             phone: str | None = None) -> uuid.UUID | None:
    """The id of a contact of the project, by id or by phone number."""
    stmt = select(Contact.id).where(Contact.project_id == project_id)
    stmt = stmt.where(Contact.id == contact_id) if contact_id is not None else stmt.where(Contact.phone == phone)
    return (await session.execute(stmt)).scalar_one_or_none()


async def click_counts(session: AsyncSession, campaign_id: uuid.UUID) -> list[Any]:
    """Per button of a campaign's tracked links: counted clicks and the messages clicked."""
    return (await session.execute(
        select(LinkClick.button_index, func.count(), func.count(func.distinct(LinkClick.message_id)))
        .where(LinkClick.campaign_id == campaign_id, LinkClick.counted.is_(True)).group_by(LinkClick.button_index)
    )).all()


async def messages_clicked_count(session: AsyncSession, campaign_id: uuid.UUID) -> int:
    return (await session.execute(
        select(func.count(func.distinct(LinkClick.message_id))).where(LinkClick.campaign_id == campaign_id, LinkClick.counted.is_(True))
    )).scalar_one()


async def conversion_counts(session: AsyncSession, campaign_id: uuid.UUID) -> list[Any]:
    """Per goal and currency of a campaign's attributed conversions: their number, the messages
    that converted, and the revenue."""
    return (await session.execute(
        select(Conversion.goal, Conversion.currency, func.count(), func.count(func.distinct(Conversion.message_id)), func.sum(Conversion.value))
        .where(Conversion.campaign_id == campaign_id).group_by(Conversion.goal, Conversion.currency)
    )).all()


async def messages_converted_count(session: AsyncSession, campaign_id: uuid.UUID) -> int:
    return (await session.execute(
        select(func.count(func.distinct(Conversion.message_id))).where(Conversion.campaign_id == campaign_id)
    )).scalar_one()


async def journey_times(session: AsyncSession, campaign_id: uuid.UUID, limit: int = 5000) -> list[Any]:
    """For the campaign's clicked messages: when each was read, first clicked, first converted."""
    first_click = (select(LinkClick.message_id, func.min(LinkClick.clicked_at).label("clicked_at"))
                   .where(LinkClick.campaign_id == campaign_id, LinkClick.counted.is_(True)).group_by(LinkClick.message_id).subquery())
    first_conversion = (select(Conversion.message_id, func.min(Conversion.occurred_at).label("converted_at"))
                        .where(Conversion.campaign_id == campaign_id).group_by(Conversion.message_id).subquery())
    return (await session.execute(
        select(Message.read_at, first_click.c.clicked_at, first_conversion.c.converted_at)
        .join(first_click, first_click.c.message_id == Message.id)
        .outerjoin(first_conversion, first_conversion.c.message_id == Message.id).limit(limit)
    )).all()
