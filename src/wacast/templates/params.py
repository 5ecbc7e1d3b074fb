"""What a template needs at send time: its parameters, counted per component.

Meta's rules (reference/whatsapp-cloud-api.md, "Counting a template's parameters"):
- POSITIONAL (the default): distinct {{n}} per component, values sent in n order.
- NAMED: distinct {{name}} per component, sent with `parameter_name`, any order.
- HEADER TEXT has 0 or 1 parameter; a media or location header always needs its object.
- Each URL button whose url has a variable needs one text parameter, each COPY_CODE button a
  coupon code; quick-reply payloads are optional.
- A carousel repeats this per card, and the number of cards sent must match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

POSITIONAL_RE = re.compile(r"\{\{\s*(\d+)\s*\}\}")
NAMED_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT", "GIF")

HEADER_PARAM_MAX = 60
BODY_PARAM_MAX = 1024


@dataclass(frozen=True)
class ButtonNeed:
    index: int
    type: str  # url | copy_code | quick_reply
    needs_param: bool
    text: str = ""
    example: str | None = None


@dataclass(frozen=True)
class CardNeeds:
    index: int
    header_format: str | None
    body_params: tuple[str, ...]
    buttons: tuple[ButtonNeed, ...]


@dataclass(frozen=True)
class TemplateNeeds:
    parameter_format: str
    header_format: str | None = None  # TEXT | IMAGE | VIDEO | DOCUMENT | GIF | LOCATION
    header_params: tuple[str, ...] = ()
    body_params: tuple[str, ...] = ()
    buttons: tuple[ButtonNeed, ...] = ()
    cards: tuple[CardNeeds, ...] = ()
    header_text: str = ""
    body_text: str = ""
    footer_text: str = ""
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def named(self) -> bool:
        return self.parameter_format == "NAMED"

    @property
    def text_params(self) -> tuple[str, ...]:
        """The parameters `templateParams` fills, in reading order: header text, then body."""
        return self.header_params + self.body_params

    @property
    def needs_media(self) -> bool:
        return self.header_format in MEDIA_FORMATS

    @property
    def needs_location(self) -> bool:
        return self.header_format == "LOCATION"

    @property
    def param_buttons(self) -> tuple[ButtonNeed, ...]:
        return tuple(b for b in self.buttons if b.needs_param)

    @property
    def total_parameters(self) -> int:
        """Everything a send must supply: text params, media/location, button params, cards."""
        total = len(self.text_params) + len(self.param_buttons)
        if self.needs_media or self.needs_location:
            total += 1
        for card in self.cards:
            total += len(card.body_params) + sum(1 for b in card.buttons if b.needs_param)
            total += 1 if card.header_format else 0
        return total


def placeholders(text: str, parameter_format: str) -> tuple[str, ...]:
    """Distinct placeholders of one text: positional sorted by number, named in order seen."""
    if not text:
        return ()
    if parameter_format == "NAMED":
        seen: dict[str, None] = {}
        for name in NAMED_RE.findall(text):
            seen.setdefault(name, None)
        return tuple(seen)
    return tuple(str(n) for n in sorted({int(n) for n in POSITIONAL_RE.findall(text)}))


def _buttons(component: dict[str, Any]) -> tuple[ButtonNeed, ...]:
    needs = []
    for index, button in enumerate(component.get("buttons") or []):
        kind = str(button.get("type", "")).upper()
        example = button.get("example")
        if isinstance(example, list):
            example = example[0] if example else None
        if kind == "URL":
            url = str(button.get("url", ""))
            has_var = bool(POSITIONAL_RE.search(url) or NAMED_RE.search(url))
            needs.append(ButtonNeed(index, "url", has_var, button.get("text", ""), example))
        elif kind == "COPY_CODE":
            needs.append(ButtonNeed(index, "copy_code", True, button.get("text", "Copy code"), example))
        elif kind == "OTP":
            # Authentication templates: the code goes as a URL-button text parameter.
            needs.append(ButtonNeed(index, "url", True, button.get("text", "Copy code"), None))
        elif kind == "QUICK_REPLY":
            needs.append(ButtonNeed(index, "quick_reply", False, button.get("text", ""), None))
        else:
            needs.append(ButtonNeed(index, kind.lower(), False, button.get("text", ""), None))
    return tuple(needs)


def analyze(components: list[dict[str, Any]], parameter_format: str | None = None) -> TemplateNeeds:
    """Read a template's components (Meta's creation/listing shape) into what a send needs."""
    fmt = (parameter_format or "POSITIONAL").upper()
    header_format = None
    header_params: tuple[str, ...] = ()
    body_params: tuple[str, ...] = ()
    buttons: tuple[ButtonNeed, ...] = ()
    cards: list[CardNeeds] = []
    header_text = body_text = footer_text = ""
    examples: dict[str, list[str]] = {}
    for component in components or []:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format == "TEXT":
                header_text = component.get("text", "")
                header_params = placeholders(header_text, fmt)[:1]
                examples["header"] = _header_examples(component)
        elif kind == "BODY":
            body_text = component.get("text", "")
            body_params = placeholders(body_text, fmt)
            examples["body"] = _body_examples(component)
        elif kind == "FOOTER":
            footer_text = component.get("text", "")
        elif kind == "BUTTONS":
            buttons = _buttons(component)
        elif kind == "CAROUSEL":
            for card_index, card in enumerate(component.get("cards") or []):
                card_header = None
                card_body: tuple[str, ...] = ()
                card_buttons: tuple[ButtonNeed, ...] = ()
                for sub in card.get("components") or []:
                    sub_kind = str(sub.get("type", "")).upper()
                    if sub_kind == "HEADER":
                        card_header = str(sub.get("format", "IMAGE")).upper()
                    elif sub_kind == "BODY":
                        card_body = placeholders(sub.get("text", ""), fmt)
                    elif sub_kind == "BUTTONS":
                        card_buttons = _buttons(sub)
                cards.append(CardNeeds(card_index, card_header, card_body, card_buttons))
    return TemplateNeeds(
        parameter_format=fmt,
        header_format=header_format,
        header_params=header_params,
        body_params=body_params,
        buttons=buttons,
        cards=tuple(cards),
        header_text=header_text,
        body_text=body_text,
        footer_text=footer_text,
        examples=examples,
    )


def _header_examples(component: dict[str, Any]) -> list[str]:
    example = component.get("example") or {}
    if "header_text_named_params" in example:
        return [p.get("example", "") for p in example["header_text_named_params"]]
    return [str(v) for v in example.get("header_text") or []]


def _body_examples(component: dict[str, Any]) -> list[str]:
    example = component.get("example") or {}
    if "body_text_named_params" in example:
        return [p.get("example", "") for p in example["body_text_named_params"]]
    rows = example.get("body_text") or []
    return [str(v) for v in (rows[0] if rows and isinstance(rows[0], list) else rows)]


def render_text(text: str, names: tuple[str, ...], values: list[str], parameter_format: str) -> str:
    """Fill a template text with values, for previews and the sandbox inbox."""
    mapping = dict(zip(names, values, strict=False))
    pattern = NAMED_RE if parameter_format == "NAMED" else POSITIONAL_RE
    return pattern.sub(lambda m: mapping.get(m.group(1), m.group(0)), text)
