"""The segment filter language: parsed and checked without I/O, compiled to one WHERE clause.

A filter is `{"match": "all" | "any", "conditions": [...]}`; each condition is one of

    {"field": "tags", "op": "any" | "all" | "none", "value": ["vip", "customer"]}
    {"field": "source", "op": "equals" | "not_equals" | "is_set" | "not_set", "value": "Facebook forms"}
    {"field": "source", "op": "in", "value": ["Facebook forms", "Website"]}
    {"field": "attribute", "name": "city", "op": "equals" | "contains" | "is_set" | "not_set", "value": "Pune"}
    {"field": "created", "op": "between", "value": {"from": "2026-11-01", "to": "2026-11-30"}}
    {"field": "campaign", "campaign": "<name or id>", "op": "received", "status": ["read"]}
    {"field": "campaign", "campaign": "<name or id>", "op": "not_received"}
    {"field": "campaign", "campaign": "<name or id>", "op": "clicked" | "not_clicked"}
    {"field": "campaign", "campaign": "<name or id>", "op": "converted" | "not_converted", "goal": ["purchase"]}

`status` is the contact's LAST outcome in that campaign: sent, delivered, read, failed or
replied (a reply outranks read). `clicked` is a counted tap on one of the campaign's tracked
links; `converted` a conversion attributed to the campaign (of one of the goals, when `goal`
is given); `not_clicked` and `not_converted` are of the contacts who got the campaign. "Clicked but did not buy" is `{"match": "all"}` of `clicked` and `not_converted`. Dates without a time are days in the project's time zone;
`to` is inclusive of that whole day.

Campaign conditions need campaigns, a floor above contacts: the `CampaignOutcomes` protocol
says what the filter needs of them, and campaigns/outcomes.py provides it.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, func, not_, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts.repository_segments import has_tag
from wacast.kit import text
from wacast.kit.errors import WacastError
from wacast.models.contacts import Contact

OUTCOMES = ("queued", "sent", "delivered", "read", "failed", "replied")
CAMPAIGN_OPS = ("received", "not_received", "clicked", "not_clicked", "converted", "not_converted")
GOAL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")  # a conversion goal's name (links/tracking.py, the same rule)
MAX_CONDITIONS = 50
MAX_VALUES = 100


class CampaignOutcomes(Protocol):
    """What segments need to know of campaigns (implemented in campaigns/outcomes.py)."""

    async def campaign_id(self, session: AsyncSession, project_id: uuid.UUID, ref: str) -> uuid.UUID | None:
        """The id of the project's campaign named `ref` (or with id `ref`), or None."""

    def received(self, campaign_id: uuid.UUID) -> ColumnElement[bool]:
        """Over `contacts`: the contact got a message of the campaign."""

    def last_outcome_in(self, campaign_id: uuid.UUID, outcomes: list[str]) -> ColumnElement[bool]:
        """Over `contacts`: the contact's last outcome in the campaign is one of `outcomes`."""

    async def unfinished_campaign_using(self, session: AsyncSession, segment_id: uuid.UUID) -> str | None:
        """The name of a broadcast that uses the segment and is not finished, or None."""

    def clicked(self, campaign_id: uuid.UUID) -> ColumnElement[bool]:
        """Over `contacts`: the contact tapped a tracked link of the campaign (a counted click)."""

    def converted(self, campaign_id: uuid.UUID, goals: list[str] | None) -> ColumnElement[bool]:
        """Over `contacts`: a conversion of the contact (of one of `goals`, when given) is attributed to the campaign."""


def bad(message: str, path: str, **details: Any) -> WacastError:
    return WacastError(message, "SEGMENT_FILTER_INVALID", {"field": path, **details})


# The keys each part of a filter may have: anything else is refused, never ignored (an
# "exclude" a later version might add must not be dropped silently and widen the audience).
FILTER_KEYS = {"match", "conditions"}
CONDITION_KEYS = {
    "tags": {"field", "op", "value"}, "source": {"field", "op", "value"}, "attribute": {"field", "name", "op", "value"},
    "created": {"field", "op", "value"}, "campaign": {"field", "campaign", "op", "status", "goal"},
}
BETWEEN_KEYS = {"from", "to"}


def only_keys(value: dict[str, Any], allowed: set[str], path: str) -> None:
    """422 VALIDATION_ERROR naming the keys of `value` that are not `allowed` (as REST bodies do)."""
    unknown = sorted(f"{path}.{key}" for key in value if key not in allowed)
    if unknown:
        raise WacastError(
            f"Unknown field(s): {', '.join(unknown)}", "VALIDATION_ERROR",
            {"fields": unknown, "allowed": sorted(allowed)}, status_code=422,
        )


