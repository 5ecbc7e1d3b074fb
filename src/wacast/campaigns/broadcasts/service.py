"""The broadcast use cases, one function each, called alike by REST, the dashboard and the
CLI: create (validate, check the media, write), find, pause, resume, cancel, retry failed,
and the project's send policy. The engine's status changes (a schedule starting, a broadcast
finishing, an auto-pause) are here too, so every change of status emits
`campaign.status.updated` by a plain call where it happens.

Services flush, never commit; `create` alone opens its own units of work (see there).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.campaigns.broadcasts import policy as policies
from wacast.campaigns.broadcasts import presenter
from wacast.campaigns.broadcasts import repository as repo
from wacast.campaigns.broadcasts.audience_csv import parse_csv
from wacast.campaigns.broadcasts.plan import (
    Plan,
    failure_settings,
    parse_plan,
    parse_send_at,
)
from wacast.contacts import segments
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.links import service as links
from wacast.meta.errors import ErrorClass, classify
from wacast.models.broadcasts import SendPolicy
from wacast.models.campaigns import Campaign
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import service as templates
from wacast.templates import statuses as template_statuses
from wacast.templates.components import check_param_text
from wacast.templates.params import BODY_PARAM_MAX, TemplateNeeds, analyze
from wacast.webhooks import events


class BroadcastStatus:
    scheduled = "scheduled"
    running = "running"
    paused = "paused"
    cancelled = "cancelled"
    completed = "completed"


PAUSED_REASON = "campaign paused"
SENDING_STATUSES = (BroadcastStatus.scheduled, BroadcastStatus.running, BroadcastStatus.paused)
# A paused broadcast's messages are held "forever": until resume moves them back.
FAR_FUTURE = timedelta(days=3650)
RETRYABLE = (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer)
DEFAULT_CSV_SOURCE = "CSV upload"

# (url, the template's header format, the field to name in an error) -> raises when unusable.
MediaCheck = Callable[[str, str | None, str], Awaitable[Any]]


async def _set_status(session: AsyncSession, campaign: Campaign, status: str, now: datetime) -> None:
    previous = campaign.status
    campaign.status = status
    campaign.updated_at = now
    await events.campaign_status(session, campaign, previous, campaign.status_reason)


# --- creating --------------------------------------------------------------------------------


@dataclass
class Draft:
    """A validated create request, before it is written (media is checked in between)."""

    name: str
    template: Template
    needs: TemplateNeeds
    plan: Plan
    send_at: datetime | None
    segment: Any
    settings: dict[str, Any]
    project: Project


def _single_line(body: dict[str, Any], field: str, max_len: int) -> None:
    if isinstance(body.get(field), str):
        text.check(field, body[field], max_len=max_len)


def _check_fixed_params(plan: Plan) -> None:
    """Fixed parameter text and fallbacks under Meta's parameter profile now, at create: else
    every contact would be skipped at send time for the same line break or blank value."""
    for i, source in enumerate(plan.params):
        for value, where in ((source.text, f"params[{i}]"), (source.fallback, f"params[{i}].fallback")):
            if value is not None:
                check_param_text(value, where, BODY_PARAM_MAX)


async def prepare(session: AsyncSession, project_id: uuid.UUID, body: Any, *, csv_audience: bool, defaults: Any) -> Draft:
    """Validate a create request (everything but the media URL, which `create` checks)."""
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    # The base text rule (kit/text.py) over the whole body; names and references are one line.
    text.check_tree(body, "body")
    for field, max_len in (("name", 4096), ("template", 512), ("language", 64), ("segment", 512), ("segment_id", 512), ("source", 4096)):
        _single_line(body, field, max_len)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise WacastError("name is required (at most 200 characters)", "FIELD_REQUIRED", {"field": "name"})
    name = name.strip()
    if await repo.name_taken(session, project_id, name):
        raise Conflict(f"Campaign {name!r} already exists in this project", "CAMPAIGN_EXISTS", {"name": name})
    template_name = body.get("template")
    if not isinstance(template_name, str) or not template_name.strip():
        raise WacastError("template is required (the template's name)", "FIELD_REQUIRED", {"field": "template"})
    language = body.get("language")
    if language is not None and not isinstance(language, str):
        raise WacastError("language must be a string", "FIELD_INVALID", {"field": "language"})
    template = await templates.find(session, project_id, template_name.strip(), language)
    if not template_statuses.can_send(template.status):
        raise WacastError(
            f"Template {template.name} is {template.status}, not APPROVED", "TEMPLATE_NOT_APPROVED",
            {"field": "template", "template_status": template.status},
        )
    needs = analyze(template.components, template.parameter_format)
    plan = parse_plan(needs, body)
    _check_fixed_params(plan)
    segment = None
    if csv_audience:
        if body.get("segment"):
            raise WacastError("Give either a segment or an uploaded CSV, not both", "FIELD_INVALID", {"field": "segment"})
    else:
        ref = body.get("segment") or body.get("segment_id")
        if not isinstance(ref, str) or not ref.strip():
            raise WacastError("segment is required (a segment id or name), or upload a CSV", "FIELD_REQUIRED", {"field": "segment"})
        segment = await segments.get(session, project_id, ref.strip())
    project = await repo.project(session, project_id)
    send_at = parse_send_at(body.get("send_at"), segments.project_zone(project.timezone), utcnow())
    settings = failure_settings(body, defaults.broadcast_failure_threshold, defaults.broadcast_failure_window)
    return Draft(name, template, needs, plan, send_at, segment, settings, project)


async def write(session: AsyncSession, project_id: uuid.UUID, draft: Draft, csv_rows: list[tuple[uuid.UUID, dict]] | None = None) -> Campaign:
    """The campaign row of a validated draft (and its CSV recipients, in file order)."""
    now = utcnow()
    settings = {**draft.settings, "plan": draft.plan.to_json()}
    if draft.segment is not None:
        settings["filter"] = draft.segment.filter
        settings["segment_name"] = draft.segment.name
        total = (await segments.count(session, project_id, draft.segment.filter))["sendable"]
    else:
        settings["audience"] = "csv"
        total = len(csv_rows or [])
    campaign = Campaign(
        id=uuid.uuid4(), project_id=project_id, name=draft.name, type="broadcast", template_id=draft.template.id,
        status=BroadcastStatus.scheduled if draft.send_at and draft.send_at > now else BroadcastStatus.running,
        created_at=now, updated_at=now, segment_id=draft.segment.id if draft.segment else None, broadcast=settings,
        send_at=draft.send_at, total_count=total, queued_count=0, skipped_count=0, skip_reasons={},
        started_at=None,
    )
    session.add(campaign)
    await session.flush()
    if csv_rows:
        await repo.add_recipients(session, campaign.id, csv_rows)
    return campaign


def _csv_source(body: dict[str, Any]) -> str:
    source = body.get("source")
    return source.strip()[:200] if isinstance(source, str) and source.strip() else DEFAULT_CSV_SOURCE


async def create(
    db: Any, project_id: uuid.UUID, body: Any, *, defaults: Any, check_media: MediaCheck, csv_data: bytes | None = None,
    tracking: Any = None,
) -> dict[str, Any]:
    """Create a broadcast to a segment (or to an uploaded CSV): the broadcast as `describe`
    shows it, with the CSV's row counts and rejects, and its `tracking` (links/tracking.py:
    checked first, stored with the campaign row, so the fan-out's first links follow it).

    The media URL is fetched (a network call) between validating and writing, so this use
    case opens its own units of work: it validates in a read session, checks the media with
    no session open, then validates again and writes in one transaction."""
    csv_audience = csv_data is not None
    links.check_tracking(tracking, defaults.public_url)
    async with db.read() as session:
        draft = await prepare(session, project_id, body, csv_audience=csv_audience, defaults=defaults)
        default_country = draft.project.default_country  # read before the read session ends (and expires it)
    if draft.plan.media is not None:
        await check_media(draft.plan.media.url, draft.needs.header_format, "media.url")
    rows, rejected = parse_csv(csv_data, default_country) if csv_data is not None else ([], [])
    async with db.transaction() as session:
        csv_rows = await repo.upsert_csv_contacts(session, project_id, rows, _csv_source(body), utcnow()) if csv_audience else None
        draft = await prepare(session, project_id, body, csv_audience=csv_audience, defaults=defaults)
        campaign = await write(session, project_id, draft, csv_rows)
        settings = await links.set_tracking(session, campaign, tracking, defaults.public_url)
        out = await presenter.describe(session, campaign)
    out["tracking"] = settings.as_dict()
    if csv_audience:
        out["audience"].update(rows=len(rows), rejected_rows=len(rejected), rejected=rejected[:100])
    return out


# --- finding and controlling -------------------------------------------------------------------


async def find(session: AsyncSession, project_id: uuid.UUID, ref: str, *, lock: bool = False, broadcast_only: bool = False) -> Campaign:
    """A campaign by name or id (404 otherwise); `broadcast_only`: API campaigns are 404 too."""
    if not ref or "\x00" in str(ref) or len(str(ref)) > 200:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": str(ref)[:200]})
    try:
        as_id = uuid.UUID(str(ref))
    except ValueError:
        as_id = None
    campaign = await repo.find(session, project_id, ref, as_id, lock=lock)
    if campaign is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": ref})
    if broadcast_only and campaign.type != "broadcast":
        raise NotFound("Broadcast not found", "CAMPAIGN_NOT_FOUND")
    return campaign


def _require_broadcast(campaign: Campaign, action: str, allowed: tuple[str, ...]) -> None:
    if campaign.type != "broadcast":
        raise WacastError(f"{campaign.name!r} is an API campaign; only broadcasts can {action}", "NOT_A_BROADCAST", {"campaign": campaign.name})
    if campaign.status not in allowed:
        raise Conflict(
            f"Cannot {action} a broadcast that is {campaign.status}", "BROADCAST_STATE",
            {"status": campaign.status, "allowed_from": list(allowed)},
        )


async def pause(session: AsyncSession, campaign: Campaign, reason: str = "paused by a user") -> int:
    """Stop the fan-out and hold the broadcast's queued messages. Returns messages held."""
    _require_broadcast(campaign, "pause", (BroadcastStatus.scheduled, BroadcastStatus.running))
    now = utcnow()
    campaign.status_reason = reason[:500]
    await _set_status(session, campaign, BroadcastStatus.paused, now)
    held = await repo.hold_queued(session, campaign.id, now + FAR_FUTURE, PAUSED_REASON, now)
    await session.flush()
    return held


