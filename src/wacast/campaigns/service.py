"""API campaigns: a name, an approved template, draft / live / paused."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns import repository as repo
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.links import service as links
from wacast.links import tracking as link_tracking
from wacast.messages import repository as messages_repo
from wacast.messages.senders import account_hold
from wacast.models.campaigns import Campaign, CampaignStatus
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import service as templates
from wacast.templates import statuses
from wacast.webhooks import events


async def create(session: AsyncSession, project_id: uuid.UUID, name: str, template_name: str, language: str | None = None, *, live: bool = False,
                 tracking: Any = None, public_url: str = "") -> Campaign:
    """An API campaign on a template (REST, the dashboard, the CLI). `tracking`: its click and
    conversion settings as given (links/tracking.py), checked before anything is written."""
    if tracking is not None:
        links.check_tracking(tracking, public_url)
    # The base text rule (kit/text.py) first: a NUL reached PostgreSQL here (a 500).
    name = text.check("name", name, max_len=len(name)).strip()
    if not name or len(name) > 200:
        raise WacastError("Campaign name is required (at most 200 characters)", "FIELD_REQUIRED", {"field": "name"})
    if await repo.name_exists(session, project_id, name):
        raise Conflict(f"Campaign {name!r} already exists in this project", "CAMPAIGN_EXISTS")
    template = await templates.find(session, project_id, template_name, language)
    campaign = Campaign(id=uuid.uuid4(), project_id=project_id, name=name, template_id=template.id, status=CampaignStatus.draft, type="api")
    session.add(campaign)
    await session.flush()
    if tracking is not None:
        await links.set_tracking(session, campaign, tracking, public_url)
    if live:
        await set_status(session, project_id, name, CampaignStatus.live)
    return campaign


async def set_status(session: AsyncSession, project_id: uuid.UUID, name: str, status: CampaignStatus) -> Campaign:
    campaign = await repo.get_by_name(session, project_id, name)
    if campaign is None:
        raise NotFound(f"Campaign {name!r} does not exist", "CAMPAIGN_NOT_FOUND")
    if campaign.type == "broadcast":  # broadcasts have their own states (campaigns/broadcasts/service.py)
        raise WacastError(
            f"{name!r} is a broadcast: use `wacast broadcasts pause|resume|cancel` or POST /api/v1/campaigns/{{id}}/pause|resume|cancel",
            "NOT_AN_API_CAMPAIGN", {"campaign": name, "status": campaign.status},
        )
    if status == CampaignStatus.live:
        template = await repo.template(session, campaign.template_id)
        if template is None or not statuses.can_send(template.status):
            raise WacastError(
                f"Campaign cannot go live: template {template.name if template else '?'} is {template.status if template else 'missing'}, not APPROVED",
                "TEMPLATE_NOT_APPROVED",
                {"template_status": template.status if template else None},
            )
    previous = campaign.status
    campaign.status = status
    campaign.updated_at = utcnow()
    await session.flush()
    await events.campaign_status(session, campaign, previous, campaign.status_reason)
    repo.forget_snapshots()
    return campaign


async def with_counts(session: AsyncSession, campaign: Campaign) -> tuple[Campaign, Template | None, dict[str, int]]:
    """A campaign, its template and its messages by status."""
    template = await repo.template(session, campaign.template_id)
    return campaign, template, (await repo.status_counts_by_campaign(session, [campaign.id]))[campaign.id]


async def list_with_counts(
    session: AsyncSession, project_id: uuid.UUID, *, type: str | None = None, status: str | None = None,
) -> list[tuple[Campaign, Template | None, dict[str, int]]]:
    """The project's campaigns (of a type, in a status), newest first, with template and counts."""
    rows = await repo.list_with_templates(session, project_id, type=type, status=status)
    counts = await repo.status_counts_by_campaign(session, [c.id for c, _ in rows])
    return [(c, t, counts[c.id]) for c, t in rows]


async def describe(session: AsyncSession, project: Project, name: str) -> dict[str, Any]:
    """A campaign for people: template, counts by status, and why its sends are held."""
    campaign = await repo.get_by_name(session, project.id, name)
    if campaign is None:
        raise NotFound(f"Campaign {name!r} does not exist", "CAMPAIGN_NOT_FOUND")
    template = await repo.template(session, campaign.template_id)
    held, last_reason = await messages_repo.held_summary(session, campaign.id)
    reasons = []
    if project.halted_reason:
        reasons.append(f"sender halted: {project.halted_reason} (clear with `wacast projects update {project.name} --clear-halt`)")
    if held_by_meta := account_hold(project, utcnow()):
        reasons.append(f"sending held by Meta's account state: {held_by_meta}; it lifts by itself")
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
        "tracking": link_tracking.parse(campaign.tracking).as_dict(),  # clicks and conversions (docs/links.md)
    }
