"""Setting a campaign's click and conversion settings (its `tracking`: UTM parameters, goals,
attribution window), checked by links/tracking.py, the one validator. The dashboard's
campaign page calls it; the REST API's create and update may call it too."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns import repository as repo
from wacast.campaigns.analytics import find_campaign
from wacast.kit.clock import utcnow
from wacast.links import tracking
from wacast.models.campaigns import Campaign


async def set_tracking(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, settings: tracking.Tracking | Any) -> Campaign:
    """Store the settings (a `Tracking`, or the JSON object REST takes, parsed here) on the
    project's campaign `ref` (id or name); 404 CAMPAIGN_NOT_FOUND, 400 naming a bad field."""
    checked = settings if isinstance(settings, tracking.Tracking) else tracking.parse(settings)
    campaign = await find_campaign(session, project_id, ref)
    campaign.tracking = checked.as_dict()
    campaign.updated_at = utcnow()
    await session.flush()
    repo.forget_snapshots()  # a send's snapshot may carry the settings
    return campaign
