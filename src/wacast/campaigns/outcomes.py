"""Campaign outcomes for segment filters: the campaigns floor's side of the
`CampaignOutcomes` protocol of contacts/segment_filter.py ("received campaign X", the last
outcome of a campaign for a contact, "clicked / converted in campaign X" (links), the campaign lookup by name or id, and whether an
unfinished broadcast uses a segment). The runtime installs it with
`segments.provide_outcomes(CAMPAIGN_OUTCOMES)`."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns import repository as repo
from wacast.links import repository_results as links_repo

# A broadcast in one of these states still reads its segment.
UNFINISHED = ("scheduled", "running", "paused")


class CampaignOutcomesFromMessages:
    """Outcomes read from the campaign's messages: replied, else the message's status."""

    async def campaign_id(self, session: AsyncSession, project_id: uuid.UUID, ref: str) -> uuid.UUID | None:
        return await repo.id_by_ref(session, project_id, ref)

    def received(self, campaign_id: uuid.UUID) -> ColumnElement[bool]:
        return repo.received_by_contact(campaign_id)

    def last_outcome_in(self, campaign_id: uuid.UUID, outcomes: list[str]) -> ColumnElement[bool]:
        return repo.last_outcome_of_contact(campaign_id).in_(outcomes)

    def clicked(self, campaign_id: uuid.UUID) -> ColumnElement[bool]:
        return links_repo.clicked_by_contact(campaign_id)

    def converted(self, campaign_id: uuid.UUID, goals: list[str] | None) -> ColumnElement[bool]:
        return links_repo.converted_by_contact(campaign_id, goals)

    async def unfinished_campaign_using(self, session: AsyncSession, segment_id: uuid.UUID) -> str | None:
        return await repo.unfinished_using_segment(session, segment_id, UNFINISHED)


CAMPAIGN_OUTCOMES = CampaignOutcomesFromMessages()
