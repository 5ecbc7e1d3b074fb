"""kit/csv.py: the one formula guard on every cell written, and the reader that turns a bad
record into that record's problem (pure functions)."""

from __future__ import annotations

import csv

import pytest

from wacast.kit.csv import guard, records, rows_to_text


@pytest.mark.parametrize("cell", [
    "=1+1", " =1+1", "\t=1+1", "\r=1+1", "\n=1+1", "   @SUM(A1)", "\u3000=1+1",  # leading (ideographic) spaces hide nothing
    "\uff1d1+1", "\uff0bcmd", "\uff0d2+3", "\uff20SUM(A1)",  # the full-width forms
    "\ufe661+1", "\ufe62cmd", "\ufe632+3", "\ufe6bSUM(A1)",  # and the small forms
    "+91-98765", "-1e5",
])
def test_formula_like_cells_are_guarded(cell: str) -> None:
    assert guard(cell) == "'" + cell
    assert guard(guard(cell)) == guard(cell)  # idempotent


@pytest.mark.parametrize("cell", ["+91 98765 43210", "-5", "-2.5", " -5", "+7", "Asha", "a=b", "2026-11-27", "", "'=x"])
def test_plain_values_and_signed_numbers_stay(cell: str) -> None:
    assert guard(cell) == cell


def test_rows_to_text_guards_every_cell() -> None:
    written = rows_to_text([["=h", 1, None], ["\uff1dx", " @y", "-3"]])
    assert list(csv.reader(written.splitlines())) == [["'=h", "1", ""], ["'\uff1dx", "' @y", "-3"]]


def test_records_give_lines_and_read_on_after_an_oversized_cell() -> None:
    text = "phone,name\n+911,Asha\n+912," + "x" * 140_000 + "\n+913,Carol\n\n+914,\"Two\nlines\"\n+915,Eve\n"
    got = [(r.line, r.cells[:1], r.problem is not None) for r in records(text)]
    assert got == [(1, ["phone"], False), (2, ["+911"], False), (3, [], True), (4, ["+913"], False), (5, [], False),
                   (6, ["+914"], False), (8, ["+915"], False)]
    assert "field limit" in next(r for r in records(text) if r.line == 3).problem


@pytest.mark.parametrize("text", [
    "phone,name\n+911,\"Asha\n+912,Bob\"\n+913,Carol\n",  # closed by a later quote: Bob was swallowed
    "phone,name\n+911,\"Asha\n+912,Bob\n+913,Carol\n",  # never closed: the rest of the file
])
def test_a_quote_left_open_is_the_record_s_problem(text: str) -> None:
    found = list(records(text))
    assert found[1].line == 2 and "quote opened on line 2" in found[1].problem, found


def test_a_quoted_cell_over_two_lines_without_a_delimiter_is_fine() -> None:
    found = list(records("phone,address\n+911,\"12 Main St\nPune\"\n", csv.excel))
    assert [(r.line, r.cells, r.problem) for r in found[1:]] == [(2, ["+911", "12 Main St\nPune"], None)]
