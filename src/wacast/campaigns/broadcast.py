"""Broadcast campaigns: one template to a segment (or an uploaded CSV), now or on a schedule.

The engine walks the audience in keyset batches (contacts by id, or CSV rows by position).
Each batch is ONE transaction that queues the batch's messages in the outbox AND moves the
checkpoint on the campaign row, so a crash or restart resumes exactly where it stopped; a
unique (broadcast_id, contact_id) index makes a second queueing of a contact impossible.

Pause, resume and cancel are status changes (queued messages are held or removed); the
dispatcher sends broadcast messages with a higher priority number than API-campaign messages,
so transactional sends overtake a running broadcast on the same number.

Driven only by the database: `BroadcastEngine.run()` runs next to the dispatcher in
`wacast serve` (embedded) and in every `wacast worker`. Several engines share the work
safely: a campaign is fanned out by the holder of its lease (`lease_holder`/`lease_until`),
and each batch re-checks the lease and status on the (locked) campaign row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time as monotonic
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.templates.request import CampaignRequest, Location, Media, parse_location, parse_media
from wacast.templates.components import build_components
from wacast.models.broadcasts import BroadcastRecipient, SendPolicy
from wacast.models.campaigns import Campaign
from wacast.contacts import segments
from wacast.models.contacts import Contact
from wacast.db.dialect import is_postgres
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.models.messages import Message, MessageEvent, MessageStatus
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates.params import TemplateNeeds, analyze
from wacast.meta.errors import ErrorClass, classify
from wacast.templates import service as templates

log = logging.getLogger("wacast.broadcasts")

# API-campaign (transactional) messages have priority 0; lower goes first.
BROADCAST_PRIORITY = 10
PAUSED_REASON = "campaign paused"
TIERS = (250, 2_000, 10_000, 100_000)
SENDING_STATUSES = ("scheduled", "running", "paused")
FAR_FUTURE = timedelta(days=3650)


class BroadcastStatus:
    scheduled = "scheduled"
    running = "running"
    paused = "paused"
    cancelled = "cancelled"
    completed = "completed"


# --- the parameter mapping ------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where one value comes from: a contact field/attribute (with a fallback) or fixed text."""

    attribute: str | None = None
    text: str | None = None
    fallback: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"attribute": self.attribute} if self.attribute else {"text": self.text or ""}
        if self.fallback:
            out["fallback"] = self.fallback
        return out


