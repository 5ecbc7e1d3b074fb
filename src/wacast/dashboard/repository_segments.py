"""What the segment builder offers in its dropdowns: the project's tags, attribute names,
contact sources and campaigns (read models of the dashboard, like repository.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.campaigns import Campaign
from wacast.models.contacts import AttributeDefinition, Contact, Tag

MAX_CHOICES = 500  # a dropdown longer than this is no help; the text input still takes any value


async def builder_choices(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Any]:
    tags = (await session.execute(select(Tag.name).where(Tag.project_id == project_id).order_by(Tag.name).limit(MAX_CHOICES))).scalars().all()
    attributes = (
        await session.execute(
            select(AttributeDefinition.name).where(AttributeDefinition.project_id == project_id).order_by(AttributeDefinition.name).limit(MAX_CHOICES)
        )
    ).scalars().all()
    sources = (
        await session.execute(
            select(Contact.source).where(Contact.project_id == project_id, Contact.source.is_not(None), Contact.source != "")
            .distinct().order_by(Contact.source).limit(MAX_CHOICES)
        )
    ).scalars().all()
    campaigns = (
        await session.execute(
            select(Campaign.id, Campaign.name, Campaign.type).where(Campaign.project_id == project_id)
            .order_by(Campaign.created_at.desc()).limit(MAX_CHOICES)
        )
    ).all()
    return {
        "tags": list(tags), "attributes": list(attributes), "sources": list(sources),
        "campaigns": [{"id": str(c.id), "name": c.name, "type": c.type} for c in campaigns],
    }