async def resume(session: AsyncSession, campaign: Campaign) -> int:
    """Go on where it stopped (or wait for its time again). Returns messages released."""
    _require_broadcast(campaign, "resume", (BroadcastStatus.paused,))
    now = utcnow()
    not_started = campaign.started_at is None and campaign.send_at is not None and campaign.send_at > now
    campaign.status_reason = None
    await _set_status(session, campaign, BroadcastStatus.scheduled if not_started else BroadcastStatus.running, now)
    project = await repo.project(session, campaign.project_id)
    zone = segments.project_zone(project.timezone)
    until = policies.quiet_until(await repo.send_policy(session, campaign.project_id), zone, now)
    reason = policies.quiet_reason(until, zone, project.timezone) if until else None
    released = await repo.release_held(session, campaign.id, PAUSED_REASON, until or now, reason)
    await session.flush()
    return released


async def cancel(session: AsyncSession, campaign: Campaign) -> int:
    """Stop for good: nothing more is queued; queued, unsent messages are withdrawn."""
    _require_broadcast(campaign, "cancel", SENDING_STATUSES)
    now = utcnow()
    withdrawn = await repo.withdraw_queued(session, campaign.id, now)
    campaign.status_reason = f"cancelled; {withdrawn} queued message(s) withdrawn"
    campaign.finished_at = now
    campaign.queued_count = (campaign.queued_count or 0) - withdrawn
    await _set_status(session, campaign, BroadcastStatus.cancelled, now)
    await session.flush()
    return withdrawn


