"""The list of destinations an API campaign's estimate is asked about, read (pure: bytes or a
parsed JSON body in, raw destination values out; tests/unit/test_estimate_input.py).

JSON: `{"destinations": ["+919876543210", ...]}`. CSV (`text/csv`): a header with a
`destination` column (or phone, mobile, number, phone_number, whatsapp), one row per request.
Every value is kept as sent, in order, duplicates included (each would be a request, each a
message); reading the numbers is the estimate's (kit/phone, as the campaign API reads them)."""

from __future__ import annotations

import csv
import io
from typing import Any

from wacast.kit import text
from wacast.kit.errors import WacastError

MAX_DESTINATIONS = 100_000  # requests per estimate
MAX_ESTIMATE_BYTES = 4 * 1024 * 1024  # the body (JSON or CSV): 100,000 numbers take about 2 MB
DESTINATION_COLUMNS = ("destination", "phone", "mobile", "number", "phone_number", "whatsapp")


def too_many(count: int) -> WacastError:
    return WacastError(f"At most {MAX_DESTINATIONS} destinations per estimate (this one has {count}): split the list",
                       "TOO_MANY_DESTINATIONS", {"field": "destinations", "max": MAX_DESTINATIONS, "given": count})


def from_json(body: Any) -> list[Any]:
    """`destinations` of a JSON body: a list, at most MAX_DESTINATIONS (values checked later)."""
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object {\"destinations\": [...]}", "INVALID_BODY")
    items = body.get("destinations")
    if items is None:
        raise WacastError("destinations is required: a list of phone numbers", "FIELD_REQUIRED", {"field": "destinations"})
    if not isinstance(items, list):
        raise WacastError("destinations must be a list of phone numbers", "FIELD_INVALID", {"field": "destinations"})
    if len(items) > MAX_DESTINATIONS:
        raise too_many(len(items))
    return items


def from_csv(data: bytes) -> list[str]:
    """The destination column of a CSV body, blank rows left out."""
    try:
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WacastError("The CSV must be UTF-8", "CSV_INVALID", {"field": "destinations"}) from None
    if "\x00" in decoded:
        raise WacastError("The CSV must not contain NUL characters", "CSV_INVALID", {"field": "destinations"})
    reader = csv.reader(io.StringIO(decoded))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        raise WacastError("The CSV is empty: send a header with a destination column", "CSV_INVALID", {"field": "destinations"}) from None
    column = next((header.index(c) for c in DESTINATION_COLUMNS if c in header), None)
    if column is None:
        raise WacastError(f"The CSV needs a destination column (one of: {', '.join(DESTINATION_COLUMNS)})", "CSV_INVALID",
                          {"field": "destinations"})
    out: list[str] = []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(out) >= MAX_DESTINATIONS:
                raise too_many(len(out) + 1 + sum(1 for r in reader if any(c.strip() for c in r)))
            out.append(record[column].strip() if column < len(record) else "")
    except csv.Error as error:
        raise WacastError(f"The CSV is malformed: {error}", "CSV_INVALID", {"field": "destinations"}) from None
    return out


def example(value: Any) -> str:
    """A value as shown among the invalid examples: text as sent (cut to 40), anything else its JSON type."""
    if isinstance(value, str):
        return value[:40] if text.problem(value, max_len=10**6) is None else value[:40].encode("unicode_escape").decode()[:40]
    return f"<{type(value).__name__}>"
