"""The campaign API body, read field by field so that every error names its field.

Pydantic would reject with its own wording; AiSensy's clients need AiSensy's, and a clear
`code` + `details.field`. Unknown fields are tolerated; empty objects mean "not given".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from wacast.kit import net, text
from wacast.kit.errors import WacastError

MAX_STRING = 4096
MAX_LIST = 100


def field_error(name: str, expected: str, *, missing: bool = False) -> WacastError:
    if missing:
        return WacastError(f"{name} is required", "FIELD_REQUIRED", {"field": name})
    return WacastError(f"{name} must be {expected}", "FIELD_INVALID", {"field": name, "expected": expected})


def _check_text(name: str, value: str, max_len: int = MAX_STRING) -> str:
    # The base text rule (kit/text.py); newlines and tabs pass here so that template
    # parameters get Meta's own error (PARAM_INVALID_TEXT, templates/components.py).
    return text.check(name, value, max_len=max_len, multiline=True)


def _string(body: dict, name: str, *, required: bool = False, max_len: int = MAX_STRING) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise field_error(name, "a string", missing=True)
        return None
    if not isinstance(value, str):
        raise field_error(name, "a string")
    if required and not value.strip():
        raise field_error(name, "a non-empty string", missing=True)
    return _check_text(name, value, max_len)


def _object(body: dict, name: str) -> dict | None:
    """An optional object; {} (and null) mean not given."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise field_error(name, "an object")
    return value or None


def _list(body: dict, name: str) -> list | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise field_error(name, "an array")
    if len(value) > MAX_LIST:
        raise WacastError(f"{name} has too many items (at most {MAX_LIST})", "FIELD_TOO_LONG", {"field": name, "max_items": MAX_LIST})
    return value


def _string_list(body: dict, name: str) -> list[str] | None:
    value = _list(body, name)
    if value is None:
        return None
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise field_error(f"{name}[{i}]", "a string")
        _check_text(f"{name}[{i}]", item)
    return value


def _string_map(body: dict, name: str) -> dict[str, str] | None:
    value = _object(body, name)
    if value is None:
        return None
    if len(value) > MAX_LIST:
        raise WacastError(f"{name} has too many entries (at most {MAX_LIST})", "FIELD_TOO_LONG", {"field": name, "max_items": MAX_LIST})
    for key, item in value.items():
        if not isinstance(item, str):
            raise field_error(f"{name}.{key}", "a string")
        _check_text(f"{name}.{key}", key, 200)
        _check_text(f"{name}.{key}", item)
    return value


@dataclass
class Media:
    url: str
    filename: str | None = None


@dataclass
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None

    def meta(self) -> dict[str, str]:
        out = {"latitude": repr(self.latitude), "longitude": repr(self.longitude)}
        if self.name:
            out["name"] = self.name
        if self.address:
            out["address"] = self.address
        return out


@dataclass
class CampaignRequest:
    api_key: str
    campaign_name: str
    destination: str
    user_name: str
    source: str | None = None
    media: Media | None = None
    template_params: list[str] = field(default_factory=list)
    template_params_given: bool = False
    tags: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    location: Location | None = None
    buttons: list[dict] = field(default_factory=list)
    carousel_cards: list[dict] = field(default_factory=list)
    params_fallback: dict[str, str] = field(default_factory=dict)
    # wacast's extension (docs/consent.md): `marketing_consent`, true, false or {granted, source,
    # evidence, at}, as given; campaign_api/service.py reads it into `consent` (contacts/consent_policy.py).
    marketing_consent: Any = None
    consent: Any = None


def parse_consent(body: dict) -> Any:
    """`marketing_consent` (a wacast extension): true, false or an object; null: not given."""
    value = body.get("marketing_consent")
    if value is not None and not isinstance(value, (bool, dict)):
        raise field_error("marketing_consent", "true, false or an object {granted, source, evidence, at}")
    return value


def parse_media(value: dict | None, name: str = "media") -> Media | None:
    if not value:
        return None
    url = value.get("url")
    filename = value.get("filename")
    if url is None or url == "":
        return None if filename in (None, "") else Media(url="", filename=filename)
    if not isinstance(url, str):
        raise field_error(f"{name}.url", "a string")
    text.check(f"{name}.url", url, max_len=2048)  # one line: a URL has no line breaks
    try:
        net.parse_url(url.strip())  # the media check's own parse, before anything else sees the URL
    except net.InvalidUrl as error:
        raise WacastError(f"{name}.url is not a valid media URL: {error}", "MEDIA_URL_INVALID", {"field": f"{name}.url"}) from None
    if filename is not None and not isinstance(filename, str):
        raise field_error(f"{name}.filename", "a string")
    if filename:
        _check_text(f"{name}.filename", filename, 240)
    return Media(url=url.strip(), filename=filename or None)


def _coordinate(value: Any, name: str, limit: float) -> float:
    if isinstance(value, bool) or value is None:
        raise field_error(name, "a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise field_error(name, "a number") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not -limit <= value <= limit:
        raise WacastError(
            f"{name} must be a number between -{limit:g} and {limit:g}",
            "LOCATION_INVALID",
            {"field": name},
        )
    return float(value)


def parse_location(value: dict | None) -> Location | None:
    if not value:
        return None
    if "latitude" not in value or "longitude" not in value:
        missing = "location.latitude" if "latitude" not in value else "location.longitude"
        raise WacastError(f"{missing} is required", "LOCATION_INVALID", {"field": missing})
    lat = _coordinate(value.get("latitude"), "location.latitude", 90)
    lng = _coordinate(value.get("longitude"), "location.longitude", 180)
    name = value.get("name")
    address = value.get("address")
    for key, item in (("name", name), ("address", address)):
        if item is not None and not isinstance(item, str):
            raise field_error(f"location.{key}", "a string")
        if item:
            _check_text(f"location.{key}", item, 1000)
    return Location(lat, lng, name or None, address or None)


def parse(body: Any) -> CampaignRequest:
    """Validate the shape of the body. The apiKey is checked by the caller first."""
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    campaign_name = _string(body, "campaignName", required=True, max_len=200)
    destination = body.get("destination")
    if destination is None or destination == "":
        raise field_error("destination", "a string", missing=True)
    if not isinstance(destination, str):
        raise field_error("destination", "a string")
    _check_text("destination", destination, 40)
    user_name = _string(body, "userName", required=True, max_len=200)
    template_params = _string_list(body, "templateParams")
    tags = _string_list(body, "tags") or []
    for i, tag in enumerate(tags):
        _check_text(f"tags[{i}]", tag, 100)
    buttons = _list(body, "buttons") or []
    for i, button in enumerate(buttons):
        if not isinstance(button, dict):
            raise field_error(f"buttons[{i}]", "an object")
    cards = _list(body, "carouselCards") or []
    for i, card in enumerate(cards):
        if not isinstance(card, dict):
            raise field_error(f"carouselCards[{i}]", "an object")
    return CampaignRequest(
        api_key=body["apiKey"],
        campaign_name=campaign_name or "",
        destination=destination,
        user_name=user_name or "",
        source=_string(body, "source", max_len=200) or None,
        media=parse_media(_object(body, "media")),
        template_params=template_params or [],
        template_params_given=template_params is not None,
        tags=tags,
        attributes=_string_map(body, "attributes") or {},
        location=parse_location(_object(body, "location")),
        buttons=buttons,
        carousel_cards=cards,
        params_fallback=_string_map(body, "paramsFallbackValue") or {},
        marketing_consent=parse_consent(body),
    )