async def retry_failed(session: AsyncSession, campaign: Campaign) -> dict[str, int]:
    """Queue again the failures worth retrying (Meta's transient classes); never permanent
    errors, opt-outs, or contacts who opted out or were blocked since."""
    _require_broadcast(campaign, "retry failed messages of", (BroadcastStatus.running, BroadcastStatus.paused, BroadcastStatus.completed))
    now = utcnow()
    rows = await repo.failed_with_contacts(session, campaign.id)
    retry_ids = [r.id for r in rows if classify(r.error_code) in RETRYABLE and r.opted_in and not r.blocked]
    paused = campaign.status == BroadcastStatus.paused
    await repo.requeue_failed(session, retry_ids, now + FAR_FUTURE if paused else now, PAUSED_REASON if paused else None, now)
    if retry_ids and campaign.status == BroadcastStatus.completed:
        campaign.finished_at = None
        await _set_status(session, campaign, BroadcastStatus.running, now)
    campaign.updated_at = now
    await session.flush()
    return {"requeued": len(retry_ids), "not_retryable": len(rows) - len(retry_ids)}


ACTIONS: dict[str, Callable[[AsyncSession, Campaign], Awaitable[Any]]] = {
    "pause": pause, "resume": resume, "cancel": cancel, "retry-failed": retry_failed,
}


