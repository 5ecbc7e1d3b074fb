"""API campaigns: a name, an approved template, draft / live / paused."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns.repository import forget_snapshots
from wacast.models.campaigns import Campaign, CampaignStatus
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.templates import service as templates
from wacast.models.templates import Template
from wacast.webhooks import events as _webhook_events  # noqa: F401 - registers campaign.status.updated on flush
from wacast.messages import repository as messages_repo
from wacast.templates import statuses


async def create(session: AsyncSession, project_id: uuid.UUID, name: str, template_name: str, language: str | None = None, *, live: bool = False) -> Campaign:
    name = name.strip()
    if not name or len(name) > 200:
        raise WacastError("Campaign name is required (at most 200 characters)", "FIELD_REQUIRED", {"field": "name"})
    if (await session.execute(select(Campaign.id).where(Campaign.project_id == project_id, Campaign.name == name))).first():
        raise Conflict(f"Campaign {name!r} already exists in this project", "CAMPAIGN_EXISTS")
    template = await templates.find(session, project_id, template_name, language)
    campaign = Campaign(id=uuid.uuid4(), project_id=project_id, name=name, template_id=template.id, status=CampaignStatus.draft, type="api")
    session.add(campaign)
    await session.flush()
    if live:
        await set_status(session, project_id, name, CampaignStatus.live)
    return campaign


async def set_status(session: AsyncSession, project_id: uuid.UUID, name: str, status: CampaignStatus) -> Campaign:
    campaign = (await session.execute(select(Campaign).where(Campaign.project_id == project_id, Campaign.name == name))).scalar_one_or_none()
    if campaign is None:
        raise NotFound(f"Campaign {name!r} does not exist", "CAMPAIGN_NOT_FOUND")
    if campaign.type == "broadcast":  # broadcasts have their own states (campaigns/broadcast.py)
        raise WacastError(
            f"{name!r} is a broadcast: use `wacast broadcasts pause|resume|cancel` or POST /api/v1/campaigns/{{id}}/pause|resume|cancel",
            "NOT_AN_API_CAMPAIGN", {"campaign": name, "status": campaign.status},
        )
    if status == CampaignStatus.live:
        template = await session.get(Template, campaign.template_id)
        if template is None or template.status != "APPROVED":
            raise WacastError(
                f"Campaign cannot go live: template {template.name if template else '?'} is {template.status if template else 'missing'}, not APPROVED",
                "TEMPLATE_NOT_APPROVED",
                {"template_status": template.status if template else None},
            )
    campaign.status = status  # the flush emits campaign.status.updated (webhooks/events.py)
    campaign.updated_at = utcnow()
    await session.flush()
    forget_snapshots()
    return campaign




async def describe(session: AsyncSession, project, name: str) -> dict:  # noqa: ANN001
    """A campaign for people: template, counts by status, and why its sends are held."""

    campaign = (await session.execute(select(Campaign).where(Campaign.project_id == project.id, Campaign.name == name))).scalar_one_or_none()
    if campaign is None:
        raise NotFound(f"Campaign {name!r} does not exist", "CAMPAIGN_NOT_FOUND")
    template = await session.get(Template, campaign.template_id)
    held, last_reason = await messages_repo.held_summary(session, campaign.id)
    reasons = []
    if project.halted_reason:
        reasons.append(f"sender halted: {project.halted_reason} (clear with `wacast projects update {project.name} --clear-halt`)")
    if template is not None and template.status in statuses.HELD:
        reasons.append(f"template {template.name} is {template.status}")
    if not reasons and held and last_reason:
        reasons.append(last_reason)
    return {
        "id": str(campaign.id),
        "name": campaign.name,
        "status": campaign.status,
        "template": {
            "name": template.name if template else None,
            "language": template.language if template else None,
            "status": template.status if template else None,
            "quality": template.quality if template else None,
        },
        "hold_reason": "; ".join(reasons) or None,
        "held_messages": held,
        "messages": await messages_repo.status_counts(session, campaign.id),
    }
