"""The audience estimate of a broadcast before it is made: who it reaches, who is skipped and
why, who waits, and what deserves a warning. One service for the dashboard's New broadcast
(the dry run of a later issue extends it); the same rules the engine applies as it sends
(policy.py), counted over the whole segment at once instead of batch by batch."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns.broadcasts import policy as policies
from wacast.campaigns.broadcasts import repository as repo
from wacast.campaigns.broadcasts.engine import NO_PHONE_NUMBER, NUMBER_CHANGED
from wacast.contacts import consent_policy
from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_consent as consent_repo
from wacast.contacts import repository_segments as segment_counts
from wacast.contacts import segments
from wacast.kit.phone import sends_by_user_id
from wacast.models.contacts import Contact
from wacast.projects import guardrails, marketing_rules
from wacast.projects import repository_guardrails as guard_repo

CHUNK = 500  # phones per IN list when an uploaded audience is counted (SQLite caps a statement's values)
REPEAT_WINDOW = timedelta(hours=24)  # "got a broadcast in the last 24 hours": a warning, never a skip


@dataclass
class Estimate:
    matching: int
    will_send: int  # sendable, minus the frequency-cap skips
    skips: dict[str, int] = field(default_factory=dict)  # reason -> contacts not sent to
    waits_for_tier: int = 0  # sent later, when the messaging tier's 24 h window has room
    quiet_until: str | None = None  # "quiet hours until 09:00 Asia/Kolkata" when it would start inside them
    recent_repeat: int = 0  # of those sent to, how many got a broadcast in the last 24 h
    warnings: list[str] = field(default_factory=list)
    # Set when it would pass the business portfolio's daily messaging limit (Meta's
    # phone_number_quality_update reports it; projects/guardrails.limit_warning).
    portfolio_limit_warning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _blocked(blocked_regions: frozenset[str] | None) -> frozenset[str]:
    """WACAST_MARKETING_BLOCKED_REGIONS as the caller read it (None: the default, US)."""
    return marketing_rules.BLOCKED_BY_DEFAULT if blocked_regions is None else blocked_regions


async def audience(
    session: AsyncSession, project_id: uuid.UUID, segment_filter: dict[str, Any], template_category: str, *,
    now: datetime, send_at: datetime | None = None, blocked_regions: frozenset[str] | None = None,
) -> Estimate:
    """What a broadcast of a template of `template_category` to this (stored) segment filter
    would do, sent at `send_at` (None: now); `blocked_regions` as the engine reads
    WACAST_MARKETING_BLOCKED_REGIONS."""
    counts = await segments.count(session, project_id, segment_filter)
    members, sendable = segments.members(project_id, segment_filter), segments.sendable()
    policy = await repo.send_policy(session, project_id)
    project = await repo.project(session, project_id)
    skips = {"opted out": counts["opted_out"], "blocked": counts["blocked"]}
    at_cap = 0
    if policies.frequency_cap_applies(policy, template_category):
        since = now - timedelta(days=policy.frequency_cap_days or 1)
        at_cap = await repo.count_at_frequency_cap(session, members, sendable, since, policy.frequency_cap_count or 0)
        skips["frequency cap"] = at_cap
    no_phone, moved = await segment_counts.count_unreachable(session, members, sendable, by_user_id=sends_by_user_id(template_category))
    skips[NO_PHONE_NUMBER], skips[NUMBER_CHANGED] = no_phone, moved
    no_consent = 0
    if consent_policy.required(project.require_marketing_consent, template_category):  # the engine skips them: no_consent
        no_consent = await consent_repo.count_without_consent(session, members, sendable)
        skips[consent_policy.NO_CONSENT] = no_consent
    region_blocked, blocked = 0, _blocked(blocked_regions)
    if blocked and marketing_rules.applies(template_category, project.marketing_region_policy):  # the engine skips them too
        groups = await repo.phone_groups(session, members, sendable, marketing_rules.calling_codes(blocked), marketing_rules.PREFIX_LENGTH)
        region_blocked = marketing_rules.count_blocked(groups, template_category, project.marketing_region_policy, blocked)
        skips[marketing_rules.MARKETING_REGION_BLOCKED] = region_blocked
    will_send = max(0, counts["sendable"] - at_cap - no_phone - moved - no_consent - region_blocked)
    used = await repo.contacts_messaged_since(session, project_id, now - timedelta(hours=24))
    room = policies.tier_room(policy, used)
    waits = max(0, will_send - max(room, 0)) if room is not None else 0
    zone = segments.project_zone(project.timezone)
    until = policies.quiet_until(policy, zone, send_at or now)
    recent = await repo.count_broadcast_to_since(session, members, sendable, now - REPEAT_WINDOW) if will_send else 0
    out = Estimate(counts["matching"], will_send, {k: v for k, v in skips.items() if v}, waits,
                   policies.quiet_reason(until, zone, project.timezone) if until else None, recent)
    out.portfolio_limit_warning = await _portfolio_warning(session, project, will_send, used)
    out.warnings = warnings(out)
    return out


async def _portfolio_warning(session: AsyncSession, project: Any, will_send: int, used: int) -> str | None:
    limit = await guard_repo.portfolio_limit(session, project.waba_id)
    return guardrails.limit_warning(will_send, limit.daily_limit if limit else None, used)


async def csv_audience(
    session: AsyncSession, project_id: uuid.UUID, rows: list[tuple[str, str, dict[str, str]]], rejected: list[dict[str, Any]],
    template_category: str, *, now: datetime, send_at: datetime | None = None, blocked_regions: frozenset[str] | None = None,
) -> Estimate:
    """The same estimate for an uploaded audience (audience_csv.parse_csv's rows and rejects):
    numbers that are contacts already count with their opt-out, block, cap and history."""
    phones = [phone for phone, _, _ in rows]
    policy = await repo.send_policy(session, project_id)
    project = await repo.project(session, project_id)
    opted_out = blocked = at_cap = recent = consented = 0
    capped = policies.frequency_cap_applies(policy, template_category)
    consent_needed = consent_policy.required(project.require_marketing_consent, template_category)
    for start in range(0, len(phones), CHUNK):
        members = and_(Contact.project_id == project_id, Contact.phone.in_(phones[start : start + CHUNK]))
        _, sendable_here, out_here, blocked_here = await segment_counts.count_members(session, members, segments.sendable())
        opted_out, blocked = opted_out + out_here, blocked + blocked_here
        if consent_needed:
            consented += sendable_here - await consent_repo.count_without_consent(session, members, segments.sendable())
        if capped:
            since = now - timedelta(days=policy.frequency_cap_days or 1)
            at_cap += await repo.count_at_frequency_cap(session, members, segments.sendable(), since, policy.frequency_cap_count or 0)
        recent += await repo.count_broadcast_to_since(session, members, segments.sendable(), now - REPEAT_WINDOW)
    moved = len(await contacts_repo.moved_numbers(session, project_id, phones))
    # A number that is no contact yet has no consent either.
    no_consent = max(0, len(rows) - opted_out - blocked - consented) if consent_needed else 0
    # Numbers in a region where Meta does not deliver marketing (contacts or not: the engine skips them).
    region_blocked = len(marketing_rules.blocked_among(phones, template_category, project.marketing_region_policy, _blocked(blocked_regions)))
    skips = {"invalid row": len(rejected), "opted out": opted_out, "blocked": blocked, "frequency cap": at_cap, NUMBER_CHANGED: moved,
             consent_policy.NO_CONSENT: no_consent, marketing_rules.MARKETING_REGION_BLOCKED: region_blocked}
    will_send = max(0, len(rows) - opted_out - blocked - at_cap - moved - no_consent - region_blocked)
    used = await repo.contacts_messaged_since(session, project_id, now - timedelta(hours=24))
    room = policies.tier_room(policy, used)
    zone = segments.project_zone(project.timezone)
    until = policies.quiet_until(policy, zone, send_at or now)
    out = Estimate(len(rows) + len(rejected), will_send, {k: v for k, v in skips.items() if v},
                   max(0, will_send - max(room, 0)) if room is not None else 0,
                   policies.quiet_reason(until, zone, project.timezone) if until else None, recent)
    out.portfolio_limit_warning = await _portfolio_warning(session, project, will_send, used)
    out.warnings = warnings(out)
    return out


def warnings(estimate: Estimate) -> list[str]:
    """What a marketer should read before launching (pure: the estimate's own numbers)."""
    said = []
    if estimate.quiet_until:
        said.append(f"It would start inside quiet hours: the messages wait ({estimate.quiet_until}).")
    if estimate.recent_repeat:
        said.append(f"{estimate.recent_repeat} of these contacts got a broadcast in the last 24 hours.")
    if estimate.waits_for_tier:
        said.append(f"{estimate.waits_for_tier} wait for your messaging tier: they are sent as the 24-hour window frees up.")
    if estimate.portfolio_limit_warning:
        said.append(estimate.portfolio_limit_warning)
    if region_blocked := estimate.skips.get(marketing_rules.MARKETING_REGION_BLOCKED):
        said.append(f"{region_blocked} are numbers of a region where Meta does not deliver marketing templates (US numbers since "
                    "April 2025): they are skipped (the project's marketing_region_policy).")
    if not estimate.will_send:
        said.append("Nobody in this audience can be messaged.")
    return said
