"""Meta's review of a template, before it is submitted: the rules Meta documents for creating
and editing a template (reference/whatsapp-cloud-api.md, "Component creation shapes" and
"Counting a template's parameters"), as a pure function. A template that breaks one is
refused with TEMPLATE_INVALID naming the component and the rule; nothing is written and
nothing goes to Meta. The sandbox approves a template at once only once it passes these.

What is checked, per text component (HEADER TEXT, BODY, FOOTER, and a carousel card's BODY):
- placeholders are `{{1}}`, `{{2}}`... (POSITIONAL, numbered from 1 without gaps) or
  `{{first_name}}` (NAMED: lowercase letters, digits and _), never the other kind, and no
  stray or unbalanced braces;
- each placeholder has a sample value (`example`), as many samples as placeholders (named:
  one per name);
- a body neither starts nor ends with a placeholder, and has no two placeholders side by side
  (only spaces between them);
- lengths: body 1024, header text 60 (one placeholder at most), footer 60 (none);
- a media header (IMAGE, VIDEO, DOCUMENT, GIF) carries a sample (`example.header_handle`);
- buttons: at most 10, 2 URL, 1 PHONE_NUMBER, 1 COPY_CODE, quick replies grouped together;
  labels of 25 characters; a URL button has at most one variable, at the end of its URL, with
  a sample; a COPY_CODE button has its sample code.

Meta's other reasons (policy, wording, "too many variables for the length", whose threshold
Meta does not publish) are left to Meta's review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wacast.kit.errors import WacastError

TOKEN_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
POSITIONAL_NAME = re.compile(r"^\s*(\d+)\s*$")
NAMED_NAME = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*$")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT", "GIF")
HEADER_FORMATS = (*MEDIA_FORMATS, "TEXT", "LOCATION")

BODY_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
BUTTON_TEXT_MAX = 25
URL_MAX = 2000
PHONE_MAX = 20
BUTTONS_MAX = 10
BUTTON_KIND_MAX = {"URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}


@dataclass(frozen=True)
class Problem:
    field: str  # where, e.g. components[1].example
    rule: str  # a short code: PLACEHOLDER_GAP, SAMPLE_MISSING, ...
    message: str


def _placeholders(text: str, fmt: str, where: str, out: list[Problem]) -> list[str]:
    """The placeholders of a text in order of appearance (repeats kept), with what is wrong."""
    names: list[str] = []
    for match in TOKEN_RE.finditer(text):
        inner = match.group(1)
        positional, named = POSITIONAL_NAME.match(inner), NAMED_NAME.match(inner)
        if fmt == "NAMED" and named:
            names.append(named.group(1))
        elif fmt != "NAMED" and positional:
            names.append(str(int(positional.group(1))))
        elif positional or named:
            other = "POSITIONAL ({{1}}, {{2}}…)" if fmt == "NAMED" else "NAMED ({{first_name}})"
            out.append(Problem(where, "PLACEHOLDER_FORMAT",
                               f"{where}: {match.group(0)} is a placeholder of the {other} format; this template is {fmt}"))
        else:
            out.append(Problem(where, "PLACEHOLDER_INVALID",
                               f"{where}: {match.group(0)} is not a placeholder (use {{{{1}}}}, {{{{2}}}}… or, NAMED, {{{{first_name}}}}: lowercase letters, digits and _)"))
    rest = TOKEN_RE.sub("", text)
    if "{{" in rest or "}}" in rest:
        out.append(Problem(where, "PLACEHOLDER_BRACES", f"{where}: a placeholder has unbalanced curly braces (write {{{{1}}}})"))
    return names


def _sequence(names: list[str], fmt: str, where: str, out: list[Problem]) -> None:
    if fmt == "NAMED" or not names:
        return
    numbers = sorted({int(n) for n in names})
    if numbers != list(range(1, len(numbers) + 1)):
        missing = [str(n) for n in range(1, max(numbers) + 1) if n not in numbers]
        detail = f"{{{{{missing[0]}}}}} is missing" if missing else "numbering must start at {{1}}"
        out.append(Problem(where, "PLACEHOLDER_GAP",
                           f"{where}: placeholders must be numbered from {{{{1}}}} without gaps ({detail})"))


def _length(text: str, limit: int, where: str, label: str, out: list[Problem]) -> None:
    if len(text) > limit:
        out.append(Problem(where, "TOO_LONG", f"{where}: the {label} has {len(text)} characters; Meta allows {limit}"))


def _example(component: dict[str, Any]) -> dict[str, Any]:
    example = component.get("example")
    return example if isinstance(example, dict) else {}


def _filled(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip() != ""


def _positional_samples(value: Any) -> list[Any] | None:
    """body_text is [[...]] (one row); header_text is [...]."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return value[0]
    return value if isinstance(value, list) else None


