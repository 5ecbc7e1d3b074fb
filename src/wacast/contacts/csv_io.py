"""The names the dashboard imports today (dashboard/endpoints.py, tests/test_dashboard.py),
kept until they switch to csv_import.py, csv_export.py and kit/csv.py; then this module goes."""

from __future__ import annotations

from wacast.contacts.csv_export import export_rows
from wacast.contacts.csv_import import (
    CHUNK,
    MAX_BYTES,
    errors_csv,
    get_import,
    needs_resume,
    progress,
    recent_imports,
    run_import,
    start_import,
)
from wacast.kit.csv import guard as _safe

__all__ = [
    "CHUNK", "MAX_BYTES", "_safe", "errors_csv", "export_rows", "get_import", "needs_resume", "progress", "recent_imports",
    "run_import", "start_import",
]
