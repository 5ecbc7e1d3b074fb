"""The one rule for text that enters wacast, at every entry point: the campaign API, REST,
dashboard forms, CSV import and the CLI. No path accepts what another refuses.

The base rule refuses, with a 400 that names the field:
- NUL (PostgreSQL cannot store it in text: it used to surface as a 500 there),
- every other control character (C0, DEL, C1), except newline and tab where the field allows
  them (`multiline=True`; a carriage return is accepted there and kept only as part of CRLF),
- lone surrogates (not Unicode text; they cannot be encoded to UTF-8 for storage),
- more than `max_len` characters.

A single-line field also refuses U+2028 and U+2029 (LINE and PARAGRAPH SEPARATOR: line
breaks to browsers, JSON readers and Meta alike).

`is_blank` says whether a value is only whitespace and invisible characters (ZERO WIDTH SPACE,
ZWNJ, ZWJ, WORD JOINER, BOM, the Hangul fillers, ...): such a value is empty to a reader, and
fields that must not be empty refuse it. Invisible characters inside visible text stay (ZWJ
joins emoji, ZWNJ is part of Persian spelling).

Stricter profiles sit on top where Meta needs them: template parameter values
(templates/components.py `check_param_text`: not blank, no line break or tab, not 5 spaces in
a row). The URL's path and query pass the single-line rule in kit/request_text.py.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from wacast.kit.errors import WacastError

# C0 controls but tab and newline (and CR, judged below), DEL, C1 controls, lone surrogates.
_FORBIDDEN_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]|\r(?!\n)")
_FORBIDDEN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Not whitespace to str.isspace() and not format characters (Cf), but shown as nothing.
_FILLERS = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0")

DEFAULT_MAX = 4096


def _describe(char: str) -> str:
    if char == "\x00":
        return "NUL characters"
    if "\ud800" <= char <= "\udfff":
        return "invalid Unicode (a lone surrogate)"
    if char in "\n\r\t\u2028\u2029":
        return "line breaks or tabs"
    return "control characters"


def invisible(char: str) -> bool:
    """Whether `char` shows as nothing: whitespace, a format character (Cf), a filler."""
    return char.isspace() or char in _FILLERS or "\ufe00" <= char <= "\ufe0f" or unicodedata.category(char) == "Cf"


def is_blank(value: str) -> bool:
    """Whether `value` is empty to a reader: nothing but whitespace and invisible characters."""
    return all(invisible(char) for char in value)


def problem(value: str, *, max_len: int = DEFAULT_MAX, multiline: bool = False) -> tuple[str, dict[str, Any]] | None:
    """What is wrong with `value` under the base rule (a phrase and details), or None."""
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_LINE).search(value)
    if found is not None:
        char = found.group(0)
        return f"must not contain {_describe(char)}", {"character": f"U+{ord(char):04X}", "position": found.start()}
    if len(value) > max_len:
        return f"is too long (at most {max_len} characters)", {"max_length": max_len, "length": len(value)}
    return None


def check(field: str, value: str, *, max_len: int = DEFAULT_MAX, multiline: bool = False) -> str:
    """`value` if it passes the base rule; else a WacastError naming `field` (400).

    Codes: FIELD_INVALID for a forbidden character, FIELD_TOO_LONG for the length (the campaign
    API's codes, which AiSensy clients already handle)."""
    found = problem(value, max_len=max_len, multiline=multiline)
    if found is None:
        return value
    phrase, details = found
    code = "FIELD_TOO_LONG" if "max_length" in details else "FIELD_INVALID"
    raise WacastError(f"{field} {phrase}", code, {"field": field, **details})


def clean(field: str, value: Any, *, max_len: int = DEFAULT_MAX, multiline: bool = False, strip: bool = True) -> str:
    """A string field from a form, a CSV cell or a CLI argument: checked, then stripped."""
    if not isinstance(value, str):
        raise WacastError(f"{field} must be a string", "FIELD_INVALID", {"field": field, "expected": "a string"})
    check(field, value, max_len=max_len, multiline=multiline)
    return value.strip() if strip else value


def check_tree(value: Any, field: str = "body", *, max_len: int = DEFAULT_MAX, depth: int = 0) -> None:
    """Every string (keys included) in a parsed JSON value passes the base rule (multiline:
    JSON values such as a template's body text carry newlines). For bodies stored as they
    come (template definitions, segment filters, attributes)."""
    if depth > 64:
        raise WacastError(f"{field} is nested too deeply", "FIELD_INVALID", {"field": field})
    if isinstance(value, str):
        check(field, value, max_len=max_len, multiline=True)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if isinstance(key, str) and len(key) <= 100 else field
            if isinstance(key, str):
                check(f"{field} (a key)", key, max_len=200)
            check_tree(item, name, max_len=max_len, depth=depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_tree(item, f"{field}[{i}]", max_len=max_len, depth=depth + 1)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def scrub_tree(value: Any) -> Any:
    """`value` (parsed JSON) with every NUL and lone surrogate, in keys and strings, replaced by
    U+FFFD. For what a provider sends that wacast keeps as sent and must not refuse (Meta's
    signed webhooks: a refusal is retried for days): PostgreSQL cannot store those two."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub_tree(k) if isinstance(k, str) else k: scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_tree(item) for item in value]
    return value