async def control(session: AsyncSession, project_id: uuid.UUID, ref: str, action: str, *, broadcast_only: bool = False) -> tuple[Campaign, Any]:
    """Pause, resume, cancel or retry-failed a broadcast by name or id (its row locked):
    the campaign and what the action did (messages held, released, withdrawn, requeued)."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise NotFound("No such action", "NOT_FOUND")
    campaign = await find(session, project_id, ref, lock=True, broadcast_only=broadcast_only)
    return campaign, await handler(session, campaign)


# --- the engine's status changes -------------------------------------------------------------


async def start_scheduled(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    """A scheduled broadcast's time has come: it runs (the engine fans it out next)."""
    await _set_status(session, campaign, BroadcastStatus.running, now)


async def complete(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    """Every contact was queued and every message has left the outbox."""
    campaign.finished_at = now
    await _set_status(session, campaign, BroadcastStatus.completed, now)


# --- the send policy ---------------------------------------------------------------------------


async def get_policy(session: AsyncSession, project_id: uuid.UUID) -> SendPolicy | None:
    return await repo.send_policy(session, project_id)


async def set_policy(session: AsyncSession, project_id: uuid.UUID, body: Any) -> SendPolicy:
    """Change the fields of the policy that `body` gives (quiet_hours, frequency_cap, messaging_tier)."""
    changes = policies.parse_changes(body)
    policy = await repo.send_policy(session, project_id)
    if policy is None:
        policy = SendPolicy(project_id=project_id)
        session.add(policy)
    for column, value in changes.items():
        setattr(policy, column, value)
    now = policy.updated_at = utcnow()
    await session.flush()
    if "quiet_start" in changes:
        await rehold_quiet_held(session, policy, now)
    return policy


async def rehold_quiet_held(session: AsyncSession, policy: SendPolicy, now: datetime) -> int:
    """Messages already held by quiet hours follow the window as it is now: released when
    `now` is outside it (or quiet hours are off), else held until its new end."""
    project = await repo.project(session, policy.project_id)
    zone = segments.project_zone(project.timezone)
    until = policies.quiet_until(policy, zone, now)
    reason = policies.quiet_reason(until, zone, project.timezone) if until else None
    return await repo.rehold_quiet_held(session, policy.project_id, policies.QUIET_REASON_PREFIX, until, reason, now)


async def policy_view(session: AsyncSession, project_id: uuid.UUID, policy: SendPolicy | None) -> dict[str, Any]:
    return presenter.policy_out(policy, await repo.project(session, project_id))
