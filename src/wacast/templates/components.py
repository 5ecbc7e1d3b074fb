"""A template's send components: parameter resolution ($Name, $attribute, fallbacks), text
rules Meta enforces, buttons, media headers and carousels. One copy, shared by the campaign API
and broadcasts."""

from __future__ import annotations

import re
from typing import Any

from wacast.kit import text
from wacast.kit.errors import WacastError
from wacast.templates.params import (
    BODY_PARAM_MAX,
    HEADER_PARAM_MAX,
    ButtonNeed,
    TemplateNeeds,
)
from wacast.templates.request import CampaignRequest, Media

VARIABLE_RE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
# Meta refuses parameter text with line breaks or tabs, or more than 4 spaces in a row
# (132018); U+2028 and U+2029 are line breaks too (VT, FF and NEL are controls: the base rule).
BAD_PARAM_TEXT = re.compile("[\n\t\r\u2028\u2029]| {5,}")


def resolve_value(raw: str, index: int, contact_name: str, attributes: dict[str, str], fallback: dict[str, str]) -> str:
    """`$Name` comes from the contact's attributes, then its name, then paramsFallbackValue."""
    match = VARIABLE_RE.match(raw.strip())
    if not match:
        return raw
    name = match.group(1)

    def unset(found: str | None) -> bool:  # a blank value (only invisible characters) is not set
        return not found or text.is_blank(found)

    lowered = {k.lower(): v for k, v in attributes.items()}
    value = attributes.get(name) or lowered.get(name.lower())
    if unset(value) and name.lower() in ("name", "username"):
        value = contact_name
    if unset(value) and name.lower() == "firstname":
        value = contact_name.split()[0] if contact_name.strip() else ""
    if unset(value):
        value = fallback.get(name) or {k.lower(): v for k, v in fallback.items()}.get(name.lower())
    if unset(value):
        raise WacastError(
            f"Template param ${name} has no value for this contact and no paramsFallbackValue",
            "PARAM_UNRESOLVED",
            {"index": index, "param": f"${name}"},
        )
    return value


def check_param_text(value: str, where: str, max_len: int) -> None:
    """The template-parameter profile of the text rule (kit/text.py): the base rule (a
    FIELD_INVALID), then what Meta refuses, with Meta's own error names: a blank value (only
    whitespace or invisible characters such as ZERO WIDTH SPACE), too long, a line break or tab,
    5 spaces in a row. Every parameter value passes here, whatever its source (the request, a
    contact attribute, a fallback, a broadcast plan)."""
    text.check(where, value, max_len=len(value), multiline=True)
    if text.is_blank(value):
        raise WacastError(f"{where} is empty", "PARAM_EMPTY", {"field": where})
    if len(value) > max_len:
        raise WacastError(
            f"{where} is too long ({len(value)} characters, at most {max_len})",
            "PARAM_TOO_LONG",
            {"field": where, "max_length": max_len},
        )
    if BAD_PARAM_TEXT.search(value):
        raise WacastError(
            f"{where} cannot have new-line or tab characters or more than 4 consecutive spaces",
            "PARAM_INVALID_TEXT",
            {"field": where},
        )


def text_parameter(value: str, name: str, named: bool) -> dict[str, str]:
    param = {"type": "text", "text": value}
    if named:
        param["parameter_name"] = name
    return param


def _button_index(button: dict) -> int | None:
    index = button.get("index")
    if isinstance(index, bool):
        return None
    if isinstance(index, int):
        return index
    if isinstance(index, str) and index.strip().isdigit():
        return int(index.strip())
    return None


def _button_value(button: dict, kind: str) -> str | None:
    for param in button.get("parameters") or []:
        if not isinstance(param, dict):
            continue
        if kind == "copy_code":
            value = param.get("coupon_code", param.get("text"))
        elif kind == "quick_reply":
            value = param.get("payload", param.get("text"))
        else:
            value = param.get("text")
        if isinstance(value, str) and value.strip():
            return value
    return None


def build_buttons(needs: tuple[ButtonNeed, ...], given: list[dict], where: str = "buttons") -> list[dict]:
    by_index: dict[int, dict] = {}
    for i, button in enumerate(given):
        index = _button_index(button)
        if index is None:
            raise WacastError(f"{where}[{i}].index must be a button position (0-9)", "FIELD_INVALID", {"field": f"{where}[{i}].index"})
        by_index[index] = button
    components = []
    for need in needs:
        button = by_index.get(need.index)
        value = _button_value(button, need.type) if button else None
        if need.needs_param and value is None:
            raise WacastError(
                f"Button at index {need.index} of type {need.type.capitalize()} requires a parameter",
                "BUTTON_PARAM_MISSING",
                {"index": need.index, "type": need.type},
            )
        if value is None:
            continue
        if need.type == "url":
            check_param_text(value, f"{where}[{need.index}] parameter", 2000)
            param = {"type": "text", "text": value}
        elif need.type == "copy_code":
            check_param_text(value, f"{where}[{need.index}] coupon code", 20)
            param = {"type": "coupon_code", "coupon_code": value}
        elif need.type == "quick_reply":
            check_param_text(value, f"{where}[{need.index}] payload", 256)
            param = {"type": "payload", "payload": value}
        else:
            continue
        components.append({"type": "button", "sub_type": need.type, "index": str(need.index), "parameters": [param]})
    return components


def media_parameter(kind: str, media: Media) -> dict[str, Any]:
    kind_key = "video" if kind == "GIF" else kind.lower()
    obj: dict[str, Any] = {"link": media.url}
    if kind == "DOCUMENT":
        obj["filename"] = media.filename or (media.url.rsplit("/", 1)[-1].split("?")[0] or "document.pdf")
    return {"type": kind_key, kind_key: obj}


