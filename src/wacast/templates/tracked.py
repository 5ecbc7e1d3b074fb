"""A template's tracked URL buttons (issue 16), pure: no I/O.

A tracked URL button points at wacast, not at the shop: its URL at Meta is
`<WACAST_PUBLIC_URL>/r/{{1}}` (the base of a button's URL is part of what Meta approves), and
wacast keeps the real destination pattern itself, in `templates.tracked_buttons`:

    {"0": "https://shop.example.com/p/{{1}}"}      # button index -> destination pattern

Each message fills `{{1}}` with a short unguessable token (links/send_links.py) that stands
for the destination: the URL the campaign request or broadcast mapping gives for the button,
or the pattern with the given value in its `{{1}}` (`destination`).
"""

from __future__ import annotations

import copy
import re
from typing import Any
from urllib.parse import quote, urlsplit

from wacast.kit import text
from wacast.kit.errors import WacastError

REDIRECT_PREFIX = "/r/"  # where wacast answers a tracked link's tap (api/links.py), before its token
TRACKED_PATH = REDIRECT_PREFIX + "{{1}}"
# What Meta sees as the sample of a tracked button's variable: a token's shape (16 characters).
SAMPLE_TOKEN = "Xy7Qa2Lm9Pz4Kd1B"
VARIABLE = "{{1}}"
URL_MAX = 2000
ANY_VARIABLE = re.compile(r"\{\{[^}]*\}\}")
# What stays as it is when a value fills a pattern's {{1}}: the characters of a path and a query.
SAFE = "/?&=#%:@+,;~!$'()*-._"


def tracked_url(public_url: str) -> str:
    """The URL a tracked button has at Meta: `<public url>/r/{{1}}`."""
    return public_url.rstrip("/") + TRACKED_PATH


def is_tracked_url(url: Any) -> bool:
    return isinstance(url, str) and url.rstrip().endswith(TRACKED_PATH)


def public_url_required(public_url: str) -> None:
    if not public_url:
        raise WacastError(
            "Tracking clicks needs WACAST_PUBLIC_URL: the address where people's phones reach this wacast (e.g. "
            "https://wa.example.com); set it and restart, then create the tracked template",
            "PUBLIC_URL_NOT_SET", {"setting": "WACAST_PUBLIC_URL"},
        )


def _http_url(value: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise WacastError(f"{where} must be an http(s) URL such as https://shop.example.com/p/{{{{1}}}}",
                          "TRACKED_LINK_INVALID", {"field": where})
    return value


def check_pattern(value: Any, where: str) -> str:
    """A destination pattern: an absolute http(s) URL, with at most one `{{1}}` (anywhere)."""
    if not isinstance(value, str) or not value.strip():
        raise WacastError(f"{where} must be the button's real destination, e.g. https://shop.example.com/p/{{{{1}}}}",
                          "TRACKED_LINK_INVALID", {"field": where})
    value = text.check(where, value.strip(), max_len=URL_MAX)
    variables = ANY_VARIABLE.findall(value)
    if len(variables) > 1 or (variables and variables[0].replace(" ", "") != VARIABLE):
        raise WacastError(f"{where} may have one variable, {VARIABLE}", "TRACKED_LINK_INVALID", {"field": where})
    return _http_url(value, where)


def destination(pattern: str, value: str | None, where: str) -> str:
    """The real destination of one message's tracked button: the value itself when it is an
    http(s) URL; else the pattern with the value in its `{{1}}` (URL-quoted); a pattern without
    a variable is the destination as it is."""
    if value is not None and re.match(r"(?i)^https?://", value.strip()):
        found = value.strip()
    elif VARIABLE in pattern.replace("{{ 1 }}", VARIABLE):
        if value is None or not value.strip():
            raise WacastError(f"{where}: the tracked button needs a value for {VARIABLE} of {pattern}",
                              "BUTTON_PARAM_MISSING", {"field": where})
        found = pattern.replace("{{ 1 }}", VARIABLE).replace(VARIABLE, quote(value.strip(), safe=SAFE))
    else:
        found = pattern
    if len(found) > URL_MAX:
        raise WacastError(f"{where}: the destination is longer than {URL_MAX} characters", "TRACKED_LINK_INVALID", {"field": where})
    return _http_url(found, where)


def example_value(pattern: str) -> str | None:
    """What a campaign request passes for a tracked button (campaign-details' example body): a
    value for the pattern's `{{1}}` (a full http(s) URL works too), None when the destination
    is fixed and the request passes nothing."""
    return "42" if VARIABLE in pattern.replace("{{ 1 }}", VARIABLE) else None


def url_buttons(components: list[Any]) -> dict[int, dict[str, Any]]:
    """The URL buttons of a template's BUTTONS component, by index."""
    for component in components or []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BUTTONS":
            return {i: b for i, b in enumerate(component.get("buttons") or [])
                    if isinstance(b, dict) and str(b.get("type", "")).upper() == "URL"}
    return {}


def apply(definition: dict[str, Any], raw: Any, public_url: str) -> dict[str, str] | None:
    """Make the definition's tracked buttons point at wacast: each URL button named in `raw`
    ({"<index>": "<destination pattern>"}) gets the URL `<public url>/r/{{1}}` and a token as
    its sample. Returns the patterns to store (None when nothing is tracked). Refused, naming
    the field: a button that is no URL button, a pattern that is no URL, no WACAST_PUBLIC_URL."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict):
        raise WacastError('tracked_buttons must be an object {"<button index>": "<destination URL pattern>"}',
                          "FIELD_INVALID", {"field": "tracked_buttons"})
    public_url_required(public_url)
    definition["components"] = copy.deepcopy(definition["components"])  # a copy's source keeps its own
    buttons = url_buttons(definition["components"])
    out: dict[str, str] = {}
    for key, pattern in raw.items():
        where = f"tracked_buttons.{key}"
        index = int(key) if isinstance(key, str) and key.strip().isdigit() else None
        if index is None or index not in buttons:
            raise WacastError(f"{where}: the template has no URL button at index {key}", "TRACKED_LINK_INVALID", {"field": where})
        out[str(index)] = check_pattern(pattern, where)
        button = buttons[index]
        button["url"] = tracked_url(public_url)
        button["example"] = [public_url.rstrip("/") + REDIRECT_PREFIX + SAMPLE_TOKEN]
    return out


def kept_on_edit(current: dict[str, str] | None, components: list[Any]) -> dict[str, str] | None:
    """An edit that does not name `tracked_buttons` keeps those still pointing at wacast."""
    buttons = url_buttons(components)
    kept = {k: v for k, v in (current or {}).items() if k.isdigit() and int(k) in buttons and is_tracked_url(buttons[int(k)].get("url"))}
    return kept or None


def patterns(stored: Any) -> dict[int, str]:
    """A template's stored tracked buttons as {index: pattern} (anything unreadable is left out)."""
    if not isinstance(stored, dict):
        return {}
    return {int(k): v for k, v in stored.items() if isinstance(k, str) and k.isdigit() and isinstance(v, str)}
