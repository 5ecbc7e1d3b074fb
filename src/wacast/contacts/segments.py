"""Segments: saved filters over a project's contacts (the filter language and its compiler:
segment_filter.py; the SQL: repository_segments.py).

Opted-out and blocked contacts can match a segment (its count shows them apart) but are
always left out of sends (`sendable()`). The filter is validated and normalized on save (tag
names checked, campaign names turned into ids), so a segment keeps meaning the same thing if
a campaign is renamed.

Campaign conditions ("received campaign X", its last outcome) are answered by the campaigns
floor through the `CampaignOutcomes` protocol. The runtime installs the campaigns
implementation once at startup (`provide_outcomes`, called where the app and the CLI start),
so callers keep calling `segments.count(session, project_id, flt)` and the like; a caller may
also pass `outcomes=` itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import csv_export
from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_segments as repo
from wacast.contacts.segment_filter import (
    OUTCOMES,
    CampaignOutcomes,
    checked_text,
    compile_filter,
    parse,
    parse_when,
    project_zone,
    sendable,
    tag_names,
    with_campaign_ids,
)
from wacast.contacts.segment_filter import members as _members
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.models.segments import Segment

_outcomes: CampaignOutcomes | None = None


def provide_outcomes(outcomes: CampaignOutcomes) -> None:
    """Install the campaigns floor's answers to campaign conditions (done by the runtime)."""
    global _outcomes
    _outcomes = outcomes


def _installed(outcomes: CampaignOutcomes | None) -> CampaignOutcomes | None:
    return outcomes if outcomes is not None else _outcomes


def _need(outcomes: CampaignOutcomes | None) -> CampaignOutcomes:
    found = _installed(outcomes)
    if found is None:
        raise RuntimeError("campaign conditions need campaigns/outcomes.py: call segments.provide_outcomes() at startup")
    return found


async def normalize(session: AsyncSession, project_id: uuid.UUID, raw: Any, *, outcomes: CampaignOutcomes | None = None) -> dict[str, Any]:
    """Validate a filter; returns the stored form (campaign ids, tag names checked)."""
    found = await contacts_repo.project(session, project_id)
    flt = parse(raw, project_zone(found.timezone if found else None))
    names = tag_names(flt)
    known = await contacts_repo.known_tag_names(session, project_id, names)
    for i, c in enumerate(flt["conditions"]):
        unknown = [n for n in c["value"] if n not in known] if c["field"] == "tags" else []
        if unknown:
            path = f"filter.conditions[{i}].value"
            raise WacastError(f"Unknown tag(s): {', '.join(unknown)}", "TAG_NOT_FOUND", {"field": path, "tags": unknown})
    ids: dict[str, uuid.UUID] = {}
    for i, c in enumerate(flt["conditions"]):
        if c["field"] == "campaign" and c["campaign"] not in ids:
            campaign_id = await _need(outcomes).campaign_id(session, project_id, c["campaign"])
            if campaign_id is None:
                raise WacastError(f"Campaign {c['campaign']!r} does not exist", "CAMPAIGN_NOT_FOUND", {"field": f"filter.conditions[{i}].campaign"})
            ids[c["campaign"]] = campaign_id
    return with_campaign_ids(flt, ids)


def members(project_id: uuid.UUID, flt: dict[str, Any], outcomes: CampaignOutcomes | None = None) -> ColumnElement[bool]:
    """The WHERE clause (over `contacts`) of a project's segment members."""
    return _members(project_id, flt, _installed(outcomes))


# --- counting, listing, exporting ------------------------------------------------------------


async def count(session: AsyncSession, project_id: uuid.UUID, flt: dict[str, Any], *, outcomes: CampaignOutcomes | None = None) -> dict[str, int]:
    matching, can_send, opted_out, blocked = await repo.count_members(session, members(project_id, flt, outcomes), sendable())
    return {"matching": matching, "sendable": can_send, "opted_out": opted_out, "blocked": blocked}


async def page(
    session: AsyncSession, project_id: uuid.UUID, flt: dict[str, Any], *, after: uuid.UUID | None, limit: int,
    outcomes: CampaignOutcomes | None = None,
) -> list[Any]:
    """One keyset page of members, in id order."""
    return await repo.member_page(session, members(project_id, flt, outcomes), after=after, limit=limit)


