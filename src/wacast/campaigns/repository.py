"""SQL for campaigns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.cache import TTLCache
from wacast.models.campaigns import Campaign
from wacast.models.projects import Project
from wacast.models.templates import Template
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
                Campaign.id, Campaign.name, Campaign.status, Project.default_country,
                Template.id.label("template_id"), Template.name.label("template_name"), Template.language,
                Template.category, Template.status.label("template_status"), Template.parameter_format,
                Template.components,
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
        needs=analyze(row.components, row.parameter_format),
    )


async def get(session: AsyncSession, project_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign | None:
    return (
        await session.execute(select(Campaign).where(Campaign.project_id == project_id, Campaign.id == campaign_id))
    ).scalar_one_or_none()


async def get_by_name(session: AsyncSession, project_id: uuid.UUID, name: str) -> Campaign | None:
    return (
        await session.execute(select(Campaign).where(Campaign.project_id == project_id, Campaign.name == name))
    ).scalar_one_or_none()


async def list_for_project(session: AsyncSession, project_id: uuid.UUID) -> list[Campaign]:
    return list(
        (await session.execute(select(Campaign).where(Campaign.project_id == project_id).order_by(Campaign.created_at.desc())))
        .scalars()
        .all()
    )


# --- added by contacts: what segment filters ask of campaigns (campaigns/outcomes.py)
# (imports here, not at the top, to keep the merge with the broadcasts room to this section)

from typing import Any  # noqa: E402

from sqlalchemy import ColumnElement, case, exists, or_  # noqa: E402

from wacast.models.contacts import Contact  # noqa: E402
from wacast.models.messages import Message  # noqa: E402


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