def build_components(
    needs: TemplateNeeds, request: CampaignRequest, contact_name: str, attributes: dict[str, str]
) -> list[dict[str, Any]]:
    """Meta's send components for this request. Raises the first rejection."""
    expected = len(needs.text_params)
    given = len(request.template_params)
    if given != expected:
        raise WacastError(
            "Template params does not match the campaign",
            "TEMPLATE_PARAMS_MISMATCH",
            {"expected": expected, "given": given},
        )
    values = [
        resolve_value(raw, i, contact_name, attributes, request.params_fallback)
        for i, raw in enumerate(request.template_params)
    ]
    components: list[dict[str, Any]] = []
    header_values = values[: len(needs.header_params)]
    body_values = values[len(needs.header_params) :]
    if needs.header_format == "TEXT" and needs.header_params:
        check_param_text(header_values[0], "templateParams[0] (header)", HEADER_PARAM_MAX)
        components.append(
            {"type": "header", "parameters": [text_parameter(header_values[0], needs.header_params[0], needs.named)]}
        )
    elif needs.needs_media:
        if request.media is None or not request.media.url:
            raise WacastError("Media URL Missing", "MEDIA_URL_MISSING", {"header": needs.header_format})
        components.append({"type": "header", "parameters": [media_parameter(needs.header_format, request.media)]})
    elif needs.needs_location:
        if request.location is None:
            raise WacastError("Location Missing", "LOCATION_MISSING", {"header": "LOCATION"})
        components.append({"type": "header", "parameters": [{"type": "location", "location": request.location.meta()}]})
    if needs.body_params:
        offset = len(needs.header_params)
        for i, value in enumerate(body_values):
            check_param_text(value, f"templateParams[{offset + i}]", BODY_PARAM_MAX)
        components.append(
            {
                "type": "body",
                "parameters": [text_parameter(v, n, needs.named) for v, n in zip(body_values, needs.body_params, strict=True)],
            }
        )
    components.extend(build_buttons(needs.buttons, request.buttons))
    if needs.cards:
        components.append(build_carousel(needs, request))
    return components


def _card_components(card: dict, i: int) -> tuple[list[dict], list[dict], list[str]]:
    headers, buttons, body = [], [], []
    for component in card.get("components") or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).lower()
        if kind == "header":
            headers.append(component)
        elif kind == "button":
            buttons.append(component)
        elif kind == "body":
            for param in component.get("parameters") or []:
                if isinstance(param, dict) and isinstance(param.get("text"), str):
                    body.append(param["text"])
    # A simpler shape is accepted too: {"media": {"url"}, "templateParams": [...], "buttons": [...]}.
    if isinstance(card.get("templateParams"), list):
        body.extend(str(v) for v in card["templateParams"])
    if isinstance(card.get("buttons"), list):
        buttons.extend(b for b in card["buttons"] if isinstance(b, dict))
    return headers, buttons, body


def _card_media_url(headers: list[dict], card: dict) -> str | None:
    if isinstance(card.get("media"), dict) and isinstance(card["media"].get("url"), str):
        return card["media"]["url"] or None
    for header in headers:
        for param in header.get("parameters") or []:
            if not isinstance(param, dict):
                continue
            kind = str(param.get("type", "")).lower()
            obj = param.get(kind)
            if isinstance(obj, dict) and isinstance(obj.get("link"), str):
                return obj["link"] or None
    return None


def build_carousel(needs: TemplateNeeds, request: CampaignRequest) -> dict[str, Any]:
    cards = request.carousel_cards
    if len(cards) != len(needs.cards):
        raise WacastError(
            "Carousel cards do not match the campaign",
            "CAROUSEL_CARDS_MISMATCH",
            {"expected": len(needs.cards), "given": len(cards)},
        )
    out = []
    for i, (card_need, card) in enumerate(zip(needs.cards, cards, strict=True)):
        headers, buttons, body = _card_components(card, i)
        components: list[dict[str, Any]] = []
        if card_need.header_format:
            url = _card_media_url(headers, card)
            if not url:
                raise WacastError("Media URL Missing", "MEDIA_URL_MISSING", {"card_index": i})
            components.append(
                {"type": "header", "parameters": [media_parameter(card_need.header_format, Media(url=url))]}
            )
        if len(body) != len(card_need.body_params):
            raise WacastError(
                "Template params does not match the campaign",
                "TEMPLATE_PARAMS_MISMATCH",
                {"card_index": i, "expected": len(card_need.body_params), "given": len(body)},
            )
        if body:
            for j, value in enumerate(body):
                check_param_text(value, f"carouselCards[{i}] body param {j}", BODY_PARAM_MAX)
            components.append(
                {"type": "body", "parameters": [text_parameter(v, n, needs.named) for v, n in zip(body, card_need.body_params, strict=True)]}
            )
        components.extend(build_buttons(card_need.buttons, buttons, where=f"carouselCards[{i}].buttons"))
        out.append({"card_index": i, "components": components})
    return {"type": "carousel", "cards": out}


def media_to_check(needs: TemplateNeeds, components: list[dict]) -> list[tuple[str, str, str]]:
    """(url, header format, field) for every media link in the built components."""
    checks = []
    if needs.needs_media:
        param = components[0]["parameters"][0]
        checks.append((param[param["type"]]["link"], needs.header_format, "media.url"))
    for component in components:
        if component["type"] != "carousel":
            continue
        for card, card_need in zip(component["cards"], needs.cards, strict=True):
            if card_need.header_format:
                param = card["components"][0]["parameters"][0]
                checks.append((param[param["type"]]["link"], card_need.header_format, f"carouselCards[{card['card_index']}].media"))
    return checks


# --- the endpoint's work ----------------------------------------------------------------