async def tags_of(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    return await contacts_repo.tag_names_of(session, contact_ids)


def export_csv(db: Any, project_id: uuid.UUID, flt: dict[str, Any], batch: int = 1000, *, outcomes: CampaignOutcomes | None = None) -> AsyncIterator[bytes]:
    """CSV of the members, streamed in keyset batches (never the whole audience in memory),
    through the one contact exporter (csv_export.py: formula guard included)."""
    where = members(project_id, flt, outcomes)

    async def pages(session: AsyncSession, after: Any) -> tuple[list[Any], Any]:
        rows = await repo.member_page(session, where, after=after, limit=batch)
        return csv_export.with_tags(rows, await contacts_repo.tag_names_of(session, [r.id for r in rows])), (
            rows[-1].id if len(rows) == batch else None
        )

    return csv_export.encoded(csv_export.export(db, project_id, pages, csv_export.SEGMENT_COLUMNS))


# --- saved segments -----------------------------------------------------------------------


async def create(session: AsyncSession, project_id: uuid.UUID, name: Any, raw_filter: Any, *, outcomes: CampaignOutcomes | None = None) -> Segment:
    name = checked_text(name, "name", 200) if name is not None else ""
    if not name:
        raise WacastError("name is required", "FIELD_REQUIRED", {"field": "name"})
    flt = await normalize(session, project_id, raw_filter, outcomes=outcomes)
    if await repo.name_taken(session, project_id, name):
        raise Conflict(f"Segment {name!r} already exists in this project", "SEGMENT_EXISTS", {"name": name})
    now = utcnow()
    segment = Segment(id=uuid.uuid4(), project_id=project_id, name=name, filter=flt, created_at=now, updated_at=now)
    await repo.insert(session, segment)
    return segment


async def update(
    session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, name: Any, raw_filter: Any, *,
    outcomes: CampaignOutcomes | None = None,
) -> Segment:
    """A new name and/or filter for a saved segment (None keeps it). A broadcast already made
    to it keeps the filter it was created with (campaigns/broadcasts/service.write copies it)."""
    segment = await get(session, project_id, ref)
    if name is not None:
        name = checked_text(name, "name", 200)
        if name != segment.name and await repo.name_taken(session, project_id, name):
            raise Conflict(f"Segment {name!r} already exists in this project", "SEGMENT_EXISTS", {"name": name})
    flt = await normalize(session, project_id, raw_filter, outcomes=outcomes) if raw_filter is not None else None
    if name is not None:
        segment.name = name
    if flt is not None:
        segment.filter = flt
    segment.updated_at = utcnow()
    await session.flush()
    return segment


async def get(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Segment:
    if not ref or text.problem(str(ref), max_len=200) is not None:  # no segment has such a name
        raise NotFound("Segment not found", "SEGMENT_NOT_FOUND", {"segment": str(ref)[:200]})
    try:
        as_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        as_id = None
    segment = await repo.find(session, project_id, name=str(ref), segment_id=as_id)
    if segment is None:
        raise NotFound("Segment not found", "SEGMENT_NOT_FOUND", {"segment": str(ref)})
    return segment


async def list_all(session: AsyncSession, project_id: uuid.UUID) -> list[Segment]:
    return await repo.list_all(session, project_id)


async def delete(session: AsyncSession, project_id: uuid.UUID, ref: str, *, outcomes: CampaignOutcomes | None = None) -> None:
    segment = await get(session, project_id, ref)
    in_use = await _need(outcomes).unfinished_campaign_using(session, segment.id)
    if in_use:
        raise Conflict(f"Segment is used by broadcast {in_use!r}, which is not finished", "SEGMENT_IN_USE", {"campaign": in_use})
    await repo.remove(session, segment)


def outcome_filter(campaign_id: uuid.UUID, statuses: list[str] | None) -> dict[str, Any]:
    """The filter of a campaign's audience by outcome (the "make a segment" action)."""
    condition: dict[str, Any] = {"field": "campaign", "campaign": str(campaign_id), "op": "received"}
    if statuses:
        condition["status"] = statuses
    return {"match": "all", "conditions": [condition]}


__all__ = [
    "OUTCOMES", "CampaignOutcomes", "Segment", "compile_filter", "count", "create", "delete", "export_csv", "get", "list_all",
    "members", "normalize", "outcome_filter", "page", "parse_when", "project_zone", "provide_outcomes", "sendable", "tags_of",
    "update",
]
