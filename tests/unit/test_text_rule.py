"""The base text rule (kit/text.py) and the CSV formula guard (kit/csv.py): pure functions."""

from __future__ import annotations

import pytest

from wacast.kit import text
from wacast.kit.csv import guard, rows_to_text
from wacast.kit.errors import WacastError


@pytest.mark.parametrize("value", ["Asha", "Ünïcödé ✓", "😀 emoji", "", "a b  c"])
def test_plain_text_passes(value: str) -> None:
    assert text.problem(value) is None
    assert text.check("name", value) == value


@pytest.mark.parametrize(("value", "phrase"), [
    ("As\x00ha", "NUL characters"),
    ("bell\x07", "control characters"),
    ("del\x7f", "control characters"),
    ("c1\x85", "control characters"),
    ("lone\ud800", "lone surrogate"),
    ("lone\udfff", "lone surrogate"),
    ("two\nlines", "line breaks or tabs"),
    ("tab\there", "line breaks or tabs"),
])
def test_forbidden_characters_are_field_invalid_naming_the_field(value: str, phrase: str) -> None:
    with pytest.raises(WacastError) as raised:
        text.check("name", value)
    error = raised.value
    assert error.code == "FIELD_INVALID" and error.details["field"] == "name"
    assert phrase in error.message and error.message.startswith("name ")
    assert error.details["position"] == next(i for i, ch in enumerate(value) if ch in "\x00\x07\x7f\x85\ud800\udfff\n\t")


def test_multiline_fields_allow_newline_tab_and_crlf_but_not_a_lone_cr() -> None:
    assert text.check("body", "line 1\r\nline 2\n\tindented", multiline=True)
    for bad in ("old mac\rline", "nul\x00", "\x0b vertical tab"):
        with pytest.raises(WacastError) as raised:
            text.check("body", bad, multiline=True)
        assert raised.value.code == "FIELD_INVALID"


def test_length_is_field_too_long_with_the_limit() -> None:
    assert text.check("name", "x" * 200, max_len=200)
    with pytest.raises(WacastError) as raised:
        text.check("name", "x" * 100_000, max_len=200)
    assert raised.value.code == "FIELD_TOO_LONG"
    assert raised.value.details == {"field": "name", "max_length": 200, "length": 100_000}


def test_a_forbidden_character_is_reported_before_the_length() -> None:
    with pytest.raises(WacastError) as raised:
        text.check("name", "\x00" + "x" * 500, max_len=10)
    assert raised.value.code == "FIELD_INVALID"


def test_clean_strips_and_refuses_non_strings() -> None:
    assert text.clean("tag", "  vip ") == "vip"
    with pytest.raises(WacastError) as raised:
        text.clean("tag", 5)
    assert raised.value.code == "FIELD_INVALID" and raised.value.details["expected"] == "a string"


def test_check_tree_checks_keys_and_nested_values() -> None:
    text.check_tree({"a": ["x", {"b": "multi\nline"}]})
    with pytest.raises(WacastError) as raised:
        text.check_tree({"a": [{"b": "n\x00"}]}, "filter")
    assert raised.value.details["field"] == "filter.a[0].b"
    with pytest.raises(WacastError):
        text.check_tree({"k\x00ey": "v"})
    deep: list = []
    for _ in range(80):
        deep = [deep]
    with pytest.raises(WacastError):
        text.check_tree(deep)


@pytest.mark.parametrize(("cell", "out"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("+91 98765 43210", "+91 98765 43210"), ("-5", "-5"), ("Asha", "Asha"), ("", ""), (None, ""), (7, "7"),
])
def test_formula_guard(cell: object, out: str) -> None:
    assert guard(cell) == out


def test_rows_to_text_is_excel_csv() -> None:
    assert rows_to_text([["a", "b,c"], ["d\"e", ""]]) == 'a,"b,c"\r\n"d""e",\r\n'