def parse_source(value: Any, path: str) -> Source:
    """`"$city"` or `{"attribute": "city", "fallback": "there"}` or `"SALE20"` / `{"text": ...}`."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("$") and len(value) > 1:
            return Source(attribute=value[1:])
        if not value:
            raise WacastError(f"{path} is empty", "PARAM_EMPTY", {"field": path})
        return Source(text=value)
    if isinstance(value, dict):
        fallback = value.get("fallback")
        if fallback is not None and (not isinstance(fallback, str) or len(fallback) > 1024):
            raise WacastError(f"{path}.fallback must be a string", "FIELD_INVALID", {"field": f"{path}.fallback"})
        if isinstance(value.get("attribute"), str) and value["attribute"].strip():
            return Source(attribute=value["attribute"].strip().lstrip("$"), fallback=fallback or None)
        if isinstance(value.get("text"), str) and value["text"].strip():
            return Source(text=value["text"])
    raise WacastError(
        f"{path} must be \"$attribute\", fixed text, {{\"attribute\": name, \"fallback\": text}} or {{\"text\": text}}",
        "FIELD_INVALID",
        {"field": path},
    )


def resolve(source: Source, contact: Any, values: dict[str, str]) -> str | None:
    if source.text is not None:
        return source.text
    name = source.attribute or ""
    lowered = name.lower()
    found: Any = None
    for bag in (values, contact.attributes or {}):
        if name in bag and str(bag[name]).strip():
            found = bag[name]
            break
        match = next((v for k, v in bag.items() if k.lower() == lowered and str(v).strip()), None)
        if match is not None:
            found = match
            break
    if found is None:
        if lowered in ("name", "username") and contact.name:
            found = contact.name
        elif lowered == "firstname" and contact.name and contact.name.strip():
            found = contact.name.split()[0]
        elif lowered == "phone":
            found = contact.phone
    if found is None or not str(found).strip():
        return source.fallback
    return str(found)


@dataclass
class Plan:
    """A broadcast's parsed settings: what each parameter, button, media and location is."""

    params: list[Source]
    buttons: dict[int, Source]
    media: Media | None
    location: Location | None

    def to_json(self) -> dict[str, Any]:
        return {
            "params": [p.as_dict() for p in self.params],
            "buttons": {str(k): v.as_dict() for k, v in self.buttons.items()},
            "media": {"url": self.media.url, "filename": self.media.filename} if self.media else None,
            "location": self.location.__dict__ if self.location else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        media = data.get("media")
        location = data.get("location")
        return cls(
            params=[Source(**p) for p in data.get("params", [])],
            buttons={int(k): Source(**v) for k, v in (data.get("buttons") or {}).items()},
            media=Media(**media) if media else None,
            location=Location(**location) if location else None,
        )


def parse_plan(needs: TemplateNeeds, body: dict[str, Any]) -> Plan:
    if needs.cards:
        raise WacastError("Carousel templates cannot be broadcast yet; use the campaign API", "TEMPLATE_NOT_SUPPORTED", {"field": "template"})
    names = needs.text_params
    raw = body.get("params", [])
    if raw is None:
        raw = []
    if isinstance(raw, dict):
        unknown = [k for k in raw if k not in names]
        if unknown:
            raise WacastError(f"params has names the template does not use: {', '.join(unknown)}", "PARAM_UNKNOWN", {"field": "params", "expected": list(names), "unknown": unknown})
        missing = [n for n in names if n not in raw]
        if missing:
            raise WacastError(f"params misses {', '.join(missing)}", "TEMPLATE_PARAMS_MISMATCH", {"field": "params", "expected": list(names), "missing": missing})
        params = [parse_source(raw[n], f"params.{n}") for n in names]
    elif isinstance(raw, list):
        if len(raw) != len(names):
            raise WacastError(
                "Template params does not match the campaign", "TEMPLATE_PARAMS_MISMATCH",
                {"field": "params", "expected": len(names), "given": len(raw), "names": list(names)},
            )
        params = [parse_source(v, f"params[{i}]") for i, v in enumerate(raw)]
    else:
        raise WacastError("params must be a list (in order) or an object (by name)", "FIELD_INVALID", {"field": "params"})
    buttons_raw = body.get("buttons") or {}
    if not isinstance(buttons_raw, dict):
        raise WacastError("buttons must be an object {index: value}", "FIELD_INVALID", {"field": "buttons"})
    buttons: dict[int, Source] = {}
    by_index = {b.index: b for b in needs.buttons}
    for key, value in buttons_raw.items():
        if not str(key).isdigit() or int(key) not in by_index:
            raise WacastError(f"buttons.{key}: the template has no button there that takes a value", "FIELD_INVALID", {"field": f"buttons.{key}"})
        buttons[int(key)] = parse_source(value, f"buttons.{key}")
    for need in needs.buttons:
        if need.needs_param and need.index not in buttons:
            raise WacastError(
                f"Button at index {need.index} of type {need.type.capitalize()} requires a parameter",
                "BUTTON_PARAM_MISSING", {"field": f"buttons.{need.index}", "type": need.type},
            )
    media = parse_media(body.get("media") if isinstance(body.get("media"), dict) else None)
    if body.get("media") is not None and not isinstance(body.get("media"), dict):
        raise WacastError("media must be an object {url, filename}", "FIELD_INVALID", {"field": "media"})
    if needs.needs_media and (media is None or not media.url):
        raise WacastError("Media URL Missing", "MEDIA_URL_MISSING", {"field": "media.url", "header": needs.header_format})
    location_raw = body.get("location")
    if location_raw is not None and not isinstance(location_raw, dict):
        raise WacastError("location must be an object", "FIELD_INVALID", {"field": "location"})
    location = parse_location(location_raw)
    if needs.needs_location and location is None:
        raise WacastError("Location Missing", "LOCATION_MISSING", {"field": "location"})
    return Plan(params, buttons, media if needs.needs_media else None, location if needs.needs_location else None)


def components_for(needs: TemplateNeeds, plan: Plan, contact: Any, values: dict[str, str]) -> list[dict[str, Any]]:
    """Meta's components for one contact. Raises WacastError when a value is missing."""
    params = []
    for i, source in enumerate(plan.params):
        value = resolve(source, contact, values)
        if value is None:
            raise WacastError(f"no value for {{{{{needs.text_params[i]}}}}} (${source.attribute})", "PARAM_UNRESOLVED")
        params.append(value)
    buttons = []
    for index, source in plan.buttons.items():
        value = resolve(source, contact, values)
        if value is None:
            raise WacastError(f"no value for button {index} (${source.attribute})", "PARAM_UNRESOLVED")
        buttons.append({"index": index, "parameters": [{"type": "text", "text": value, "payload": value, "coupon_code": value}]})
    request = CampaignRequest(
        api_key="", campaign_name="", destination=contact.phone, user_name=contact.name or "",
        media=plan.media, template_params=params, location=plan.location, buttons=buttons,
    )
    return build_components(needs, request, contact.name or "", {})


# --- policy: quiet hours, frequency cap, tier ---------------------------------------------


def _hhmm(value: Any, path: str) -> str:
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        raise WacastError(f"{path} must be a time HH:MM", "FIELD_INVALID", {"field": path}) from None
    return parsed.strftime("%H:%M")


def quiet_until(policy: SendPolicy | None, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The end of the quiet window when `now` is inside it, else None."""
    if policy is None or not policy.quiet_start or not policy.quiet_end or policy.quiet_start == policy.quiet_end:
        return None
    local = now.astimezone(zone)
    start, end = time.fromisoformat(policy.quiet_start), time.fromisoformat(policy.quiet_end)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_local = datetime.combine(local.date(), end, tzinfo=zone)
    if end_local <= local:
        end_local = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return end_local.astimezone(now.tzinfo)


async def get_policy(session: AsyncSession, project_id: uuid.UUID) -> SendPolicy | None:
    return await session.get(SendPolicy, project_id)


def policy_out(policy: SendPolicy | None, project: Project) -> dict[str, Any]:
    return {
        "timezone": project.timezone,
        "quiet_hours": {"start": policy.quiet_start, "end": policy.quiet_end} if policy and policy.quiet_start else None,
        "frequency_cap": {"messages": policy.frequency_cap_count, "days": policy.frequency_cap_days} if policy and policy.frequency_cap_count else None,
        "messaging_tier": (policy.messaging_tier if policy else None) or "unlimited",
    }


async def set_policy(session: AsyncSession, project_id: uuid.UUID, body: Any) -> SendPolicy:
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    policy = await get_policy(session, project_id)
    if policy is None:
        policy = SendPolicy(project_id=project_id)
        session.add(policy)
    if "quiet_hours" in body:
        quiet = body["quiet_hours"]
        if quiet is None:
            policy.quiet_start = policy.quiet_end = None
        elif isinstance(quiet, dict) and quiet.get("start") and quiet.get("end"):
            policy.quiet_start = _hhmm(quiet["start"], "quiet_hours.start")
            policy.quiet_end = _hhmm(quiet["end"], "quiet_hours.end")
        else:
            raise WacastError("quiet_hours must be {\"start\": \"21:00\", \"end\": \"09:00\"} or null", "FIELD_INVALID", {"field": "quiet_hours"})
    if "frequency_cap" in body:
        cap = body["frequency_cap"]
        if cap is None:
            policy.frequency_cap_count = policy.frequency_cap_days = None
        elif (
            isinstance(cap, dict) and isinstance(cap.get("messages"), int) and isinstance(cap.get("days"), int)
            and not isinstance(cap.get("messages"), bool) and 1 <= cap["messages"] <= 1000 and 1 <= cap["days"] <= 365
        ):
            policy.frequency_cap_count, policy.frequency_cap_days = cap["messages"], cap["days"]
        else:
            raise WacastError("frequency_cap must be {\"messages\": 1-1000, \"days\": 1-365} or null", "FIELD_INVALID", {"field": "frequency_cap"})
    if "messaging_tier" in body:
        tier = body["messaging_tier"]
        if tier in (None, "unlimited"):
            policy.messaging_tier = None
        elif tier in TIERS and not isinstance(tier, bool):
            policy.messaging_tier = tier
        else:
            raise WacastError("messaging_tier must be 250, 2000, 10000, 100000 or \"unlimited\"", "FIELD_INVALID", {"field": "messaging_tier", "allowed": [*TIERS, "unlimited"]})
    policy.updated_at = utcnow()
    await session.flush()
    return policy


# --- creating and controlling ----------------------------------------------------------------


def parse_send_at(value: Any, zone: ZoneInfo, now: datetime) -> datetime | None:
    if value in (None, "", "now"):
        return None
    if not isinstance(value, str):
        raise WacastError("send_at must be an ISO date-time (project time zone when it has no offset)", "FIELD_INVALID", {"field": "send_at"})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WacastError("send_at must be an ISO date-time, e.g. 2026-11-28T10:00", "FIELD_INVALID", {"field": "send_at"}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    moment = moment.astimezone(now.tzinfo)
    if moment < now - timedelta(minutes=1):
        raise WacastError("send_at is in the past", "SEND_AT_IN_PAST", {"field": "send_at", "now": now.isoformat()})
    return moment


def _fraction(value: Any, path: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise WacastError(f"{path} must be a number above 0 and at most 1", "FIELD_INVALID", {"field": path})
    return float(value)


def _count(value: Any, path: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise WacastError(f"{path} must be a whole number from {low} to {high}", "FIELD_INVALID", {"field": path})
    return value


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


async def prepare(session: AsyncSession, project_id: uuid.UUID, body: Any, *, csv_audience: bool, defaults: Any) -> Draft:
    """Validate a create request (everything but the media URL, which the caller checks)."""

    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    if "\\u0000" in json.dumps(body, default=str):
        raise WacastError("Text must not contain NUL characters", "FIELD_INVALID", {"field": "body"})
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        raise WacastError("name is required (at most 200 characters)", "FIELD_REQUIRED", {"field": "name"})
    name = name.strip()
    if (await session.execute(select(Campaign.id).where(Campaign.project_id == project_id, Campaign.name == name))).first():
        raise Conflict(f"Campaign {name!r} already exists in this project", "CAMPAIGN_EXISTS", {"name": name})
    template_name = body.get("template")
    if not isinstance(template_name, str) or not template_name.strip():
        raise WacastError("template is required (the template's name)", "FIELD_REQUIRED", {"field": "template"})
    language = body.get("language")
    if language is not None and not isinstance(language, str):
        raise WacastError("language must be a string", "FIELD_INVALID", {"field": "language"})
    template = await templates.find(session, project_id, template_name.strip(), language)
    if template.status != "APPROVED":
        raise WacastError(
            f"Template {template.name} is {template.status}, not APPROVED", "TEMPLATE_NOT_APPROVED",
            {"field": "template", "template_status": template.status},
        )
    needs = analyze(template.components, template.parameter_format)
    plan = parse_plan(needs, body)
    segment = None
    if csv_audience:
        if body.get("segment"):
            raise WacastError("Give either a segment or an uploaded CSV, not both", "FIELD_INVALID", {"field": "segment"})
    else:
        ref = body.get("segment") or body.get("segment_id")
        if not isinstance(ref, str) or not ref.strip():
            raise WacastError("segment is required (a segment id or name), or upload a CSV", "FIELD_REQUIRED", {"field": "segment"})
        segment = await segments.get(session, project_id, ref.strip())
    project = await session.get(Project, project_id)
    send_at = parse_send_at(body.get("send_at"), segments.project_zone(project.timezone), utcnow())
    settings = {
        "failure_threshold": _fraction(body.get("failure_threshold"), "failure_threshold", defaults.broadcast_failure_threshold),
        "failure_window": _count(body.get("failure_window"), "failure_window", defaults.broadcast_failure_window, 5, 10_000),
    }
    return Draft(name, template, needs, plan, send_at, segment, settings)


async def create(session: AsyncSession, project_id: uuid.UUID, draft: Draft, csv_rows: list[tuple[uuid.UUID, dict]] | None = None) -> Campaign:
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
        rows = [{"campaign_id": campaign.id, "position": i, "contact_id": cid, "values": values} for i, (cid, values) in enumerate(csv_rows, 1)]
        for start in range(0, len(rows), 1000):
            await session.execute(insert(BroadcastRecipient), rows[start : start + 1000])
    return campaign


async def find(session: AsyncSession, project_id: uuid.UUID, ref: str, *, lock: bool = False) -> Campaign:
    if not ref or "\x00" in str(ref) or len(str(ref)) > 200:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": str(ref)[:200]})
    try:
        as_id = uuid.UUID(str(ref))
    except ValueError:
        as_id = None
    clause = Campaign.name == ref if as_id is None else or_(Campaign.id == as_id, Campaign.name == ref)
    stmt = select(Campaign).where(Campaign.project_id == project_id, clause)
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    campaign = (await session.execute(stmt)).scalars().first()
    if campaign is None:
        raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND", {"campaign": ref})
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
    campaign.status = BroadcastStatus.paused
    campaign.status_reason = reason[:500]
    campaign.updated_at = now
    result = await session.execute(
        update(Message)
        .where(
            Message.broadcast_id == campaign.id, Message.status == MessageStatus.queued,
            or_(Message.locked_until.is_(None), Message.locked_until < now),
        )
        .values(next_attempt_at=now + FAR_FUTURE, held_reason=PAUSED_REASON)
    )
    await session.flush()
    return result.rowcount or 0


async def resume(session: AsyncSession, campaign: Campaign) -> int:
    _require_broadcast(campaign, "resume", (BroadcastStatus.paused,))
    now = utcnow()
    not_started = campaign.started_at is None and campaign.send_at is not None and campaign.send_at > now
    campaign.status = BroadcastStatus.scheduled if not_started else BroadcastStatus.running
    campaign.status_reason = None
    campaign.updated_at = now
    project = await session.get(Project, campaign.project_id)
    until = quiet_until(await get_policy(session, campaign.project_id), segments.project_zone(project.timezone), now)
    result = await session.execute(
        update(Message)
        .where(Message.broadcast_id == campaign.id, Message.status == MessageStatus.queued, Message.held_reason == PAUSED_REASON)
        .values(next_attempt_at=until or now, held_reason=_quiet_reason(until, project) if until else None)
    )
    await session.flush()
    return result.rowcount or 0


async def cancel(session: AsyncSession, campaign: Campaign) -> int:
    """Stop for good: nothing more is queued; queued, unsent messages are withdrawn."""
    _require_broadcast(campaign, "cancel", SENDING_STATUSES)
    now = utcnow()
    ids = select(Message.id).where(
        Message.broadcast_id == campaign.id, Message.status == MessageStatus.queued,
        or_(Message.locked_until.is_(None), Message.locked_until < now),
    )
    await session.execute(delete(MessageEvent).where(MessageEvent.message_id.in_(ids)))
    result = await session.execute(delete(Message).where(Message.id.in_(ids)))
    withdrawn = result.rowcount or 0
    campaign.status = BroadcastStatus.cancelled
    campaign.status_reason = f"cancelled; {withdrawn} queued message(s) withdrawn"
    campaign.finished_at = now
    campaign.updated_at = now
    campaign.queued_count = (campaign.queued_count or 0) - withdrawn
    await session.flush()
    return withdrawn


RETRYABLE = (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer)


async def retry_failed(session: AsyncSession, campaign: Campaign) -> dict[str, int]:
    """Queue again the failures worth retrying (Meta's transient classes); never permanent
    errors, opt-outs, or contacts who opted out or were blocked since."""
    _require_broadcast(campaign, "retry failed messages of", (BroadcastStatus.running, BroadcastStatus.paused, BroadcastStatus.completed))
    now = utcnow()
    rows = (
        await session.execute(
            select(Message.id, Message.error_code, Contact.opted_in, Contact.blocked)
            .join(Contact, Contact.id == Message.contact_id)
            .where(Message.broadcast_id == campaign.id, Message.status == MessageStatus.failed)
        )
    ).all()
    retry_ids = [r.id for r in rows if classify(r.error_code) in RETRYABLE and r.opted_in and not r.blocked]
    paused = campaign.status == BroadcastStatus.paused
    for start in range(0, len(retry_ids), 500):
        chunk = retry_ids[start : start + 500]
        await session.execute(
            update(Message).where(Message.id.in_(chunk), Message.status == MessageStatus.failed).values(
                status=MessageStatus.queued, attempts=0, failed_at=None, locked_until=None, locked_by=None,
                next_attempt_at=now + FAR_FUTURE if paused else now, held_reason=PAUSED_REASON if paused else None,
                error_code=None, error_title=None, error_detail=None,
            )
        )
        await session.execute(insert(MessageEvent), [{"message_id": m, "kind": "retry", "occurred_at": now, "detail": {"reason": "retry-failed"}} for m in chunk])
    if retry_ids and campaign.status == BroadcastStatus.completed:
        campaign.status = BroadcastStatus.running
        campaign.finished_at = None
    campaign.updated_at = now
    await session.flush()
    return {"requeued": len(retry_ids), "not_retryable": len(rows) - len(retry_ids)}


async def progress(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    rows = (
        await session.execute(
            select(Message.status, func.count(), func.count(Message.replied_at))
            .where(Message.campaign_id == campaign.id)
            .group_by(Message.status)
        )
    ).all()
    counts = {s: 0 for s in ("queued", "sent", "delivered", "read", "failed")}
    replied = 0
    for status, n, r in rows:
        counts[status] = counts.get(status, 0) + n
        replied += r
    held = 0
    if counts["queued"]:
        held = (
            await session.execute(
                select(func.count()).where(Message.campaign_id == campaign.id, Message.status == "queued", Message.held_reason.is_not(None))
            )
        ).scalar_one()
    messaged = sum(counts.values())
    total = campaign.total_count if campaign.type == "broadcast" and campaign.total_count is not None else messaged
    skipped = campaign.skipped_count or 0
    done = counts["sent"] + counts["delivered"] + counts["read"] + counts["failed"]
    out = {
        "total": total,
        **counts,
        "replied": replied,
        "held": held,
        "skipped": skipped,
        "skip_reasons": campaign.skip_reasons or {},
        "not_yet_queued": max(0, total - messaged - skipped) if campaign.type == "broadcast" and campaign.status not in ("cancelled", "completed") else 0,
        "percent_done": round(100.0 * (done + skipped) / total, 1) if total else (100.0 if campaign.status == "completed" else 0.0),
    }
    return out


async def describe(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    template = await session.get(Template, campaign.template_id)
    out: dict[str, Any] = {
        "id": str(campaign.id),
        "name": campaign.name,
        "type": campaign.type,
        "status": campaign.status,
        "template": {"name": template.name, "language": template.language, "category": template.category} if template else None,
        "created_at": campaign.created_at.isoformat(),
        "progress": await progress(session, campaign),
    }
    if campaign.type == "broadcast":
        settings = campaign.broadcast or {}
        out.update({
            "status_reason": campaign.status_reason,
            "audience": {"segment_id": str(campaign.segment_id), "segment": settings.get("segment_name")} if campaign.segment_id else {"csv": True},
            "send_at": campaign.send_at.isoformat() if campaign.send_at else None,
            "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
            "fanout_done_at": campaign.fanout_done_at.isoformat() if campaign.fanout_done_at else None,
            "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
            "params": settings.get("plan", {}).get("params"),
            "failure_threshold": settings.get("failure_threshold"),
            "failure_window": settings.get("failure_window"),
        })
    return out


def _quiet_reason(until: datetime | None, project: Project) -> str:
    if until is None:
        return ""
    local = until.astimezone(segments.project_zone(project.timezone))
    return f"quiet hours until {local:%H:%M} {project.timezone}"


# --- the engine ----------------------------------------------------------------------------


@dataclass
class _Context:
    needs: TemplateNeeds
    template: Template
    plan: Plan
    project: Project


@dataclass
class BroadcastEngine:
    db: Any
    settings: Any
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}:bc")
    # Set to wake the engine (a broadcast was created or resumed); `notify` wakes the dispatcher.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    notify: Any = None

    @property
    def batch_size(self) -> int:
        return self.settings.broadcast_batch_size

    async def tick(self, max_batches: int | None = None) -> int:
        """One round: start due schedules, fan out running broadcasts, hold quiet hours,
        auto-pause on failures, finish what is done. Returns work done (0 when idle)."""
        now = utcnow()
        work = 0
        async with self.db.transaction() as session:
            result = await session.execute(
                update(Campaign)
                .where(Campaign.type == "broadcast", Campaign.status == BroadcastStatus.scheduled, Campaign.send_at <= now)
                .values(status=BroadcastStatus.running, updated_at=now)
            )
            work += result.rowcount or 0
            due = (
                await session.execute(
                    select(Campaign.id).where(
                        Campaign.type == "broadcast", Campaign.status == BroadcastStatus.running, Campaign.fanout_done_at.is_(None),
                        or_(Campaign.lease_until.is_(None), Campaign.lease_until < now, Campaign.lease_holder == self.worker_id),
                    )
                )
            ).scalars().all()
            # Idle rounds stay one short transaction: the sweeps below run only when needed.
            running = (
                await session.execute(
                    select(Campaign.id).where(Campaign.type == "broadcast", Campaign.status == BroadcastStatus.running).limit(1)
                )
            ).first() is not None
            quiet = (await session.execute(select(SendPolicy.project_id).where(SendPolicy.quiet_start.is_not(None)).limit(1))).first() is not None
        budget = max_batches if max_batches is not None else self.settings.broadcast_batches_per_tick
        for campaign_id in due:
            if budget <= 0:
                break
            if not await self._take_lease(campaign_id):
                continue
            try:
                while budget > 0:
                    budget -= 1
                    queued = await self.fan_out_batch(campaign_id)
                    if queued is None:
                        break
                    work += 1
            finally:
                await self._release_lease(campaign_id)
        if quiet:
            work += await self.hold_quiet_hours()
        if running:
            work += await self.watch_running()
        return work

    async def _take_lease(self, campaign_id: uuid.UUID) -> bool:
        now = utcnow()
        async with self.db.transaction() as session:
            result = await session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, or_(Campaign.lease_until.is_(None), Campaign.lease_until < now, Campaign.lease_holder == self.worker_id))
                .values(lease_holder=self.worker_id, lease_until=now + timedelta(seconds=self.settings.broadcast_lease_seconds))
            )
            return bool(result.rowcount)

    async def _release_lease(self, campaign_id: uuid.UUID) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                update(Campaign).where(Campaign.id == campaign_id, Campaign.lease_holder == self.worker_id).values(lease_holder=None, lease_until=None)
            )

    async def _context(self, session: AsyncSession, campaign: Campaign) -> _Context:
        template = await session.get(Template, campaign.template_id)
        project = await session.get(Project, campaign.project_id)
        return _Context(analyze(template.components, template.parameter_format), template, Plan.from_json(campaign.broadcast["plan"]), project)

    async def _audience(self, session: AsyncSession, campaign: Campaign, limit: int) -> tuple[list[Any], list[dict], str | None, bool]:
        """The next keyset window of the audience: (matching contacts, their CSV values, the
        new checkpoint, whether the audience is exhausted).

        A window is `limit` contacts in id order, read from the (project_id, id) index; the
        segment's filter is applied inside the window only. Each batch costs O(limit) however
        selective the filter is, and the whole fan-out O(audience)."""
        settings = campaign.broadcast or {}
        columns = (Contact.id, Contact.phone, Contact.name, Contact.attributes)
        if settings.get("audience") == "csv":
            after = int(campaign.checkpoint or 0)
            rows = (
                await session.execute(
                    select(*columns, BroadcastRecipient.values, BroadcastRecipient.position)
                    .join(Contact, Contact.id == BroadcastRecipient.contact_id)
                    .where(BroadcastRecipient.campaign_id == campaign.id, BroadcastRecipient.position > after)
                    .order_by(BroadcastRecipient.position)
                    .limit(limit)
                )
            ).all()
            return rows, [r.values or {} for r in rows], str(rows[-1].position) if rows else campaign.checkpoint, len(rows) < limit
        window = select(Contact.id).where(Contact.project_id == campaign.project_id)
        if campaign.checkpoint:
            window = window.where(Contact.id > uuid.UUID(campaign.checkpoint))
        ids = (await session.execute(window.order_by(Contact.id).limit(limit))).scalars().all()
        if not ids:
            return [], [], campaign.checkpoint, True
        stmt = select(*columns).where(
            segments.members(campaign.project_id, settings.get("filter") or {}), segments.sendable(),
            Contact.id >= ids[0], Contact.id <= ids[-1],
        )
        rows = (await session.execute(stmt.order_by(Contact.id))).all()
        return rows, [{} for _ in rows], str(ids[-1]), len(ids) < limit

    async def fan_out_batch(self, campaign_id: uuid.UUID) -> int | None:
        """Queue one batch and move the checkpoint, in one transaction. None: nothing to do now."""
        now = utcnow()
        async with self.db.transaction() as session:
            stmt = select(Campaign).where(Campaign.id == campaign_id)
            if is_postgres(session):
                stmt = stmt.with_for_update()
            campaign = (await session.execute(stmt)).scalar_one_or_none()
            if (
                campaign is None or campaign.status != BroadcastStatus.running or campaign.fanout_done_at is not None
                or campaign.lease_holder != self.worker_id
            ):
                return None
            ctx = await self._context(session, campaign)
            policy = await get_policy(session, campaign.project_id)
            if campaign.started_at is None:
                campaign.started_at = now
                if (campaign.broadcast or {}).get("filter") is not None:
                    # The audience as it is when sending starts (a schedule may be days old).
                    campaign.total_count = (await segments.count(session, campaign.project_id, campaign.broadcast["filter"]))["sendable"]
            if ctx.template.status != "APPROVED":
                campaign.status_reason = f"waiting: template {ctx.template.name} is {ctx.template.status}"
                return None
            limit = self.batch_size
            if policy is not None and policy.messaging_tier:
                used = (
                    await session.execute(
                        select(func.count(func.distinct(Message.contact_id))).where(
                            Message.project_id == campaign.project_id, Message.created_at >= now - timedelta(hours=24),
                        )
                    )
                ).scalar_one()
                room = policy.messaging_tier - used
                if room <= 0:
                    reason = f"waiting: messaging tier of {policy.messaging_tier} unique contacts per 24 h reached"
                    if campaign.status_reason != reason:
                        campaign.status_reason = reason
                    return None
                # Scan at most `room` contacts: no more than `room` new ones can be queued.
                limit = min(limit, room)
            rows, values, checkpoint, exhausted = await self._audience(session, campaign, limit)
            sendable_ids = set()
            if rows:
                # Opted-out and blocked contacts are never sent to (CSV audiences included).
                sendable_ids = set(
                    (await session.execute(select(Contact.id).where(Contact.id.in_([r.id for r in rows]), segments.sendable()))).scalars()
                )
            capped = await self._capped(session, ctx, policy, [r.id for r in rows], now)
            already = set()
            if rows:
                already = set(
                    (await session.execute(select(Message.contact_id).where(Message.broadcast_id == campaign.id, Message.contact_id.in_([r.id for r in rows])))).scalars()
                )
            until = quiet_until(policy, segments.project_zone(ctx.project.timezone), now)
            held_reason = _quiet_reason(until, ctx.project) if until else None
            messages, events = [], []
            skips: dict[str, int] = dict(campaign.skip_reasons or {})
            skipped = 0
            for row, row_values in zip(rows, values, strict=True):
                reason = None
                if row.id not in sendable_ids:
                    reason = "opted out or blocked"
                elif row.id in already:
                    reason = "already in this broadcast"
                elif row.id in capped:
                    reason = "frequency cap"
                if reason is None:
                    try:
                        components = components_for(ctx.needs, ctx.plan, row, row_values)
                    except WacastError as error:
                        reason = f"{error.code}: {error.message}"[:200]
                if reason is not None:
                    skips[reason] = skips.get(reason, 0) + 1
                    skipped += 1
                    continue
                message_id = uuid.uuid4()
                messages.append({
                    "id": message_id, "project_id": campaign.project_id, "campaign_id": campaign.id, "broadcast_id": campaign.id,
                    "contact_id": row.id, "template_id": ctx.template.id, "destination": row.phone,
                    "payload": {"template": ctx.template.name, "language": ctx.template.language, "category": ctx.template.category, "components": components},
                    "status": MessageStatus.queued, "priority": BROADCAST_PRIORITY, "attempts": 0,
                    "next_attempt_at": until or now, "held_reason": held_reason, "created_at": now,
                })
                events.append({"message_id": message_id, "kind": "queued", "occurred_at": now, "detail": None})
            if messages:
                # Core inserts (not the ORM's bulk path): the hot loop of a large fan-out.
                connection = await session.connection()
                await connection.execute(insert(Message.__table__), messages)
                await connection.execute(insert(MessageEvent.__table__), events)
            campaign.checkpoint = checkpoint
            campaign.queued_count = (campaign.queued_count or 0) + len(messages)
            campaign.skipped_count = (campaign.skipped_count or 0) + skipped
            campaign.skip_reasons = skips
            campaign.updated_at = now
            if exhausted:
                campaign.fanout_done_at = now
                if campaign.status_reason and campaign.status_reason.startswith("waiting"):
                    campaign.status_reason = None
            elif campaign.status_reason and campaign.status_reason.startswith("waiting"):
                campaign.status_reason = None
            campaign.lease_until = now + timedelta(seconds=self.settings.broadcast_lease_seconds)
        if messages and self.notify is not None:
            self.notify()
        return None if exhausted else len(messages)

    async def _capped(self, session: AsyncSession, ctx: _Context, policy: SendPolicy | None, contact_ids: list[uuid.UUID], now: datetime) -> set[uuid.UUID]:
        """Contacts at the frequency cap (marketing messages in the last D days)."""
        if not contact_ids or policy is None or not policy.frequency_cap_count or ctx.template.category != "MARKETING":
            return set()
        rows = await session.execute(
            select(Message.contact_id, func.count())
            .join(Template, Template.id == Message.template_id)
            .where(
                Message.contact_id.in_(contact_ids), Message.created_at >= now - timedelta(days=policy.frequency_cap_days or 1),
                Template.category == "MARKETING", Message.status != MessageStatus.failed,
            )
            .group_by(Message.contact_id)
        )
        return {cid for cid, n in rows.all() if n >= policy.frequency_cap_count}

    async def hold_quiet_hours(self) -> int:
        """During a project's quiet hours, due broadcast messages wait for the window's end."""
        now = utcnow()
        held = 0
        async with self.db.transaction() as session:
            rows = (
                await session.execute(
                    select(SendPolicy, Project).join(Project, Project.id == SendPolicy.project_id).where(SendPolicy.quiet_start.is_not(None))
                )
            ).all()
            for policy, project in rows:
                until = quiet_until(policy, segments.project_zone(project.timezone), now)
                if until is None:
                    continue
                result = await session.execute(
                    update(Message)
                    .where(
                        Message.project_id == project.id, Message.status == MessageStatus.queued, Message.next_attempt_at < until,
                        Message.broadcast_id.is_not(None), or_(Message.locked_until.is_(None), Message.locked_until < now),
                    )
                    .values(next_attempt_at=until, held_reason=_quiet_reason(until, project))
                )
                held += result.rowcount or 0
        return held

    async def watch_running(self) -> int:
        """Auto-pause on a high failure rate; mark finished broadcasts completed."""
        now = utcnow()
        work = 0
        async with self.db.transaction() as session:
            running = (
                await session.execute(select(Campaign).where(Campaign.type == "broadcast", Campaign.status == BroadcastStatus.running))
            ).scalars().all()
            for campaign in running:
                settings = campaign.broadcast or {}
                window = int(settings.get("failure_window") or self.settings.broadcast_failure_window)
                threshold = float(settings.get("failure_threshold") or self.settings.broadcast_failure_threshold)
                finished_at = func.coalesce(Message.failed_at, Message.sent_at)
                recent = (
                    select(Message.status)
                    .where(Message.broadcast_id == campaign.id, Message.status != MessageStatus.queued)
                    .order_by(finished_at.desc())
                    .limit(window)
                    .subquery()
                )
                total, failed = (
                    await session.execute(select(func.count(), func.coalesce(func.sum(case((recent.c.status == "failed", 1), else_=0)), 0)).select_from(recent))
                ).one()
                if total >= window and failed / total >= threshold:
                    await pause(session, campaign, f"auto-paused: {failed} of the last {total} sends failed (threshold {threshold:.0%})")
                    log.warning("broadcast %s auto-paused: %s/%s failed", campaign.name, failed, total)
                    work += 1
                    continue
                if campaign.fanout_done_at is not None:
                    queued = (
                        await session.execute(
                            select(Message.id).where(Message.broadcast_id == campaign.id, Message.status == MessageStatus.queued).limit(1)
                        )
                    ).first()
                    if queued is None:
                        campaign.status = BroadcastStatus.completed
                        campaign.finished_at = now
                        campaign.updated_at = now
                        work += 1
        return work

    async def run(self, stop: asyncio.Event) -> None:
        log.info("broadcast engine %s started", self.worker_id)
        while not stop.is_set():
            try:
                work = await self.tick()
            except Exception:
                log.exception("broadcast round failed; retrying")
                work = 0
            if work == 0:
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=self.settings.broadcast_poll_seconds)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(0)

    async def run_until_fanned_out(self, timeout: float = 60.0) -> None:
        """Tick until no running broadcast has contacts left to queue (tests, one-shot runs)."""
        deadline = monotonic.monotonic() + timeout
        while monotonic.monotonic() < deadline:
            await self.tick()
            async with self.db.sessionmaker() as session:
                left = (
                    await session.execute(
                        select(Campaign.id).where(Campaign.type == "broadcast", Campaign.status == BroadcastStatus.running, Campaign.fanout_done_at.is_(None)).limit(1)
                    )
                ).first()
            if left is None:
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("broadcasts did not finish fanning out")

