"""A broadcast's plan, parsed from its create request: where each template parameter, button
value, media and location comes from, when it sends, and how it may fail. Pure: no I/O.

A parameter's source is a contact field or attribute (`"$city"`, with an optional fallback)
or fixed text. `components_for` turns the plan into Meta's components for one contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wacast.kit.errors import WacastError
from wacast.templates.components import build_components
from wacast.templates.params import TemplateNeeds
from wacast.templates.request import (
    CampaignRequest,
    Location,
    Media,
    parse_location,
    parse_media,
)


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


def param_shorthand(value: str) -> Any:
    """A parameter as typed in a form or on the command line: `$attribute|fallback` becomes
    {"attribute", "fallback"}; anything else (`$attribute`, fixed text) stays as it is."""
    if value.startswith("$") and "|" in value:
        attribute, fallback = value.split("|", 1)
        return {"attribute": attribute[1:].strip(), "fallback": fallback.strip()}
    return value


def resolve(source: Source, contact: Any, values: dict[str, str]) -> str | None:
    """The value of `source` for one contact: its CSV values first, then its attributes (names
    compared case-insensitively), then its name and phone; the fallback when none is set."""
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


def _params(names: tuple[str, ...], raw: Any) -> list[Source]:
    if raw is None:
        raw = []
    if isinstance(raw, dict):
        unknown = [k for k in raw if k not in names]
        if unknown:
            raise WacastError(f"params has names the template does not use: {', '.join(unknown)}", "PARAM_UNKNOWN", {"field": "params", "expected": list(names), "unknown": unknown})
        missing = [n for n in names if n not in raw]
        if missing:
            raise WacastError(f"params misses {', '.join(missing)}", "TEMPLATE_PARAMS_MISMATCH", {"field": "params", "expected": list(names), "missing": missing})
        return [parse_source(raw[n], f"params.{n}") for n in names]
    if isinstance(raw, list):
        if len(raw) != len(names):
            raise WacastError(
                "Template params does not match the campaign", "TEMPLATE_PARAMS_MISMATCH",
                {"field": "params", "expected": len(names), "given": len(raw), "names": list(names)},
            )
        return [parse_source(v, f"params[{i}]") for i, v in enumerate(raw)]
    raise WacastError("params must be a list (in order) or an object (by name)", "FIELD_INVALID", {"field": "params"})


def _buttons(needs: TemplateNeeds, raw: Any) -> dict[int, Source]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise WacastError("buttons must be an object {index: value}", "FIELD_INVALID", {"field": "buttons"})
    buttons: dict[int, Source] = {}
    by_index = {b.index: b for b in needs.buttons}
    for key, value in raw.items():
        if not str(key).isdigit() or int(key) not in by_index:
            raise WacastError(f"buttons.{key}: the template has no button there that takes a value", "FIELD_INVALID", {"field": f"buttons.{key}"})
        buttons[int(key)] = parse_source(value, f"buttons.{key}")
    for need in needs.buttons:
        if need.needs_param and need.index not in buttons:
            raise WacastError(
                f"Button at index {need.index} of type {need.type.capitalize()} requires a parameter",
                "BUTTON_PARAM_MISSING", {"field": f"buttons.{need.index}", "type": need.type},
            )
    return buttons


def parse_plan(needs: TemplateNeeds, body: dict[str, Any]) -> Plan:
    """The plan of a create request for a template with these needs (every error names its field)."""
    if needs.cards:
        raise WacastError("Carousel templates cannot be broadcast yet; use the campaign API", "TEMPLATE_NOT_SUPPORTED", {"field": "template"})
    params = _params(needs.text_params, body.get("params", []))
    buttons = _buttons(needs, body.get("buttons"))
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


def parse_send_at(value: Any, zone: ZoneInfo, now: datetime) -> datetime | None:
    """When to start: None for now; an ISO time (in `zone` when it has no offset), not past."""
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


def failure_settings(body: dict[str, Any], default_threshold: float, default_window: int) -> dict[str, Any]:
    """The auto-pause rule: pause when `failure_threshold` of the last `failure_window` sends failed."""
    return {
        "failure_threshold": _fraction(body.get("failure_threshold"), "failure_threshold", default_threshold),
        "failure_window": _count(body.get("failure_window"), "failure_window", default_window, 5, 10_000),
    }
