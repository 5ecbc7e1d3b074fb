"""The segment builder's form, both ways, without I/O: the rows a person fills in (one
condition per row: a field, an operator and the inputs that operator needs) to the filter
language of contacts/segment_filter.py, and a stored filter back to rows for editing.

A row's inputs are named `c<i>_<part>`: `c0_field`, `c0_op`, `c0_value`, `c0_name`
(attribute), `c0_tags` (several values), `c0_from` / `c0_to` (dates), `c0_campaign`,
`c0_status` (several values); a campaign's converted / not converted row takes its goals,
comma-separated, in `c0_value`. A row without a field is an empty row and is left out. The
filter itself is checked by the one parser (segments.normalize): this module only shapes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as default
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wacast.contacts.segment_filter import MAX_CONDITIONS

# What each field offers, in the order the builder shows it: (operator, words).
OPERATORS: dict[str, list[tuple[str, str]]] = {
    "tags": [("any", "has any of"), ("all", "has all of"), ("none", "has none of")],
    "source": [("equals", "is"), ("not_equals", "is not"), ("in", "is one of (comma-separated)"), ("is_set", "is known"),
               ("not_set", "is unknown")],
    "attribute": [("equals", "equals"), ("contains", "contains"), ("is_set", "is set"), ("not_set", "is not set")],
    "created": [("between", "between")],
    "campaign": [("received", "got it, last outcome"), ("not_received", "did not get it"), ("clicked", "clicked a tracked link"),
                 ("not_clicked", "got it, did not click"), ("converted", "converted (goals, optional)"),
                 ("not_converted", "got it, did not convert (goals, optional)")],
}
FIELDS = [("tags", "Tags"), ("source", "Source"), ("attribute", "Attribute"), ("created", "Added to contacts"), ("campaign", "Campaign")]
OUTCOMES = [("sent", "sent"), ("delivered", "delivered"), ("read", "read (no reply)"), ("failed", "failed"), ("replied", "replied")]
GOAL_OPS = ("converted", "not_converted")  # the campaign operators that take goals (in the value input)
CAMPAIGN_WORDS = {
    "clicked": "clicked in {name}", "not_clicked": "got {name}, did not click",
    "converted": "converted{goals} from {name}", "not_converted": "got {name}, did not convert{goals}",
}
PARTS = ("field", "op", "value", "name", "tags", "from", "to", "campaign", "status")
BLANK_ROWS = 1  # an empty row under the conditions, ready to fill (the page's script adds more)


def field_names() -> list[str]:
    """Every field the builder may post (the form refuses any other)."""
    return ["name", "match"] + [f"c{i}_{part}" for i in range(MAX_CONDITIONS) for part in PARTS]


@dataclass
class Row:
    field: str = ""
    op: str = ""
    value: str = ""
    name: str = ""
    tags: list[str] = default(default_factory=list)
    start: str = ""
    end: str = ""
    campaign: str = ""
    status: list[str] = default(default_factory=list)


@dataclass
class Builder:
    """What the builder page shows: the segment's name, all/any, and its rows."""

    name: str = ""
    match: str = "all"
    rows: list[Row] = default(default_factory=list)

    def with_blank(self) -> Builder:
        return Builder(self.name, self.match, [*self.rows, *(Row() for _ in range(BLANK_ROWS))])


def rows_from_form(get: Any, get_all: Any) -> Builder:
    """The builder as posted: `get(name)` gives a field's text, `get_all(name)` all its values."""
    rows = []
    for i in range(MAX_CONDITIONS):
        kind = get(f"c{i}_field")
        if not kind:
            continue
        rows.append(Row(
            field=kind, op=get(f"c{i}_op"), value=get(f"c{i}_value"), name=get(f"c{i}_name"),
            tags=[t for t in get_all(f"c{i}_tags") if t], start=get(f"c{i}_from"), end=get(f"c{i}_to"),
            campaign=get(f"c{i}_campaign"), status=[s for s in get_all(f"c{i}_status") if s],
        ))
    return Builder(get("name"), get("match") or "all", rows)


