"""An uploaded audience CSV, read: a phone column, an optional name, every other column a
value the plan's `$attribute` sources can use. Pure (bytes in, rows out)."""

from __future__ import annotations

import csv
import io
from typing import Any

from wacast.kit import phone as phones
from wacast.kit import text
from wacast.kit.errors import WacastError

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_CSV_ROWS = 200_000
MAX_CELL = 1024
MAX_REJECTS_LISTED = 100
PHONE_COLUMNS = ("phone", "mobile", "destination", "number", "phone_number", "whatsapp")


def _reject(rejected: list[dict[str, Any]], line: int, phone: str, reason: str) -> None:
    # Every reject is counted; only the first ones are listed with their reason.
    rejected.append({"line": line, "phone": phone[:40], "reason": reason} if len(rejected) < MAX_REJECTS_LISTED else {"line": line})


def _text_problem(names: list[str], record: list[str]) -> str | None:
    """What breaks the base text rule (kit/text.py) in a row's cells, naming the column."""
    for i, cell in enumerate(record[: len(names)]):
        found = text.problem(cell, max_len=MAX_CELL)
        if found is not None:
            return f"{names[i] or f'column {i + 1}'} {found[0]}"
    return None


def parse_csv(data: bytes, default_country: str) -> tuple[list[tuple[str, str, dict[str, str]]], list[dict[str, Any]]]:
    """(phone, name, values) per valid row, first occurrence of a phone wins; and the rejects."""
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WacastError("audience CSV must be UTF-8", "CSV_INVALID", {"field": "audience"}) from None
    if "\x00" in decoded:
        raise WacastError("audience CSV must not contain NUL characters", "CSV_INVALID", {"field": "audience"})
    reader = csv.reader(io.StringIO(decoded))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise WacastError("audience CSV is empty", "CSV_INVALID", {"field": "audience"}) from None
    names = [h.strip() for h in header]
    for name in names:
        text.check("audience (a column name)", name, max_len=200)
    lowered = [h.lower() for h in names]
    phone_col = next((lowered.index(c) for c in PHONE_COLUMNS if c in lowered), None)
    if phone_col is None:
        raise WacastError(f"audience CSV needs a phone column (one of: {', '.join(PHONE_COLUMNS)})", "CSV_INVALID", {"field": "audience", "header": names})
    name_col = lowered.index("name") if "name" in lowered else None
    rows: list[tuple[str, str, dict[str, str]]] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        for line, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(rejected) >= MAX_CSV_ROWS:
                raise WacastError(f"audience CSV has too many rows (at most {MAX_CSV_ROWS})", "CSV_TOO_LARGE", {"field": "audience"})
            raw_phone = record[phone_col].strip() if phone_col < len(record) else ""
            problem = _text_problem(names, record)
            if problem is not None:
                _reject(rejected, line, raw_phone, problem)
                continue
            try:
                phone = phones.normalize(raw_phone, default_country)
            except phones.InvalidNumber:
                _reject(rejected, line, raw_phone, "invalid number")
                continue
            if phone in seen:
                continue
            seen.add(phone)
            values = {names[i]: cell.strip() for i, cell in enumerate(record[: len(names)]) if i != phone_col and names[i] and cell.strip()}
            name = record[name_col].strip() if name_col is not None and name_col < len(record) else ""
            rows.append((phone, name[:200], values))
    except csv.Error as error:
        raise WacastError(f"audience CSV is malformed: {error}", "CSV_INVALID", {"field": "audience"}) from None
    if not rows:
        raise WacastError("audience CSV has no valid phone numbers", "CSV_INVALID", {"field": "audience", "rejected": rejected[:20]})
    return rows, rejected
