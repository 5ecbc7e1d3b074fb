"""Segments: saved filters over a project's contacts, compiled to one SQL WHERE clause.

A filter is `{"match": "all" | "any", "conditions": [...]}`; each condition is one of

    {"field": "tags", "op": "any" | "all" | "none", "value": ["vip", "customer"]}
    {"field": "source", "op": "equals" | "not_equals" | "is_set" | "not_set", "value": "Facebook forms"}
    {"field": "source", "op": "in", "value": ["Facebook forms", "Website"]}
    {"field": "attribute", "name": "city", "op": "equals" | "contains" | "is_set" | "not_set", "value": "Pune"}
    {"field": "created", "op": "between", "value": {"from": "2026-11-01", "to": "2026-11-30"}}
    {"field": "campaign", "campaign": "<name or id>", "op": "received", "status": ["read"]}
    {"field": "campaign", "campaign": "<name or id>", "op": "not_received"}

`status` is the contact's LAST outcome in that campaign: sent, delivered, read, failed or
replied (a reply outranks read). Dates without a time are days in the project's time zone;
`to` is inclusive of that whole day. Opted-out and blocked contacts can match a segment (its
count shows them apart) but are always left out of sends (`sendable()`).

The filter is validated and normalized on save (tag names checked, campaign names turned
into ids), so a segment keeps meaning the same thing if a campaign is renamed.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.campaigns import Campaign
from wacast.models.contacts import AttributeDefinition, Contact, ContactTag, Tag
from wacast.models.segments import Segment
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.models.messages import Message
from wacast.models.projects import Project


OUTCOMES = ("queued", "sent", "delivered", "read", "failed", "replied")
MAX_CONDITIONS = 50
MAX_VALUES = 100


def _bad(message: str, path: str, **details: Any) -> WacastError:
    return WacastError(message, "SEGMENT_FILTER_INVALID", {"field": path, **details})


def _text(value: Any, path: str, max_len: int = 500) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{path} must be a non-empty string", path)
    if len(value) > max_len or "\x00" in value:
        raise _bad(f"{path} is too long or invalid (at most {max_len} characters)", path)
    return value.strip()


def _texts(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _bad(f"{path} must be a non-empty list of strings", path)
    if len(value) > MAX_VALUES:
        raise _bad(f"{path} has too many values (at most {MAX_VALUES})", path)
    return list(dict.fromkeys(_text(v, f"{path}[{i}]") for i, v in enumerate(value)))


def project_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_when(value: Any, path: str, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """An ISO date (a day in the project's zone) or datetime (naive = project's zone) -> UTC."""
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{path} must be an ISO date or date-time", path)
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time(), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise _bad(f"{path} must be an ISO date (2026-11-30) or date-time (2026-11-30T10:00)", path) from None
    return moment.astimezone(ZoneInfo("UTC"))


async def normalize(session: AsyncSession, project_id: uuid.UUID, raw: Any) -> dict[str, Any]:
    """Validate a filter; returns the stored form (campaign ids, tag names checked)."""
    if not isinstance(raw, dict):
        raise _bad("filter must be an object: {\"match\": \"all\", \"conditions\": [...]}", "filter")
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        raise _bad("filter.match must be \"all\" or \"any\"", "filter.match")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list):
        raise _bad("filter.conditions must be a list", "filter.conditions")
    if len(conditions) > MAX_CONDITIONS:
        raise _bad(f"filter.conditions has too many items (at most {MAX_CONDITIONS})", "filter.conditions")
    project = await session.get(Project, project_id)
    zone = project_zone(project.timezone if project else None)
    out = []
    for i, condition in enumerate(conditions):
        out.append(await _normalize_condition(session, project_id, condition, f"filter.conditions[{i}]", zone))
    return {"match": match, "conditions": out}


async def _normalize_condition(session: AsyncSession, project_id: uuid.UUID, c: Any, path: str, zone: ZoneInfo) -> dict[str, Any]:
    if not isinstance(c, dict):
        raise _bad(f"{path} must be an object", path)
    kind = c.get("field")
    op = c.get("op")
    if kind == "tags":
        if op not in ("any", "all", "none"):
            raise _bad(f"{path}.op must be any, all or none", f"{path}.op")
        names = _texts(c.get("value"), f"{path}.value")
        known = set(
            (await session.execute(select(Tag.name).where(Tag.project_id == project_id, Tag.name.in_(names)))).scalars()
        )
        unknown = [n for n in names if n not in known]
        if unknown:
            raise WacastError(f"Unknown tag(s): {', '.join(unknown)}", "TAG_NOT_FOUND", {"field": f"{path}.value", "tags": unknown})
        return {"field": "tags", "op": op, "value": names}
    if kind == "source":
        if op in ("equals", "not_equals"):
            return {"field": "source", "op": op, "value": _text(c.get("value"), f"{path}.value", 200)}
        if op == "in":
            return {"field": "source", "op": op, "value": _texts(c.get("value"), f"{path}.value")}
        if op in ("is_set", "not_set"):
            return {"field": "source", "op": op}
        raise _bad(f"{path}.op must be equals, not_equals, in, is_set or not_set", f"{path}.op")
    if kind == "attribute":
        name = _text(c.get("name"), f"{path}.name", 100)
        if op in ("equals", "contains"):
            return {"field": "attribute", "name": name, "op": op, "value": _text(c.get("value"), f"{path}.value")}
        if op in ("is_set", "not_set"):
            return {"field": "attribute", "name": name, "op": op}
        raise _bad(f"{path}.op must be equals, contains, is_set or not_set", f"{path}.op")
    if kind == "created":
        value = c.get("value")
        if op != "between" or not isinstance(value, dict) or not (value.get("from") or value.get("to")):
            raise _bad(f"{path} must be {{\"op\": \"between\", \"value\": {{\"from\": date, \"to\": date}}}}", path)
        out: dict[str, Any] = {"field": "created", "op": "between", "value": {}}
        if value.get("from"):
            out["value"]["from"] = parse_when(value["from"], f"{path}.value.from", zone).isoformat()
        if value.get("to"):
            out["value"]["to"] = parse_when(value["to"], f"{path}.value.to", zone, end_of_day=True).isoformat()
        return out
    if kind == "campaign":
        ref = _text(c.get("campaign"), f"{path}.campaign", 200)
        campaign_id = await _campaign_id(session, project_id, ref)
        if campaign_id is None:
            raise WacastError(f"Campaign {ref!r} does not exist", "CAMPAIGN_NOT_FOUND", {"field": f"{path}.campaign"})
        if op == "not_received":
            return {"field": "campaign", "campaign_id": str(campaign_id), "op": op}
        if op != "received":
            raise _bad(f"{path}.op must be received or not_received", f"{path}.op")
        out = {"field": "campaign", "campaign_id": str(campaign_id), "op": op}
        if c.get("status") is not None:
            statuses = [s.lower() for s in _texts(c.get("status"), f"{path}.status")]
            bad = [s for s in statuses if s not in OUTCOMES]
            if bad:
                raise _bad(f"{path}.status must be among {', '.join(OUTCOMES)}", f"{path}.status", given=bad)
            out["status"] = statuses
        return out
    raise _bad(f"{path}.field must be tags, source, attribute, created or campaign", f"{path}.field")


async def _campaign_id(session: AsyncSession, project_id: uuid.UUID, ref: str) -> uuid.UUID | None:
    try:
        as_id = uuid.UUID(ref)
    except ValueError:
        as_id = None
    clause = Campaign.name == ref if as_id is None else or_(Campaign.id == as_id, Campaign.name == ref)
    row = (await session.execute(select(Campaign.id).where(Campaign.project_id == project_id, clause))).first()
    return row[0] if row else None


# --- the compiler --------------------------------------------------------------------------


def _attr(name: str):  # noqa: ANN202
    return Contact.attributes[name].as_string()


def _has_tag(names: list[str]) -> ColumnElement[bool]:
    return exists(
        select(ContactTag.contact_id)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id == Contact.id, Tag.name.in_(names))
    )


def last_outcome(campaign_id: uuid.UUID):  # noqa: ANN201
    """The contact's last outcome in a campaign: replied, or its message's status."""
    return (
        select(case((Message.replied_at.is_not(None), "replied"), else_=Message.status))
        .where(Message.campaign_id == campaign_id, Message.contact_id == Contact.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )


def _compile_condition(c: dict[str, Any]) -> ColumnElement[bool]:
    kind, op = c["field"], c["op"]
    if kind == "tags":
        names = c["value"]
        if op == "any":
            return _has_tag(names)
        if op == "none":
            return not_(_has_tag(names))
        return and_(*(_has_tag([n]) for n in names))
    if kind == "source":
        if op == "equals":
            return func.lower(Contact.source) == c["value"].lower()
        if op == "not_equals":
            return or_(Contact.source.is_(None), func.lower(Contact.source) != c["value"].lower())
        if op == "in":
            return func.lower(Contact.source).in_([v.lower() for v in c["value"]])
        if op == "is_set":
            return and_(Contact.source.is_not(None), Contact.source != "")
        return or_(Contact.source.is_(None), Contact.source == "")
    if kind == "attribute":
        value = _attr(c["name"])
        if op == "equals":
            return func.lower(value) == c["value"].lower()
        if op == "contains":
            return func.lower(value).contains(c["value"].lower(), autoescape=True)
        if op == "is_set":
            return and_(value.is_not(None), value != "")
        return or_(value.is_(None), value == "")
    if kind == "created":
        parts = []
        if "from" in c["value"]:
            parts.append(Contact.created_at >= datetime.fromisoformat(c["value"]["from"]))
        if "to" in c["value"]:
            parts.append(Contact.created_at < datetime.fromisoformat(c["value"]["to"]))
        return and_(*parts)
    if kind == "campaign":
        campaign_id = uuid.UUID(c["campaign_id"])
        received = exists(select(Message.id).where(Message.campaign_id == campaign_id, Message.contact_id == Contact.id))
        if op == "not_received":
            return not_(received)
        if c.get("status"):
            return last_outcome(campaign_id).in_(c["status"])
        return received
    raise ValueError(f"unknown condition {kind}")


def compile_filter(flt: dict[str, Any]) -> ColumnElement[bool]:
    """The WHERE clause (over `contacts`) of a normalized filter."""
    parts = [_compile_condition(c) for c in flt.get("conditions", [])]
    if not parts:
        return true()
    return and_(*parts) if flt.get("match", "all") == "all" else or_(*parts)


def sendable() -> ColumnElement[bool]:
    """Never send to opted-out or blocked contacts, whatever the segment says."""
    return and_(Contact.opted_in.is_(True), Contact.blocked.is_(False))


def members(project_id: uuid.UUID, flt: dict[str, Any]) -> ColumnElement[bool]:
    return and_(Contact.project_id == project_id, compile_filter(flt))


# --- counting, listing, exporting ------------------------------------------------------------


async def count(session: AsyncSession, project_id: uuid.UUID, flt: dict[str, Any]) -> dict[str, int]:
    where = members(project_id, flt)
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((sendable(), 1), else_=0)), 0),
                func.coalesce(func.sum(case((Contact.opted_in.is_(False), 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(Contact.opted_in.is_(True), Contact.blocked.is_(True)), 1), else_=0)), 0),
            ).select_from(Contact).where(where)
        )
    ).one()
    return {"matching": int(row[0]), "sendable": int(row[1]), "opted_out": int(row[2]), "blocked": int(row[3])}


async def page(
    session: AsyncSession, project_id: uuid.UUID, flt: dict[str, Any], *, after: uuid.UUID | None, limit: int
) -> list[Any]:
    """One keyset page of members, in id order."""
    stmt = select(
        Contact.id, Contact.phone, Contact.name, Contact.source, Contact.opted_in, Contact.blocked,
        Contact.attributes, Contact.created_at,
    ).where(members(project_id, flt))
    if after is not None:
        stmt = stmt.where(Contact.id > after)
    return list((await session.execute(stmt.order_by(Contact.id).limit(limit))).all())


async def tags_of(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    if not contact_ids:
        return {}
    rows = await session.execute(
        select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id).where(ContactTag.contact_id.in_(contact_ids))
    )
    out: dict[uuid.UUID, list[str]] = {}
    for contact_id, name in rows.all():
        out.setdefault(contact_id, []).append(name)
    return out


async def export_csv(db: Any, project_id: uuid.UUID, flt: dict[str, Any], batch: int = 1000) -> AsyncIterator[bytes]:
    """CSV of the members, streamed in keyset batches (never the whole audience in memory)."""
    async with db.sessionmaker() as session:
        attrs = list(
            (await session.execute(select(AttributeDefinition.name).where(AttributeDefinition.project_id == project_id).order_by(AttributeDefinition.name))).scalars()
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["phone", "name", "source", "opted_in", "blocked", "created_at", "tags", *attrs])
    yield buffer.getvalue().encode()
    after = None
    while True:
        async with db.sessionmaker() as session:
            rows = await page(session, project_id, flt, after=after, limit=batch)
            tags = await tags_of(session, [r.id for r in rows])
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for r in rows:
            attributes = r.attributes or {}
            writer.writerow([
                r.phone, r.name, r.source or "", str(bool(r.opted_in)).lower(), str(bool(r.blocked)).lower(),
                r.created_at.isoformat(), ";".join(sorted(tags.get(r.id, []))), *(attributes.get(a, "") for a in attrs),
            ])
        yield buffer.getvalue().encode()
        after = rows[-1].id
        if len(rows) < batch:
            return


# --- saved segments -----------------------------------------------------------------------


async def create(session: AsyncSession, project_id: uuid.UUID, name: Any, raw_filter: Any) -> Segment:
    name = _text(name, "name", 200) if name is not None else ""
    if not name:
        raise WacastError("name is required", "FIELD_REQUIRED", {"field": "name"})
    flt = await normalize(session, project_id, raw_filter)
    if (await session.execute(select(Segment.id).where(Segment.project_id == project_id, Segment.name == name))).first():
        raise Conflict(f"Segment {name!r} already exists in this project", "SEGMENT_EXISTS", {"name": name})
    now = utcnow()
    segment = Segment(id=uuid.uuid4(), project_id=project_id, name=name, filter=flt, created_at=now, updated_at=now)
    session.add(segment)
    await session.flush()
    return segment


async def get(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Segment:
    if not ref or "\x00" in str(ref) or len(str(ref)) > 200:
        raise NotFound("Segment not found", "SEGMENT_NOT_FOUND", {"segment": str(ref)[:200]})
    try:
        as_id = ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref))
    except ValueError:
        as_id = None
    clause = Segment.name == str(ref) if as_id is None else or_(Segment.id == as_id, Segment.name == str(ref))
    segment = (await session.execute(select(Segment).where(Segment.project_id == project_id, clause))).scalars().first()
    if segment is None:
        raise NotFound("Segment not found", "SEGMENT_NOT_FOUND", {"segment": str(ref)})
    return segment


async def list_all(session: AsyncSession, project_id: uuid.UUID) -> list[Segment]:
    return list((await session.execute(select(Segment).where(Segment.project_id == project_id).order_by(Segment.created_at))).scalars())


async def delete(session: AsyncSession, project_id: uuid.UUID, ref: str) -> None:
    segment = await get(session, project_id, ref)
    in_use = (
        await session.execute(
            select(Campaign.name).where(Campaign.segment_id == segment.id, Campaign.status.in_(("scheduled", "running", "paused")))
        )
    ).first()
    if in_use:
        raise Conflict(f"Segment is used by broadcast {in_use[0]!r}, which is not finished", "SEGMENT_IN_USE", {"campaign": in_use[0]})
    await session.delete(segment)
    await session.flush()


def outcome_filter(campaign_id: uuid.UUID, statuses: list[str] | None) -> dict[str, Any]:
    """The filter of a campaign's audience by outcome (the "make a segment" action)."""
    condition: dict[str, Any] = {"field": "campaign", "campaign": str(campaign_id), "op": "received"}
    if statuses:
        condition["status"] = statuses
    return {"match": "all", "conditions": [condition]}