def filter_of(builder: Builder) -> dict[str, Any]:
    """The filter the rows say, in the REST API's language (checked later by the parser, which
    names the condition that is wrong). An operator the field does not offer is left as typed
    so that the parser refuses it."""
    conditions: list[dict[str, Any]] = []
    for row in builder.rows:
        op = row.op or OPERATORS.get(row.field, [("", "")])[0][0]
        condition: dict[str, Any] = {"field": row.field, "op": op}
        if row.field == "tags":
            condition["value"] = row.tags
        elif row.field == "source":
            if op in ("equals", "not_equals"):
                condition["value"] = row.value
            elif op == "in":
                condition["value"] = [v.strip() for v in row.value.split(",") if v.strip()]
        elif row.field == "attribute":
            condition["name"] = row.name
            if op in ("equals", "contains"):
                condition["value"] = row.value
        elif row.field == "created":
            condition["value"] = {k: v for k, v in (("from", row.start), ("to", row.end)) if v}
        elif row.field == "campaign":
            condition["campaign"] = row.campaign
            if op == "received" and row.status:
                condition["status"] = row.status
            goals = [g.strip() for g in row.value.split(",") if g.strip()]
            if op in GOAL_OPS and goals:
                condition["goal"] = goals
        conditions.append(condition)
    return {"match": builder.match, "conditions": conditions}


def _local_day(value: str | None, zone: ZoneInfo, *, end: bool = False) -> str:
    """A stored bound as the day the form shows. An end is stored as the next day's midnight
    (the day given is included whole): that midnight shows as the day before it."""
    if not value:
        return ""
    try:
        local = datetime.fromisoformat(value).astimezone(zone)
    except ValueError:
        return ""
    if end and local.time() == time():
        local -= timedelta(days=1)
    return local.date().isoformat()


def builder_of(name: str, stored: dict[str, Any], zone: ZoneInfo) -> Builder:
    """A saved segment as rows: campaigns by id, dates as days in the project's time zone."""
    rows = []
    for c in stored.get("conditions", []):
        kind, op = c.get("field", ""), c.get("op", "")
        row = Row(field=kind, op=op)
        if kind == "tags":
            row.tags = list(c.get("value") or [])
        elif kind == "source":
            value = c.get("value")
            row.value = ", ".join(value) if isinstance(value, list) else (value or "")
        elif kind == "attribute":
            row.name, row.value = c.get("name", ""), c.get("value") or ""
        elif kind == "created":
            value = c.get("value") or {}
            row.start, row.end = _local_day(value.get("from"), zone), _local_day(value.get("to"), zone, end=True)
        elif kind == "campaign":
            row.campaign = c.get("campaign_id") or c.get("campaign") or ""
            row.status = list(c.get("status") or [])
            row.value = ", ".join(c.get("goal") or [])
        rows.append(row)
    return Builder(name, stored.get("match", "all"), rows)


def describe(stored: dict[str, Any], campaign_names: dict[str, str], zone: ZoneInfo) -> str:
    """A saved filter in words, for the segment list: "source is Facebook forms and got
    Diwali offer (last outcome read)"."""
    builder = builder_of("", stored, zone)
    words = dict(FIELDS)
    parts = []
    for row in builder.rows:
        op_words = dict(OPERATORS.get(row.field, [])).get(row.op, row.op)
        if row.field == "tags":
            parts.append(f"tags: {op_words} {', '.join(row.tags)}")
        elif row.field == "source":
            parts.append(f"source {op_words}{' ' + row.value if row.value else ''}".replace(" (comma-separated)", ""))
        elif row.field == "attribute":
            parts.append(f"{row.name} {op_words}{' ' + repr(row.value) if row.value else ''}")
        elif row.field == "created":
            parts.append(f"added {('from ' + row.start) if row.start else ''}{' ' if row.start and row.end else ''}{('to ' + row.end) if row.end else ''}")
        elif row.field == "campaign":
            name = campaign_names.get(row.campaign, "a deleted campaign")
            goals = f" ({row.value})" if row.value else ""
            if row.op == "not_received":
                parts.append(f"did not get {name}")
            elif row.op in CAMPAIGN_WORDS:
                parts.append(CAMPAIGN_WORDS[row.op].format(name=name, goals=goals))
            else:
                parts.append(f"got {name}" + (f" (last outcome {' or '.join(row.status)})" if row.status else ""))
        else:
            parts.append(words.get(row.field, row.field))
    if not parts:
        return "every contact"
    return (" and " if builder.match == "all" else " or ").join(parts)
