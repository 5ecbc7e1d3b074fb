"""The New broadcast form, without I/O: its fields to the body `POST /api/v1/campaigns` takes
(campaigns/broadcasts/plan.py checks it), and back to what the form shows after an error.

Each template parameter and each button that takes a value is mapped by four fields,
`param_<i>_from` ("attribute" or "text"), `param_<i>_attr`, `param_<i>_text`,
`param_<i>_fallback` (and the same with `button_<index>_`): a contact attribute with a
fallback for contacts without it, or fixed text. The send time is a day and a time in the
project's time zone (`send_date`, `send_time`) when `when` is "later".
"""

from __future__ import annotations

import re
from typing import Any

MAX_PARAMS = 20  # more than any template Meta approves
MAX_BUTTONS = 10
MAPPING_PARTS = ("from", "attr", "text", "fallback")
PLAIN_FIELDS = ("name", "template", "audience", "segment", "audience_csv", "media_url", "media_filename", "loc_lat", "loc_lng", "loc_name", "loc_address",
                "when", "send_date", "send_time", "test_phone")


def field_names() -> list[str]:
    """Every field the form may post (any other is refused)."""
    return [*PLAIN_FIELDS, *(f"param_{i}_{p}" for i in range(MAX_PARAMS) for p in MAPPING_PARTS),
            *(f"button_{i}_{p}" for i in range(MAX_BUTTONS) for p in MAPPING_PARTS)]


def _source(get: Any, prefix: str) -> Any:
    """One mapped value as the plan reads it: "$attr", {"attribute", "fallback"} or text.
    An empty mapping stays empty text, which the plan refuses naming the field."""
    if get(f"{prefix}_from") == "text":
        return get(f"{prefix}_text")
    attribute, fallback = get(f"{prefix}_attr"), get(f"{prefix}_fallback")
    if not attribute:
        return ""
    return {"attribute": attribute, "fallback": fallback} if fallback else f"${attribute}"


def body_of(get: Any, *, param_count: int, button_indexes: list[int], needs_media: bool, needs_location: bool) -> dict[str, Any]:
    """The create body for a template with these needs; `get(name)` gives a field's text."""
    template, _, language = get("template").partition("|")
    body: dict[str, Any] = {
        "name": get("name"), "template": template, "language": language or None,
        "params": [_source(get, f"param_{i}") for i in range(min(param_count, MAX_PARAMS))],
    }
    if get("audience") != "csv":  # an uploaded file is the audience instead (passed beside the body)
        body["segment"] = get("segment")
    buttons = {str(i): _source(get, f"button_{i}") for i in button_indexes if i < MAX_BUTTONS}
    if buttons:
        body["buttons"] = buttons
    if needs_media:
        body["media"] = {"url": get("media_url"), **({"filename": get("media_filename")} if get("media_filename") else {})}
    if needs_location:
        body["location"] = {"latitude": get("loc_lat"), "longitude": get("loc_lng"), "name": get("loc_name"), "address": get("loc_address")}
    if get("when") == "later":
        day, clock = get("send_date"), get("send_time") or "09:00"
        body["send_at"] = f"{day}T{clock}" if day else "later"  # "later" without a day: refused, naming send_at
    return body


def typed(get: Any) -> dict[str, str]:
    """Every field as it was posted, to show the form again after an error (a file is not
    kept: it is chosen again)."""
    return {name: get(name) for name in field_names() if name != "audience_csv"}


# --- problems in the form's own words ---------------------------------------------------------

FIELD_WORDS = {
    "name": "The broadcast's name", "segment": "The audience", "audience_csv": "The audience file", "template": "The template",
    "media": "The header media", "media.url": "The header media's URL", "media.filename": "The document's file name",
    "location": "The header location", "send_at": "The send time", "test_phone": "The test number", "params": "The parameters",
}
_PARAM_PATH = re.compile(r"^params(?:\[(\d+)\]|\.([A-Za-z0-9_]+))(\.fallback)?$")
_BUTTON_PATH = re.compile(r"^buttons\.(\d+)(\.fallback)?$")


def field_label(path: str, placeholders: list[str]) -> str:
    """A field path of the broadcast body ("params[1]", "buttons.0", "media.url") as the form
    names it ("Parameter {{2}}", "The URL button's link ending")."""
    found = _PARAM_PATH.match(path)
    if found:
        index, name, fallback = found.groups()
        if index is not None:
            i = int(index)
            shown = placeholders[i] if i < len(placeholders) else str(i + 1)
        else:
            shown = name
        return f"The fallback of parameter {{{{{shown}}}}}" if fallback else f"Parameter {{{{{shown}}}}}"
    found = _BUTTON_PATH.match(path)
    if found:
        what = f"The link ending of button {int(found.group(1)) + 1}"
        return f"The fallback of {what[0].lower()}{what[1:]}" if found.group(2) else what
    if path.startswith("location"):
        return FIELD_WORDS["location"]
    return FIELD_WORDS.get(path, path)


def problem_in_words(code: str, message: str, details: dict[str, Any] | None, placeholders: list[str]) -> str:
    """What is wrong with the form, said for a marketer: fields by their labels, what to do,
    and no error code (the REST API keeps the codes and field paths)."""
    details = details or {}
    path = str(details.get("field") or "")
    label = field_label(path, placeholders) if path else ""
    if code == "PARAM_EMPTY":
        return f"{label} has no value yet: pick a contact attribute or type a fixed text."
    if code == "BUTTON_PARAM_MISSING":
        return f"{label} is needed: pick a contact attribute or type the end of the link."
    if code == "MEDIA_URL_MISSING":
        header = str(details.get("header") or "media").lower()
        return f"This template has a{'n' if header[:1] in 'aeiou' else ''} {header} header: give the URL of the {header} to send."
    if code == "LOCATION_MISSING":
        return "This template has a location header: give its latitude and longitude."
    if code == "TEMPLATE_PARAMS_MISMATCH":
        expected, given = details.get("expected"), details.get("given")
        if isinstance(expected, int) and isinstance(given, int):
            return f"The template takes {expected} parameter{'s' if expected != 1 else ''}; {given} {'are' if given != 1 else 'is'} mapped."
    if code == "PARAM_UNRESOLVED":
        # "no value for {{city}} ($city)": the sample contact lacks the attribute.
        return f"The sample contact has {message[0].lower()}{message[1:]}: add a fallback for contacts without it, or pick another attribute."
    if path and message.startswith(path):
        return f"{label}{message[len(path):]}."
    return message if message.endswith((".", "?", "!")) else f"{message}."
