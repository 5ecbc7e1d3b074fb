"""Reading a rate card's rows (pure, no I/O): a CSV file, or the same rows as JSON, checked as a
whole. Every cell passes the one text rule (kit/text.py); every bad row is reported with its
line and field, and one bad row refuses the whole file (nothing is saved).

Columns (a header row, in any order; names in any case): `category` (one of Meta's pricing
categories), `country` (an ISO 3166 code such as IN, several separated by spaces for a region
at one price, or `*` for every country the card does not name), `price` (per message, in the
card's currency, a dot for decimals, at most 6 of them), and `region` (optional: a label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wacast.billing.pricing import ANY_COUNTRY, CATEGORIES, money, parse_price
from wacast.kit import csv as kit_csv
from wacast.kit import text
from wacast.kit.errors import WacastError
from wacast.kit.phone import is_valid_region

COLUMNS = ("category", "country", "price", "region")
REQUIRED = ("category", "country", "price")
MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
MAX_CELL = 200
MAX_REPORTED = 50  # row problems listed in one answer


@dataclass(frozen=True)
class RateRow:
    category: str
    country: str
    price_micros: int
    region: str | None


def _problem(errors: list[dict[str, Any]], line: int, field: str, problem: str) -> None:
    errors.append({"line": line, "field": field, "problem": problem})


def check_rows(cells: list[tuple[int, dict[str, str]]]) -> list[RateRow]:
    """Rows as (line, {column: cell}) into rates; WacastError CSV_ROW_INVALID listing every bad
    row (details.errors: line, field, problem) when any is wrong."""
    errors: list[dict[str, Any]] = []
    rows: list[RateRow] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in cells:
        values: dict[str, str] = {}
        bad = False
        for column in COLUMNS:
            raw = row.get(column, "")
            if not isinstance(raw, str):
                raw = "" if raw is None else str(raw)
            found = text.problem(raw, max_len=MAX_CELL)
            if found is not None:
                _problem(errors, line, column, found[0])
                bad = True
            values[column] = raw.strip()
        if bad:
            continue
        category = values["category"].lower()
        if category not in CATEGORIES:
            _problem(errors, line, "category", f"{values['category'] or '(empty)'} is not one of {', '.join(CATEGORIES)}")
            continue
        countries = values["country"].upper().replace(",", " ").replace(";", " ").split()
        if not countries:
            _problem(errors, line, "country", "is empty: give an ISO code (IN), several for a region (DE FR IT), or * for every other country")
            continue
        unknown = [c for c in countries if c != ANY_COUNTRY and not is_valid_region(c)]
        if unknown:
            _problem(errors, line, "country", f"{' '.join(unknown)} is not an ISO 3166 country code")
            continue
        price = parse_price(values["price"])
        if price is None:
            _problem(errors, line, "price", f"{values['price'] or '(empty)'} is not a price: a number such as 0.0786, not negative, at most 6 decimals")
            continue
        for country in countries:
            first = seen.get((category, country))
            if first is not None:
                _problem(errors, line, "country", f"{category} to {country} is already priced on line {first}")
                bad = True
                continue
            seen[(category, country)] = line
            rows.append(RateRow(category, country, price, values["region"] or None))
    if errors:
        shown = errors[:MAX_REPORTED]
        first = shown[0]
        raise WacastError(
            f"The rate card has {len(errors)} bad row(s); nothing was saved. Line {first['line']}, {first['field']}: {first['problem']}",
            "CSV_ROW_INVALID", {"errors": shown, "more": len(errors) - len(shown)},
        )
    if not rows:
        raise WacastError("The rate card has no rates", "CSV_EMPTY")
    return rows


def parse_csv(data: bytes | str) -> list[RateRow]:
    """A rate card CSV (UTF-8, a header row) into its rates, all or nothing."""
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise WacastError(f"The rate card file is too large (at most {MAX_BYTES // 1024} KB)", "CSV_TOO_LARGE", {"max_bytes": MAX_BYTES})
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WacastError("The rate card file is not UTF-8 text: save it as \"CSV UTF-8\"", "CSV_NOT_UTF8") from None
    elif len(data) > MAX_BYTES:
        raise WacastError(f"The rate card file is too large (at most {MAX_BYTES // 1024} KB)", "CSV_TOO_LARGE", {"max_bytes": MAX_BYTES})
    data = data.lstrip("\ufeff")
    if not data.strip():
        raise WacastError("The rate card file is empty", "CSV_EMPTY")
    if "\x00" in data:
        raise WacastError("The rate card file cannot be read as CSV: it contains NUL characters", "CSV_INVALID")
    records = kit_csv.records(data)
    header = next(records, None)
    if header is None or header.problem:
        raise WacastError("The rate card file's header cannot be read as CSV", "CSV_INVALID")
    names = [cell.strip().lower() for cell in header.cells]
    missing = [c for c in REQUIRED if c not in names]
    unknown = [n for n in names if n not in COLUMNS]
    if missing or unknown:
        raise WacastError(
            f"The rate card needs the columns {', '.join(REQUIRED)} (and optionally region)"
            + (f"; missing: {', '.join(missing)}" if missing else "") + (f"; unknown: {', '.join(unknown[:10])}" if unknown else ""),
            "CSV_INVALID", {"missing": missing, "unknown": unknown[:10], "columns": list(COLUMNS)},
        )
    cells: list[tuple[int, dict[str, str]]] = []
    problems: list[dict[str, Any]] = []
    for record in records:
        if record.problem:
            _problem(problems, record.line, "row", record.problem)
            continue
        if not any(c.strip() for c in record.cells):
            continue  # a blank line
        if len(record.cells) != len(names):
            _problem(problems, record.line, "row", f"has {len(record.cells)} cells, the header has {len(names)}")
            continue
        cells.append((record.line, dict(zip(names, record.cells, strict=True))))
        if len(cells) > MAX_ROWS:
            raise WacastError(f"The rate card has too many rows (at most {MAX_ROWS})", "CSV_TOO_MANY_ROWS", {"max_rows": MAX_ROWS})
    if problems:
        raise WacastError(
            f"The rate card has {len(problems)} bad row(s); nothing was saved. Line {problems[0]['line']}: {problems[0]['problem']}",
            "CSV_ROW_INVALID", {"errors": problems[:MAX_REPORTED], "more": max(0, len(problems) - MAX_REPORTED)},
        )
    return check_rows(cells)


def parse_json_rates(rates: Any) -> list[RateRow]:
    """The `rates` of a JSON import ([{category, country, price, region?}, ...]), checked like CSV
    rows (their "line" is the item's position, from 1)."""
    if not isinstance(rates, list):
        raise WacastError("rates must be a list of {category, country, price, region}", "FIELD_INVALID", {"field": "rates"})
    if len(rates) > MAX_ROWS:
        raise WacastError(f"rates has too many items (at most {MAX_ROWS})", "CSV_TOO_MANY_ROWS", {"max_rows": MAX_ROWS})
    cells: list[tuple[int, dict[str, str]]] = []
    for i, item in enumerate(rates, start=1):
        if not isinstance(item, dict):
            raise WacastError(f"rates[{i - 1}] must be an object", "FIELD_INVALID", {"field": f"rates[{i - 1}]"})
        unknown = sorted(set(item) - set(COLUMNS), key=str)
        if unknown:
            raise WacastError(f"Unknown field(s): {', '.join(f'rates[{i - 1}].{u}' for u in unknown)}", "VALIDATION_ERROR",
                              {"fields": [f"rates[{i - 1}].{u}" for u in unknown], "allowed": list(COLUMNS)}, status_code=422)
        for key, value in item.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
                raise WacastError(f"rates[{i - 1}].{key} must be text or a number", "FIELD_INVALID", {"field": f"rates[{i - 1}].{key}"})
        cells.append((i, {k: "" if v is None else str(v) for k, v in item.items()}))
    return check_rows(cells)


def to_csv(rows: list[Any]) -> str:
    """Rates (RateRow or rows with the same fields and price_micros) as the import's CSV: one
    line per country (a region's label kept on each)."""
    return kit_csv.rows_to_text([COLUMNS, *((r.category, r.country, money(r.price_micros), r.region or "") for r in rows)])
