"""The template-parameter profile of the text rule (templates/components.check_param_text)
and the blank test of kit/text.py: what Meta would refuse is refused, with one code each;
what AiSensy passes on stays accepted (pure)."""

from __future__ import annotations

import pytest

from wacast.kit import text
from wacast.kit.errors import WacastError
from wacast.templates.components import check_param_text, resolve_value


@pytest.mark.parametrize(("value", "code"), [
    ("a\x0bb", "FIELD_INVALID"), ("a\x0cb", "FIELD_INVALID"), ("a\x07b", "FIELD_INVALID"), ("a\x85b", "FIELD_INVALID"),
    ("a\x00b", "FIELD_INVALID"), ("a\rb", "FIELD_INVALID"),
    ("a\u2028b", "PARAM_INVALID_TEXT"), ("a\u2029b", "PARAM_INVALID_TEXT"), ("a\nb", "PARAM_INVALID_TEXT"), ("a\tb", "PARAM_INVALID_TEXT"),
    ("a     b", "PARAM_INVALID_TEXT"),
    ("", "PARAM_EMPTY"), ("   ", "PARAM_EMPTY"), ("\u200b", "PARAM_EMPTY"), ("\u200c\u200d", "PARAM_EMPTY"), ("\u2060", "PARAM_EMPTY"),
    ("\ufeff", "PARAM_EMPTY"), (" \u00a0\u3000", "PARAM_EMPTY"), ("\u3164", "PARAM_EMPTY"), ("\u200e\ufe0f", "PARAM_EMPTY"),
    ("x" * 1025, "PARAM_TOO_LONG"),
])
def test_refused_values(value: str, code: str) -> None:
    with pytest.raises(WacastError) as raised:
        check_param_text(value, "templateParams[0]", 1024)
    assert raised.value.code == code and raised.value.details["field"] == "templateParams[0]", raised.value.body()


@pytest.mark.parametrize("value", [
    "Asha", "ORD-1042", "👨\u200d👩\u200d👧 family", "می\u200cخواهم", "\u200fשלום", "a    b", "₹1,299", "Straße", "a\u00a0b",
])
def test_what_aisensy_passes_on_is_accepted(value: str) -> None:
    check_param_text(value, "templateParams[0]", 1024)


def test_a_blank_attribute_falls_back() -> None:
    assert resolve_value("$city", 0, "Asha", {"city": "\u200b"}, {"city": "there"}) == "there"


def test_single_line_fields_refuse_unicode_line_separators_multiline_fields_keep_them() -> None:
    assert text.problem("vip\u2028gold") is not None
    assert text.problem("line\u2028line", multiline=True) is None
    assert text.is_blank("\u200b \ufeff") and not text.is_blank("\u200ba")