def _samples(component: dict[str, Any], names: list[str], fmt: str, key: str, where: str, out: list[Problem]) -> None:
    """Each placeholder has a sample: as many samples as placeholders (named: one per name)."""
    distinct = list(dict.fromkeys(names))
    example = _example(component)
    field = f"{where}.example"
    if fmt == "NAMED":
        given = example.get(f"{key}_named_params")
        if not distinct:
            return
        if not isinstance(given, list) or not given:
            out.append(Problem(field, "SAMPLE_MISSING",
                               f"{where}: each placeholder needs a sample value ({key}_named_params for {', '.join('{{' + n + '}}' for n in distinct)})"))
            return
        by_name: dict[str, Any] = {}
        for item in given:
            if isinstance(item, dict):
                by_name[str(item.get("param_name"))] = item.get("example")
        missing = [n for n in distinct if not _filled(by_name.get(n))]
        extra = [n for n in by_name if n not in distinct]
        if missing:
            out.append(Problem(field, "SAMPLE_MISSING",
                               f"{where}: no sample value for {', '.join('{{' + n + '}}' for n in missing)}"))
        if extra:
            out.append(Problem(field, "SAMPLE_COUNT",
                               f"{where}: samples given for {', '.join(extra)}, which the text does not use"))
        return
    samples = _positional_samples(example.get(key))
    count = len(distinct)
    if not count:
        if samples:
            out.append(Problem(field, "SAMPLE_COUNT", f"{where}: {len(samples)} sample value(s) for a text without placeholders"))
        return
    if not samples:
        out.append(Problem(field, "SAMPLE_MISSING",
                           f"{where}: each placeholder needs a sample value: {count} placeholder(s), no samples"))
        return
    if len(samples) != count:
        out.append(Problem(field, "SAMPLE_COUNT",
                           f"{where}: {count} placeholder(s) but {len(samples)} sample value(s); give one per placeholder"))
        return
    empty = [str(i + 1) for i, value in enumerate(samples) if not _filled(value)]
    if empty:
        out.append(Problem(field, "SAMPLE_MISSING", f"{where}: the sample value of {{{{{empty[0]}}}}} is empty"))


def _body(component: dict[str, Any], fmt: str, where: str, out: list[Problem]) -> None:
    text = component.get("text")
    if not isinstance(text, str) or not text.strip():
        out.append(Problem(where, "BODY_EMPTY", f"{where}: the body text is required"))
        return
    _length(text, BODY_MAX, where, "body", out)
    names = _placeholders(text, fmt, where, out)
    _sequence(names, fmt, where, out)
    stripped = text.strip()
    if re.match(r"\{\{[^{}]*\}\}", stripped):
        out.append(Problem(where, "PLACEHOLDER_AT_EDGE", f"{where}: the body cannot start with a placeholder; put some words before it"))
    if re.search(r"\{\{[^{}]*\}\}$", stripped):
        out.append(Problem(where, "PLACEHOLDER_AT_EDGE", f"{where}: the body cannot end with a placeholder; end it with words or punctuation"))
    if re.search(r"\}\}\s*\{\{", text):
        out.append(Problem(where, "PLACEHOLDERS_ADJACENT", f"{where}: two placeholders are next to each other; separate them with words"))
    _samples(component, names, fmt, "body_text", where, out)


def _header(component: dict[str, Any], fmt: str, where: str, out: list[Problem]) -> None:
    kind = str(component.get("format", "TEXT")).upper()
    if kind not in HEADER_FORMATS:
        out.append(Problem(where, "HEADER_FORMAT", f"{where}: header format must be one of {', '.join(HEADER_FORMATS)}"))
        return
    if kind == "TEXT":
        text = component.get("text")
        if not isinstance(text, str) or not text.strip():
            out.append(Problem(where, "HEADER_EMPTY", f"{where}: a TEXT header needs its text"))
            return
        _length(text, HEADER_MAX, where, "header text", out)
        names = _placeholders(text, fmt, where, out)
        if len(set(names)) > 1:
            out.append(Problem(where, "HEADER_PLACEHOLDERS", f"{where}: a header text has at most one placeholder"))
        _sequence(names, fmt, where, out)
        _samples(component, names, fmt, "header_text", where, out)
    elif kind in MEDIA_FORMATS:
        handles = _example(component).get("header_handle")
        if not (isinstance(handles, list) and handles and _filled(handles[0])):
            out.append(Problem(f"{where}.example", "SAMPLE_MISSING",
                               f"{where}: a {kind} header needs a sample ({kind.lower()} handle or URL in example.header_handle)"))


def _footer(component: dict[str, Any], where: str, out: list[Problem]) -> None:
    text = component.get("text")
    if not isinstance(text, str) or not text.strip():
        out.append(Problem(where, "FOOTER_EMPTY", f"{where}: a footer needs its text"))
        return
    _length(text, FOOTER_MAX, where, "footer", out)
    if TOKEN_RE.search(text):
        out.append(Problem(where, "FOOTER_PLACEHOLDERS", f"{where}: a footer cannot have placeholders"))


