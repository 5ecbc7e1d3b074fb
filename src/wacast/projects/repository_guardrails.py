"""The queries of the guardrails (projects/guardrails.py): a number's quality and its history,
the portfolio's messaging limit, the projects of a number, the sends a category change holds
and releases, and what /metrics and the dashboard read of them. Each function takes the
session first; none commits."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.db.dialect import is_postgres
from wacast.models.campaigns import Campaign
from wacast.models.messages import Message, MessageStatus
from wacast.models.projects import Project
from wacast.models.quality import NumberQuality, NumberQualityEvent, PortfolioLimit
from wacast.models.templates import Template

_DIGITS = re.compile(r"\D")


# --- a number's quality ------------------------------------------------------------------


async def number_for_update(session: AsyncSession, number: str) -> NumberQuality | None:
    stmt = select(NumberQuality).where(NumberQuality.display_phone_number == number)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_number(session: AsyncSession, row: NumberQuality) -> None:
    session.add(row)
    await session.flush()


async def add_quality_event(session: AsyncSession, **values: Any) -> None:
    session.add(NumberQualityEvent(**values))
    await session.flush()


async def set_portfolio_limit(session: AsyncSession, waba_id: str, tier: str, daily_limit: int | None, now: datetime) -> None:
    row = await session.get(PortfolioLimit, waba_id)
    if row is None:
        session.add(PortfolioLimit(waba_id=waba_id, tier=tier, daily_limit=daily_limit, updated_at=now))
    else:
        row.tier, row.daily_limit, row.updated_at = tier, daily_limit, now
    await session.flush()


async def projects_of_number(session: AsyncSession, waba_id: str, number: str) -> list[Project]:
    """The projects that send from this number: those of the WABA whose sender number is it;
    when none gives its sender number and the WABA's projects all use one phone number id,
    those (one number per WABA: the usual install)."""
    projects = list((await session.execute(select(Project).where(Project.waba_id == waba_id).order_by(Project.name))).scalars())
    matching = [p for p in projects if p.sender_number and _DIGITS.sub("", p.sender_number) == number]
    if matching:
        return matching
    if projects and not any(p.sender_number for p in projects) and len({p.phone_number_id for p in projects}) == 1:
        return projects
    return []


async def running_marketing_broadcasts(session: AsyncSession, project_ids: list[uuid.UUID]) -> list[Campaign]:
    """Running (or scheduled) broadcasts of marketing templates of these projects."""
    if not project_ids:
        return []
    stmt = (
        select(Campaign).join(Template, Template.id == Campaign.template_id)
        .where(Campaign.project_id.in_(project_ids), Campaign.type == "broadcast",
               Campaign.status.in_(("running", "scheduled")), Template.category == "MARKETING")
        .order_by(Campaign.name)
    )
    return list((await session.execute(stmt)).scalars())


async def clear_slowed_reasons(session: AsyncSession, project_ids: list[uuid.UUID], prefix: str) -> int:
    """The quality recovered: broadcasts no longer say they are slowed."""
    if not project_ids:
        return 0
    result = await session.execute(
        update(Campaign).where(Campaign.project_id.in_(project_ids), Campaign.type == "broadcast",
                               Campaign.status_reason.startswith(prefix, autoescape=True))
        .values(status_reason=None)
    )
    return result.rowcount or 0


async def number_history(session: AsyncSession, number: str, limit: int = 50) -> list[NumberQualityEvent]:
    """A number's events, newest first."""
    stmt = (select(NumberQualityEvent).where(NumberQualityEvent.display_phone_number == number)
            .order_by(NumberQualityEvent.received_at.desc(), NumberQualityEvent.id.desc()).limit(limit))
    return list((await session.execute(stmt)).scalars())


async def numbers_of_waba(session: AsyncSession, waba_id: str) -> list[NumberQuality]:
    stmt = select(NumberQuality).where(NumberQuality.waba_id == waba_id).order_by(NumberQuality.display_phone_number)
    return list((await session.execute(stmt)).scalars())


async def portfolio_limit(session: AsyncSession, waba_id: str | None) -> PortfolioLimit | None:
    return await session.get(PortfolioLimit, waba_id) if waba_id else None


async def all_numbers(session: AsyncSession) -> list[NumberQuality]:
    return list((await session.execute(select(NumberQuality).order_by(NumberQuality.display_phone_number))).scalars())


async def all_portfolio_limits(session: AsyncSession) -> list[PortfolioLimit]:
    return list((await session.execute(select(PortfolioLimit).order_by(PortfolioLimit.waba_id))).scalars())


# --- a template's category hold ----------------------------------------------------------


async def hold_template_sends(session: AsyncSession, template_id: uuid.UUID, reason: str, due: datetime) -> int:
    """Queued, unclaimed messages of the template wait with the reason (due again at `due`,
    when the dispatcher looks at the hold again)."""
    result = await session.execute(
        update(Message)
        .where(Message.template_id == template_id, Message.status == MessageStatus.queued, Message.held_reason.is_(None),
               Message.locked_by.is_(None))
        .values(held_reason=reason, next_attempt_at=due)
    )
    return result.rowcount or 0


async def release_template_sends(session: AsyncSession, template_id: uuid.UUID, reason: str, now: datetime) -> int:
    """The messages held for this reason go now."""
    result = await session.execute(
        update(Message)
        .where(Message.template_id == template_id, Message.status == MessageStatus.queued, Message.held_reason == reason)
        .values(held_reason=None, next_attempt_at=now)
    )
    return result.rowcount or 0


async def held_template_messages(session: AsyncSession, template_id: uuid.UUID) -> int:
    """Queued messages of a template held by its category change."""
    stmt = (select(func.count()).select_from(Message).join(Template, Template.id == Message.template_id)
            .where(Message.template_id == template_id, Message.status == MessageStatus.queued,
                   Message.held_reason == Template.category_hold))
    return int((await session.execute(stmt)).scalar_one())


async def category_held_templates(session: AsyncSession, project_id: uuid.UUID | None = None) -> list[Template]:
    """Templates whose sends a category change holds (one project's, or every project's)."""
    stmt = select(Template).where(Template.category_hold.is_not(None)).order_by(Template.name)
    if project_id is not None:
        stmt = stmt.where(Template.project_id == project_id)
    return list((await session.execute(stmt)).scalars())


async def category_held_counts(session: AsyncSession) -> dict[uuid.UUID, int]:
    """Templates held by a category change, per project (for /metrics)."""
    rows = await session.execute(
        select(Template.project_id, func.count()).where(Template.category_hold.is_not(None)).group_by(Template.project_id))
    return {project_id: int(n) for project_id, n in rows.all()}
