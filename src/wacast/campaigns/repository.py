"""SQL for campaigns: the campaign snapshot a send needs, API campaigns, and analytics.

Broadcast queries live in campaigns/broadcasts/repository.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.cache import TTLCache
from wacast.meta.errors import MARKETING_LIMIT
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.messages import Message, MessageStatus
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import tracked
from wacast.templates.params import TemplateNeeds, analyze


@dataclass(frozen=True)
class CampaignSnapshot:
    """A campaign with its template and project settings: all a send needs, cacheable."""

    campaign_id: uuid.UUID
    campaign_name: str
    campaign_status: str
    project_id: uuid.UUID
    default_country: str
    template_id: uuid.UUID
    template_name: str
    template_language: str
    template_category: str
    template_status: str
    parameter_format: str
    components: list
    needs: TemplateNeeds
    # The template's tracked URL buttons, {index: destination pattern} (templates/tracked.py).
    tracked_buttons: dict[int, str] = field(default_factory=dict)
    marketing_region_policy: str = "refuse"  # the project's (projects/marketing_rules.py)


# (project id, campaign name) -> its snapshot; a campaign API request reads it, every change
# of a campaign forgets it.
_snapshots: TTLCache[CampaignSnapshot | None] = TTLCache(ttl=2)


def configure_cache(ttl: float) -> None:
    _snapshots.ttl = ttl
    _snapshots.clear()


def forget_snapshots() -> None:
    _snapshots.clear()


async def cached_snapshot(session: AsyncSession, project_id: uuid.UUID, name: str) -> CampaignSnapshot | None:
    key = (project_id, name)
    snapshot = _snapshots.get(key)
    if snapshot is None:
        snapshot = await snapshot_by_name(session, project_id, name)
        _snapshots.put(key, snapshot)
    return snapshot


async def snapshot_by_name(session: AsyncSession, project_id: uuid.UUID, name: str) -> CampaignSnapshot | None:
    row = (
        await session.execute(
            select(
                Campaign.id, Campaign.name, Campaign.status, Project.default_country, Project.marketing_region_policy,
                Template.id.label("template_id"), Template.name.label("template_name"), Template.language,
                Template.category, Template.status.label("template_status"), Template.parameter_format,
                Template.components, Template.tracked_buttons,
            )
            .join(Template, Template.id == Campaign.template_id)
            .join(Project, Project.id == Campaign.project_id)
            .where(Campaign.project_id == project_id, Campaign.name == name)
        )
    ).first()
    if row is None:
        return None
    return CampaignSnapshot(
        campaign_id=row.id, campaign_name=row.name, campaign_status=row.status, project_id=project_id,
        default_country=row.default_country, template_id=row.template_id, template_name=row.template_name,
        template_language=row.language, template_category=row.category, template_status=row.template_status,
        parameter_format=row.parameter_format, components=row.components,
        needs=analyze(row.components, row.parameter_format), tracked_buttons=tracked.patterns(row.tracked_buttons),
        marketing_region_policy=row.marketing_region_policy,
    )


async def get(session: AsyncSession, project_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign | None:
    return (
        await session.execute(select(Campaign).where(Campaign.project_id == project_id, Campaign.id == campaign_id))
    ).scalar_one_or_none()


async def get_by_name(session: AsyncSession, project_id: uuid.UUID, name: str) -> Campaign | None:
    return (
        await session.execute(select(Campaign).where(Campaign.project_id == project_id, Campaign.name == name))
    ).scalar_one_or_none()


async def name_exists(session: AsyncSession, project_id: uuid.UUID, name: str) -> bool:
    return (await session.execute(select(Campaign.id).where(Campaign.project_id == project_id, Campaign.name == name))).first() is not None


async def template(session: AsyncSession, template_id: uuid.UUID | None) -> Template | None:
    return await session.get(Template, template_id) if template_id else None


async def project_timezone(session: AsyncSession, project_id: uuid.UUID) -> str | None:
    project = await session.get(Project, project_id)
    return project.timezone if project else None


async def list_with_templates(
    session: AsyncSession, project_id: uuid.UUID, *, type: str | None = None, status: str | None = None,
) -> list[tuple[Campaign, Template | None]]:
    """The project's campaigns, newest first, each with its template."""
    stmt = select(Campaign, Template).outerjoin(Template, Template.id == Campaign.template_id).where(Campaign.project_id == project_id)
    if type:
        stmt = stmt.where(Campaign.type == type)
    if status:
        stmt = stmt.where(Campaign.status == status)
    return [(c, t) for c, t in (await session.execute(stmt.order_by(Campaign.created_at.desc()))).all()]


MESSAGE_STATUSES = ("queued", "sent", "delivered", "read", "failed")