def _buttons(component: dict[str, Any], where: str, out: list[Problem]) -> None:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not buttons or not all(isinstance(b, dict) for b in buttons):
        out.append(Problem(where, "BUTTONS_INVALID", f"{where}: buttons must be a non-empty list of buttons"))
        return
    if len(buttons) > BUTTONS_MAX:
        out.append(Problem(where, "BUTTONS_TOO_MANY", f"{where}: {len(buttons)} buttons; Meta allows {BUTTONS_MAX}"))
    kinds = [str(b.get("type", "")).upper() for b in buttons]
    for kind, limit in BUTTON_KIND_MAX.items():
        if kinds.count(kind) > limit:
            out.append(Problem(where, "BUTTONS_TOO_MANY", f"{where}: {kinds.count(kind)} {kind} buttons; Meta allows {limit}"))
    quick = [i for i, k in enumerate(kinds) if k == "QUICK_REPLY"]
    if quick and quick[-1] - quick[0] + 1 != len(quick):
        out.append(Problem(where, "BUTTONS_ORDER", f"{where}: quick-reply buttons must be grouped together (before or after the others)"))
    for index, (button, kind) in enumerate(zip(buttons, kinds, strict=True)):
        at = f"{where}.buttons[{index}]"
        label = button.get("text")
        if kind in ("QUICK_REPLY", "URL", "PHONE_NUMBER"):
            if not isinstance(label, str) or not label.strip():
                out.append(Problem(at, "BUTTON_TEXT", f"{at}: a {kind} button needs its text"))
            else:
                _length(label, BUTTON_TEXT_MAX, at, "button text", out)
        if kind == "URL":
            url = button.get("url")
            if not isinstance(url, str) or not url.strip():
                out.append(Problem(at, "BUTTON_URL", f"{at}: a URL button needs its url"))
                continue
            _length(url, URL_MAX, at, "URL", out)
            tokens = list(TOKEN_RE.finditer(url))
            if len(tokens) > 1:
                out.append(Problem(at, "BUTTON_URL", f"{at}: a URL button has at most one variable"))
            elif tokens:
                if tokens[0].end() != len(url.rstrip()):
                    out.append(Problem(at, "BUTTON_URL", f"{at}: the URL's variable must be at its end (https://example.com/track/{{{{1}}}})"))
                example = button.get("example")
                sample = example[0] if isinstance(example, list) and example else example
                if not _filled(sample):
                    out.append(Problem(f"{at}.example", "SAMPLE_MISSING", f"{at}: the URL's variable needs a sample value"))
        elif kind == "PHONE_NUMBER":
            phone = button.get("phone_number")
            if not isinstance(phone, str) or not phone.strip():
                out.append(Problem(at, "BUTTON_PHONE", f"{at}: a PHONE_NUMBER button needs its phone_number"))
            else:
                _length(phone, PHONE_MAX, at, "phone number", out)
        elif kind == "COPY_CODE":
            example = button.get("example")
            sample = example[0] if isinstance(example, list) and example else example
            if not _filled(sample):
                out.append(Problem(f"{at}.example", "SAMPLE_MISSING", f"{at}: a COPY_CODE button needs a sample code (example)"))


def _components(components: list[Any], fmt: str, where: str, out: list[Problem], *, card: bool = False) -> None:
    seen: dict[str, int] = {}
    for index, component in enumerate(components):
        at = f"{where}[{index}]"
        if not isinstance(component, dict):
            out.append(Problem(at, "COMPONENT_INVALID", f"{at}: a component must be an object"))
            continue
        kind = str(component.get("type", "")).upper()
        seen[kind] = seen.get(kind, 0) + 1
        if seen[kind] == 2:
            out.append(Problem(at, "COMPONENT_REPEATED", f"{at}: a template has one {kind} component at most"))
        if kind == "BODY":
            _body(component, fmt, at, out)
        elif kind == "HEADER":
            _header(component, fmt, at, out)
        elif kind == "FOOTER":
            _footer(component, at, out)
        elif kind == "BUTTONS":
            _buttons(component, at, out)
        elif kind == "CAROUSEL" and not card:
            for card_index, item in enumerate(component.get("cards") or []):
                if isinstance(item, dict) and isinstance(item.get("components"), list):
                    _components(item["components"], fmt, f"{at}.cards[{card_index}].components", out, card=True)


def problems(definition: dict[str, Any]) -> list[Problem]:
    """Everything Meta would refuse in this definition (validate_definition's normalized
    fields: `components`, `parameter_format`), in reading order; [] when none."""
    out: list[Problem] = []
    fmt = str(definition.get("parameter_format") or "POSITIONAL").upper()
    components = definition.get("components")
    if isinstance(components, list):
        _components(components, fmt, "components", out)
    return out


def check(definition: dict[str, Any]) -> None:
    """Refuse (400 TEMPLATE_INVALID) a definition Meta would refuse: the first problem is the
    message, every problem is in `details.problems`."""
    found = problems(definition)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise WacastError(
            f"Meta would refuse this template: {first.message}{more}", "TEMPLATE_INVALID",
            {"field": first.field, "rule": first.rule,
             "problems": [{"field": p.field, "rule": p.rule, "message": p.message} for p in found]},
        )
