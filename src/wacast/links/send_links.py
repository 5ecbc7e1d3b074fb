"""Tracked links on the send path, pure (no I/O): which links of a message about to be queued
are tracked, and its components with their tokens in place.

- A tracked URL button (templates/tracked.py): the button's parameter, as the campaign request
  or broadcast mapping gives it, names the real destination (a whole URL, or the value of the
  template's destination pattern's `{{1}}`); the parameter sent to Meta is the token.
- A URL in a body parameter, when the campaign's tracking says `track_body_urls` and wacast
  has a public address: each http(s) URL in the text becomes `<public url>/r/<token>`.

`plan` runs before anything is written (a bad destination is a 4xx and nothing changes);
links/service.mint_rows makes the tokens in the message's transaction; `with_tokens` puts them in.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from wacast.links.tracking import Tracking
from wacast.templates import tracked
from wacast.templates.params import BODY_PARAM_MAX

# An http(s) URL in running text: up to a space; trailing punctuation stays text ("see https://x.y/z.").
BODY_URL = re.compile(r"(?i)\bhttps?://[^\s<>\"']+")
TRAILING = ".,;:!?)]}'\""
TOKEN_LEN = 16  # links/service.new_token


@dataclass(frozen=True)
class SendLinks:
    """What a campaign's messages track: its template's tracked buttons ({index: destination
    pattern}) and its tracking settings, with wacast's public address (for body URLs)."""

    campaign_id: Any
    campaign_name: str
    tracking: Tracking
    buttons: dict[int, str] = field(default_factory=dict)
    public_url: str = ""

    @property
    def body_urls(self) -> bool:
        return self.tracking.track_body_urls and bool(self.public_url)

    @property
    def active(self) -> bool:
        return bool(self.buttons) or self.body_urls


@dataclass(frozen=True)
class Planned:
    """One link of one message: where it is in the components and its real destination."""

    destination: str
    button_index: int | None  # None: a URL in a body parameter
    parameter: int | None = None  # the body parameter's position
    span: tuple[int, int] | None = None  # where the URL is in that parameter's text


def _body_urls(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in BODY_URL.finditer(text):
        url = match.group(0).rstrip(TRAILING)
        if len(url) > len("https://"):
            found.append((match.start(), match.start() + len(url), url))
    return found


def static_buttons(send: SendLinks) -> dict[int, str]:
    """Tracked buttons whose destination has no `{{1}}`: a request may leave them out (the
    pattern is the destination)."""
    return {i: p for i, p in send.buttons.items() if tracked.VARIABLE not in p.replace("{{ 1 }}", tracked.VARIABLE)}


def plan(components: list[dict[str, Any]], send: SendLinks) -> list[Planned]:
    """The tracked links of a message's built components (templates/components.py), in order:
    buttons first, then body URLs. Raises TRACKED_LINK_INVALID or BUTTON_PARAM_MISSING."""
    out: list[Planned] = []
    for component in components:
        if component.get("type") != "button" or component.get("sub_type") != "url":
            continue
        index = int(component["index"])
        if index not in send.buttons:
            continue
        param = (component.get("parameters") or [{}])[0]
        out.append(Planned(tracked.destination(send.buttons[index], param.get("text"), f"buttons[{index}]"), index))
    if send.body_urls:
        for component in components:
            if component.get("type") != "body":
                continue
            link_len = len(send.public_url.rstrip("/")) + len(tracked.REDIRECT_PREFIX) + TOKEN_LEN
            for position, param in enumerate(component.get("parameters") or []):
                text = param.get("text") or ""
                urls = _body_urls(text)
                # A parameter its links would make too long for Meta keeps its URLs as they are.
                if len(text) + sum(link_len - (end - start) for start, end, _ in urls) > BODY_PARAM_MAX:
                    continue
                out.extend(Planned(url, None, position, (start, end)) for start, end, url in urls)
    return out


def with_tokens(components: list[dict[str, Any]], planned: list[Planned], tokens: list[str], public_url: str) -> list[dict[str, Any]]:
    """The components with each planned link's token in place (a copy)."""
    out = copy.deepcopy(components)
    body_edits: dict[int, list[tuple[tuple[int, int], str]]] = {}
    for link, token in zip(planned, tokens, strict=True):
        if link.button_index is not None:
            for component in out:
                if component.get("type") == "button" and component.get("sub_type") == "url" and int(component["index"]) == link.button_index:
                    component["parameters"] = [{"type": "text", "text": token}]
        elif link.parameter is not None and link.span is not None:
            body_edits.setdefault(link.parameter, []).append((link.span, public_url.rstrip("/") + tracked.REDIRECT_PREFIX + token))
    if body_edits:
        body = next(c for c in out if c.get("type") == "body")
        for position, edits in body_edits.items():
            param = body["parameters"][position]
            value = param["text"]
            for (start, end), replacement in sorted(edits, reverse=True):  # from the end: earlier spans stay right
                value = value[:start] + replacement + value[end:]
            param["text"] = value
    return out