async def status_counts_by_campaign(session: AsyncSession, campaign_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Messages by status of each campaign (every status present, 0 when none)."""
    out: dict[uuid.UUID, dict[str, int]] = {i: dict.fromkeys(MESSAGE_STATUSES, 0) for i in campaign_ids}
    if campaign_ids:
        rows = await session.execute(
            select(Message.campaign_id, Message.status, func.count())
            .where(Message.campaign_id.in_(campaign_ids))
            .group_by(Message.campaign_id, Message.status)
        )
        for campaign_id, status, n in rows.all():
            out[campaign_id][status] = int(n)
    return out


# --- analytics -------------------------------------------------------------------------------


async def status_counts(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign_id).group_by(Message.status))
    return {status: int(n) for status, n in rows.all()}


async def step_counts(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[int, int, int, int]:
    """Messages that reached sent, delivered, read, and that got a reply (by their timestamps)."""
    row = (
        await session.execute(
            select(
                func.count(Message.sent_at), func.count(Message.delivered_at), func.count(Message.read_at), func.count(Message.replied_at)
            ).where(Message.campaign_id == campaign_id)
        )
    ).one()
    sent, delivered, read, replied = (int(v or 0) for v in row)
    return sent, delivered, read, replied


STEP_COLUMNS = {
    "sent": Message.sent_at, "delivered": Message.delivered_at, "read": Message.read_at,
    "failed": Message.failed_at, "replied": Message.replied_at,
}


async def counts_per_day(session: AsyncSession, campaign_id: uuid.UUID, step: str, bounds: list[datetime]) -> list[tuple[int, int]]:
    """(day index, messages whose `step` happened that day) for days between consecutive `bounds`."""
    column = STEP_COLUMNS[step]
    bucket = case(*[(column < b, i - 1) for i, b in enumerate(bounds) if i > 0], else_=-1)
    rows = await session.execute(
        select(bucket, func.count())
        .where(Message.campaign_id == campaign_id, column >= bounds[0], column < bounds[-1])
        .group_by(bucket)
    )
    return [(int(index), int(count)) for index, count in rows.all()]


async def failure_groups(session: AsyncSession, campaign_id: uuid.UUID) -> list[tuple[int | None, str | None, int]]:
    """(error code, a title, failed messages) most frequent first."""
    rows = await session.execute(
        select(Message.error_code, func.max(Message.error_title), func.count())
        .where(Message.campaign_id == campaign_id, Message.status == "failed")
        .group_by(Message.error_code)
        .order_by(func.count().desc())
    )
    return [(code, title, int(count)) for code, title, count in rows.all()]


def _outcome(outcome: str):
    if outcome == "REPLIED":
        return Message.replied_at.is_not(None)
    if outcome == "MARKETING_LIMITED":  # deferred now by Meta's marketing limit, or failed by it
        return and_(Message.error_code == MARKETING_LIMIT, Message.status.in_((MessageStatus.queued, MessageStatus.failed)))
    return Message.status == outcome.lower()


async def audience_page(
    session: AsyncSession, campaign_id: uuid.UUID, outcome: str, *, before: tuple[datetime, uuid.UUID] | None, limit: int,
) -> list[tuple[Message, str, str]]:
    """(message, phone, name) of the campaign's messages with that outcome (SENT, DELIVERED,
    READ, FAILED: the current status; REPLIED; MARKETING_LIMITED), newest first, after the cursor `before`."""
    stmt = (
        select(Message, Contact.phone, Contact.name)
        .join(Contact, Contact.id == Message.contact_id)
        .where(Message.campaign_id == campaign_id, _outcome(outcome))
    )
    if before is not None:
        at, last_id = before
        stmt = stmt.where(or_(Message.created_at < at, and_(Message.created_at == at, Message.id < last_id)))
    rows = await session.execute(stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit))
    return [(m, phone, name) for m, phone, name in rows.all()]


async def by_ref(session: AsyncSession, project_id: uuid.UUID, *, campaign_id: uuid.UUID | None = None, name: str | None = None) -> Campaign | None:
    cond = Campaign.id == campaign_id if campaign_id is not None else Campaign.name == name
    return (await session.execute(select(Campaign).where(Campaign.project_id == project_id, cond))).scalar_one_or_none()

# --- added by contacts: what segment filters ask of campaigns (campaigns/outcomes.py)





async def id_by_ref(session: AsyncSession, project_id: uuid.UUID, ref: str) -> uuid.UUID | None:
    """The id of the project's campaign named `ref`, or whose id is `ref`."""
    try:
        as_id = uuid.UUID(ref)
    except ValueError:
        as_id = None
    clause = Campaign.name == ref if as_id is None else or_(Campaign.id == as_id, Campaign.name == ref)
    row = (await session.execute(select(Campaign.id).where(Campaign.project_id == project_id, clause))).first()
    return row[0] if row else None


def received_by_contact(campaign_id: uuid.UUID) -> ColumnElement[bool]:
    """Over `contacts`: the contact got a message of the campaign."""
    return exists(select(Message.id).where(Message.campaign_id == campaign_id, Message.contact_id == Contact.id))


def last_outcome_of_contact(campaign_id: uuid.UUID) -> Any:
    """Over `contacts`: the contact's last outcome in a campaign: replied, or its message's status."""
    return (
        select(case((Message.replied_at.is_not(None), "replied"), else_=Message.status))
        .where(Message.campaign_id == campaign_id, Message.contact_id == Contact.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )


async def unfinished_using_segment(session: AsyncSession, segment_id: uuid.UUID, statuses: tuple[str, ...]) -> str | None:
    row = (await session.execute(select(Campaign.name).where(Campaign.segment_id == segment_id, Campaign.status.in_(statuses)))).first()
    return row[0] if row else None
