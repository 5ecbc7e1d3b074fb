"""The dry run of a broadcast: everything a create would do, answered without sending or
storing anything. The audience estimate (estimate.py: counts, skips by reason, tier waits,
quiet hours, warnings), who is held rather than skipped, the messages by category and by
country (the destination's region, dry_run_policy.count_by_country) and their cost at the
rate card in force (billing.service.estimate_cost).

`broadcast` is the use case REST (`POST /api/v1/campaigns` with `"dry_run": true`) and the CLI
(`wacast broadcasts create --dry-run`) call: the body is validated exactly as a create
validates it (service.prepare, the media URL checked too), then measured in a read session.
`measure` is its core, which the dashboard's New broadcast calls as the form is filled in
(draft.preview). See docs/dry-run.md."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.billing import service as billing
from wacast.campaigns.broadcasts import dry_run_policy as rules
from wacast.campaigns.broadcasts import estimate
from wacast.campaigns.broadcasts import policy as policies
from wacast.campaigns.broadcasts import repository as repo
from wacast.campaigns.broadcasts import repository_dry_run as dry_repo
from wacast.campaigns.broadcasts import service
from wacast.campaigns.broadcasts.audience_csv import MAX_REJECTS_LISTED, parse_csv
from wacast.contacts import consent_policy, segments
from wacast.kit.clock import utcnow
from wacast.kit.phone import sends_by_user_id
from wacast.projects import marketing_rules


@dataclass
class DryRun:
    estimate: estimate.Estimate
    template_category: str
    by_country: dict[str, int] = field(default_factory=dict)  # ISO country (or *) -> messages
    cost: dict[str, Any] = field(default_factory=dict)  # dry_run_policy.cost_view

    def as_dict(self) -> dict[str, Any]:
        e = self.estimate
        return {
            **e.as_dict(), "dry_run": True, "skipped": sum(e.skips.values()),
            "held": rules.held(e.will_send, e.quiet_until, e.waits_for_tier),
            "messages": sum(self.by_country.values()), "by_category": rules.by_category(self.template_category, self.by_country),
            "by_country": self.by_country, "cost": self.cost, "cost_line": rules.cost_words(self.cost),
        }


async def measure(
    session: AsyncSession, project_id: uuid.UUID, template_category: str, *, segment_filter: dict[str, Any] | None = None,
    csv_rows: list[tuple[str, str, dict[str, str]]] | None = None, rejected: list[dict[str, Any]] | None = None,
    now: datetime, send_at: datetime | None = None, blocked_regions: frozenset[str] | None = None,
) -> DryRun:
    """A broadcast of a `template_category` template to a segment filter (or to an uploaded
    audience's rows and rejects), sent at `send_at` (None: now), measured. Reads only.
    `blocked_regions`: WACAST_MARKETING_BLOCKED_REGIONS as the engine reads it (None: the default)."""
    policy = await repo.send_policy(session, project_id)
    project = await repo.project(session, project_id)
    capped = policies.frequency_cap_applies(policy, template_category)
    cap_since = now - timedelta(days=policy.frequency_cap_days or 1) if capped else None
    cap = (policy.frequency_cap_count or 0) if capped else 0
    consent_needed = consent_policy.required(project.require_marketing_consent, template_category)
    if csv_rows is not None:
        found = await estimate.csv_audience(session, project_id, csv_rows, rejected or [], template_category, now=now, send_at=send_at,
                                           blocked_regions=blocked_regions)
        destinations = await dry_repo.csv_destinations(session, project_id, [phone for phone, _, _ in csv_rows],
                                                       cap_since=cap_since, cap=cap, consent_needed=consent_needed)
    else:
        flt = segment_filter or {}
        found = await estimate.audience(session, project_id, flt, template_category, now=now, send_at=send_at,
                                       blocked_regions=blocked_regions)
        destinations = await dry_repo.segment_destinations(
            session, segments.members(project_id, flt), segments.sendable(), cap_since=cap_since, cap=cap,
            consent_needed=consent_needed, by_user_id=sends_by_user_id(template_category))
    # Those the engine skips for Meta's marketing regions are no messages either (projects/marketing_rules.py).
    regions = marketing_rules.BLOCKED_BY_DEFAULT if blocked_regions is None else blocked_regions
    skipped = marketing_rules.blocked_among(destinations, template_category, project.marketing_region_policy, regions)
    if skipped:
        destinations = [d for d in destinations if d not in skipped]
    by_country = await asyncio.to_thread(rules.count_by_country, destinations)  # CPU for a large audience: off the event loop
    priced_at = send_at if send_at is not None and send_at > now else now
    cost = await billing.estimate_cost(session, project_id, rules.message_counts(template_category, by_country), priced_at)
    return DryRun(found, template_category, by_country, rules.cost_view(cost))


async def broadcast(
    db: Any, project_id: uuid.UUID, body: Any, *, defaults: Any, check_media: service.MediaCheck, csv_data: bytes | None = None,
) -> dict[str, Any]:
    """What creating this broadcast would do, creating nothing: the body validated as
    `service.create` validates it (the same errors), then measured."""
    csv_audience = csv_data is not None
    async with db.read() as session:
        draft = await service.prepare(session, project_id, body, csv_audience=csv_audience, defaults=defaults)
        # Read what is needed before the read session ends (and expires its rows).
        category, default_country, send_at = draft.template.category, draft.project.default_country, draft.send_at
        seg = {"id": str(draft.segment.id), "name": draft.segment.name, "filter": draft.segment.filter} if draft.segment else None
        template = {"name": draft.template.name, "language": draft.template.language, "category": category}
        name, media = draft.name, draft.plan.media
        header_format = draft.needs.header_format
    if media is not None:
        await check_media(media.url, header_format, "media.url")
    # Reading a large file's numbers takes seconds of CPU: in a thread, the event loop goes on meanwhile.
    rows, rejected = await asyncio.to_thread(parse_csv, csv_data, default_country) if csv_data is not None else ([], [])
    async with db.read() as session:
        result = await measure(session, project_id, category, segment_filter=seg["filter"] if seg else None,
                               csv_rows=rows if csv_audience else None, rejected=rejected, now=utcnow(), send_at=send_at,
                               blocked_regions=defaults.blocked_marketing_regions)
    # The shape of a created broadcast's `audience` (presenter.describe), with a CSV's row counts as create gives them.
    audience: dict[str, Any] = {"segment_id": seg["id"], "segment": seg["name"]} if seg else {"csv": True}
    if csv_audience:
        audience.update(rows=len(rows), rejected_rows=len(rejected), rejected=rejected[:MAX_REJECTS_LISTED])
    return {"name": name, "template": template, "send_at": send_at, "audience": audience, **result.as_dict()}
