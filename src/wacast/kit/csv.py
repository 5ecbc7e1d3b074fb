"""The one CSV writer of wacast, with the one formula guard (CSV injection).

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` as a formula
(and a leading tab or carriage return hides one), so every cell that did not come from
wacast itself (names, sources, tags, attribute values) goes through `guard`, which prefixes
such a cell with a quote. Plain signed numbers (`+91 98...`, `-5`) stay as they are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = "=+-@\t\r"


def guard(value: Any) -> str:
    """`value` as a cell that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    if text and text[0] in FORMULA_STARTS and not (text[0] in "+-" and text[1:].replace(" ", "").isdigit()):
        return "'" + text
    return text


def rows_to_text(rows: Iterable[Iterable[Any]]) -> str:
    """CSV text of `rows` (the excel dialect, CRLF line ends); cells are written as given:
    guard the ones that come from users before."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(rows)
    return out.getvalue()
