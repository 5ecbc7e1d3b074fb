"""The one CSV writer of wacast, with the one formula guard (CSV injection), and the one
tolerant reader for uploaded files.

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` as a formula.
It also runs it after leading spaces or a tab, and some read the full-width forms (`＝`, `＋`,
`－`, `＠`, typed by Japanese and Chinese input methods) as the ASCII ones; a leading tab or
carriage return hides a formula on its own. `rows_to_text`, the writer every CSV of wacast goes
through (contact and segment exports, import error reports, campaign audiences), passes every
cell through `guard`, which prefixes such a cell with a quote. Plain signed numbers
(`+91 98...`, `-5`, `-2.5`) stay as they are.

`records` reads an uploaded CSV one record at a time and never raises on a bad record: a cell
over the field limit, or a quote left open that would swallow the following lines, comes
back as that record's problem, with the line it starts on, so an import can report it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

FORMULA_STARTS = "=+-@"
HIDING_STARTS = "\t\r\n"
_PLAIN_NUMBER = re.compile(r"[+-][\d ]*\d(?:[.,]\d+)?")


def _formula_like(text: str) -> bool:
    if text[0] in HIDING_STARTS:
        return True
    lead = unicodedata.normalize("NFKC", text.lstrip()[:1])  # full-width and small forms -> ASCII
    if not lead or lead[0] not in FORMULA_STARTS:
        return False
    return not _PLAIN_NUMBER.fullmatch(unicodedata.normalize("NFKC", text.strip()))


def guard(value: Any) -> str:
    """`value` as a cell that no spreadsheet runs as a formula (idempotent: a guarded cell
    starts with a quote)."""
    text = "" if value is None else str(value)
    if text and _formula_like(text):
        return "'" + text
    return text


def rows_to_text(rows: Iterable[Iterable[Any]]) -> str:
    """CSV text of `rows` (the excel dialect, CRLF line ends), every cell guarded."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([guard(cell) for cell in row] for row in rows)
    return out.getvalue()


@dataclass
class Record:
    line: int  # the file line the record starts on (1 is the header)
    cells: list[str]
    problem: str | None = None  # why the record cannot be read as it stands


def _swallowed(cells: list[str], delimiter: str, first: int, last: int) -> str | None:
    """A cell whose later lines contain the delimiter took whole rows into one quoted cell:
    a quote opened and not closed where the writer meant."""
    if last == first:
        return None
    for cell in cells:
        _, newline, rest = cell.partition("\n")
        if newline and delimiter in rest:
            return (f"a quote opened on line {first} is not closed before line {last}: the lines between are read as "
                    "one cell; close the quote (or double it inside a quoted cell)")
    return None


def records(text: str, dialect: Any = csv.excel) -> Iterator[Record]:
    """Every record of `text` (the header included), with its problem if it has one."""
    lines = io.StringIO(text)
    reader = csv.reader(lines, dialect)
    delimiter = getattr(dialect, "delimiter", ",")
    last = 0
    while True:
        first = last + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a cell over the field limit; the reader goes on after it
            last = reader.line_num
            yield Record(first, [], f"line {first} cannot be read as CSV: {error}")
            continue
        last = reader.line_num
        yield Record(first, cells, _swallowed(cells, delimiter, first, last))