def checked_text(value: Any, path: str, max_len: int = 500) -> str:
    """A non-empty single-line text under the base rule (kit/text.py), stripped."""
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{path} must be a non-empty string", path)
    if len(value) > max_len:
        raise bad(f"{path} is too long or invalid (at most {max_len} characters)", path)
    return text.check(path, value, max_len=max_len).strip()


def _texts(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise bad(f"{path} must be a non-empty list of strings", path)
    if len(value) > MAX_VALUES:
        raise bad(f"{path} has too many values (at most {MAX_VALUES})", path)
    return list(dict.fromkeys(checked_text(v, f"{path}[{i}]") for i, v in enumerate(value)))


def project_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_when(value: Any, path: str, zone: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    """An ISO date (a day in the project's zone) or datetime (naive = project's zone) -> UTC."""
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{path} must be an ISO date or date-time", path)
    stripped = value.strip()
    try:
        if len(stripped) == 10:
            day = date.fromisoformat(stripped)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time(), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise bad(f"{path} must be an ISO date (2026-11-30) or date-time (2026-11-30T10:00)", path) from None
    return moment.astimezone(ZoneInfo("UTC"))


# --- parsing (no I/O) ------------------------------------------------------------------------


def parse(raw: Any, zone: ZoneInfo) -> dict[str, Any]:
    """Check a filter's shape and normalize it. Campaign conditions keep their reference
    (`campaign`) and tag names are not looked up yet: `segments.normalize` resolves both."""
    if not isinstance(raw, dict):
        raise bad("filter must be an object: {\"match\": \"all\", \"conditions\": [...]}", "filter")
    only_keys(raw, FILTER_KEYS, "filter")
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        raise bad("filter.match must be \"all\" or \"any\"", "filter.match")
    conditions = raw.get("conditions", [])
    if not isinstance(conditions, list):
        raise bad("filter.conditions must be a list", "filter.conditions")
    if len(conditions) > MAX_CONDITIONS:
        raise bad(f"filter.conditions has too many items (at most {MAX_CONDITIONS})", "filter.conditions")
    return {"match": match, "conditions": [_condition(c, f"filter.conditions[{i}]", zone) for i, c in enumerate(conditions)]}


def _condition(c: Any, path: str, zone: ZoneInfo) -> dict[str, Any]:
    if not isinstance(c, dict):
        raise bad(f"{path} must be an object", path)
    kind = c.get("field")
    op = c.get("op")
    if isinstance(kind, str) and kind in CONDITION_KEYS:
        only_keys(c, CONDITION_KEYS[kind], path)
    if kind == "tags":
        if op not in ("any", "all", "none"):
            raise bad(f"{path}.op must be any, all or none", f"{path}.op")
        return {"field": "tags", "op": op, "value": _texts(c.get("value"), f"{path}.value")}
    if kind == "source":
        if op in ("equals", "not_equals"):
            return {"field": "source", "op": op, "value": checked_text(c.get("value"), f"{path}.value", 200)}
        if op == "in":
            return {"field": "source", "op": op, "value": _texts(c.get("value"), f"{path}.value")}
        if op in ("is_set", "not_set"):
            return {"field": "source", "op": op}
        raise bad(f"{path}.op must be equals, not_equals, in, is_set or not_set", f"{path}.op")
    if kind == "attribute":
        name = checked_text(c.get("name"), f"{path}.name", 100)
        if op in ("equals", "contains"):
            return {"field": "attribute", "name": name, "op": op, "value": checked_text(c.get("value"), f"{path}.value")}
        if op in ("is_set", "not_set"):
            return {"field": "attribute", "name": name, "op": op}
        raise bad(f"{path}.op must be equals, contains, is_set or not_set", f"{path}.op")
    if kind == "created":
        value = c.get("value")
        if op != "between" or not isinstance(value, dict) or not (value.get("from") or value.get("to")):
            raise bad(f"{path} must be {{\"op\": \"between\", \"value\": {{\"from\": date, \"to\": date}}}}", path)
        only_keys(value, BETWEEN_KEYS, f"{path}.value")
        out: dict[str, Any] = {"field": "created", "op": "between", "value": {}}
        if value.get("from"):
            out["value"]["from"] = parse_when(value["from"], f"{path}.value.from", zone).isoformat()
        if value.get("to"):
            out["value"]["to"] = parse_when(value["to"], f"{path}.value.to", zone, end_of_day=True).isoformat()
        return out
    if kind == "campaign":
        ref = checked_text(c.get("campaign"), f"{path}.campaign", 200)
        if op not in CAMPAIGN_OPS:
            raise bad(f"{path}.op must be {', '.join(CAMPAIGN_OPS[:-1])} or {CAMPAIGN_OPS[-1]}", f"{path}.op")
        out = {"field": "campaign", "campaign": ref, "op": op}
        if c.get("status") is not None and op not in ("received", "not_received"):
            raise bad(f"{path}.status goes only with op received", f"{path}.status")
        if c.get("goal") is not None:
            if op not in ("converted", "not_converted"):
                raise bad(f"{path}.goal goes only with op converted or not_converted", f"{path}.goal")
            goals = [g.lower() for g in _texts(c.get("goal"), f"{path}.goal")]
            wrong = [g for g in goals if not GOAL.match(g)]
            if wrong:
                raise bad(f"{path}.goal must be goal names of lower-case letters, digits, '_', '.' or '-'", f"{path}.goal", given=wrong)
            out["goal"] = list(dict.fromkeys(goals))
        if op == "received" and c.get("status") is not None:
            statuses = [s.lower() for s in _texts(c.get("status"), f"{path}.status")]
            wrong = [s for s in statuses if s not in OUTCOMES]
            if wrong:
                raise bad(f"{path}.status must be among {', '.join(OUTCOMES)}", f"{path}.status", given=wrong)
            out["status"] = statuses
        return out
    raise bad(f"{path}.field must be tags, source, attribute, created or campaign", f"{path}.field")


def tag_names(flt: dict[str, Any]) -> list[str]:
    """Every tag name a parsed filter mentions, once."""
    return list(dict.fromkeys(n for c in flt["conditions"] if c["field"] == "tags" for n in c["value"]))


def with_campaign_ids(flt: dict[str, Any], ids: dict[str, uuid.UUID]) -> dict[str, Any]:
    """The stored form: each campaign reference replaced by the campaign's id, so that a
    segment keeps meaning the same thing when a campaign is renamed."""
    conditions = []
    for c in flt["conditions"]:
        if c["field"] == "campaign" and "campaign" in c:
            c = {"field": "campaign", "campaign_id": str(ids[c["campaign"]]), **{k: v for k, v in c.items() if k not in ("field", "campaign")}}
        conditions.append(c)
    return {"match": flt["match"], "conditions": conditions}


# --- the compiler ------------------------------------------------------------------------


def _compile_condition(c: dict[str, Any], outcomes: CampaignOutcomes | None) -> ColumnElement[bool]:
    kind, op = c["field"], c["op"]
    if kind == "tags":
        names = c["value"]
        if op == "any":
            return has_tag(names)
        if op == "none":
            return not_(has_tag(names))
        return and_(*(has_tag([n]) for n in names))
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
        value = Contact.attributes[c["name"]].as_string()
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
        if outcomes is None:
            raise RuntimeError("a campaign condition needs CampaignOutcomes (campaigns/outcomes.py; segments.provide_outcomes)")
        campaign_id = uuid.UUID(c["campaign_id"])
        if op == "not_received":
            return not_(outcomes.received(campaign_id))
        if op == "clicked":
            return outcomes.clicked(campaign_id)
        if op == "not_clicked":  # got the campaign and did not tap
            return and_(outcomes.received(campaign_id), not_(outcomes.clicked(campaign_id)))
        if op == "converted":
            return outcomes.converted(campaign_id, c.get("goal"))
        if op == "not_converted":  # got the campaign and no conversion (of those goals) is attributed to it
            return and_(outcomes.received(campaign_id), not_(outcomes.converted(campaign_id, c.get("goal"))))
        if c.get("status"):
            return outcomes.last_outcome_in(campaign_id, c["status"])
        return outcomes.received(campaign_id)
    raise ValueError(f"unknown condition {kind}")


def compile_filter(flt: dict[str, Any], outcomes: CampaignOutcomes | None = None) -> ColumnElement[bool]:
    """The WHERE clause (over `contacts`) of a normalized filter."""
    parts = [_compile_condition(c, outcomes) for c in flt.get("conditions", [])]
    if not parts:
        return true()
    return and_(*parts) if flt.get("match", "all") == "all" else or_(*parts)


def sendable() -> ColumnElement[bool]:
    """Never send to opted-out or blocked contacts, whatever the segment says."""
    return and_(Contact.opted_in.is_(True), Contact.blocked.is_(False))


def members(project_id: uuid.UUID, flt: dict[str, Any], outcomes: CampaignOutcomes | None = None) -> ColumnElement[bool]:
    return and_(Contact.project_id == project_id, compile_filter(flt, outcomes))
