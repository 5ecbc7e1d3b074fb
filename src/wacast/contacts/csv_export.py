"""The one contact CSV exporter: the contact list (dashboard) and segment members (REST, CLI,
dashboard) both stream through `export`, written by kit/csv.py's `rows_to_text` (the one
formula guard, on every cell). The columns are those an import reads, so an export imports again.

The export is streamed after the request's endpoint has returned, so it opens its own read
session per batch (no write lock on SQLite, nothing held between batches).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as repo
from wacast.contacts import service as contacts
from wacast.db.engine import Database
from wacast.kit.csv import rows_to_text
from wacast.kit.pagination import MAX_PAGE


@dataclass(frozen=True)
class Columns:
    """How an export writes its fixed columns (each export keeps the layout it always had)."""

    order: tuple[str, ...]
    yes: str
    no: str
    timespec: str


# The identity columns (a BSUID, a WhatsApp username, numbers before a number change) come last:
# an import skips them (csv_import.Columns), and a row without a phone is not imported again.
IDENTITY_COLUMNS = ("user_id", "whatsapp_username", "former_numbers")
CONTACT_COLUMNS = Columns(("phone", "name", "source", "opted_in", "blocked", "tags", "created_at", *IDENTITY_COLUMNS), "yes", "no", "seconds")
SEGMENT_COLUMNS = Columns(("phone", "name", "source", "opted_in", "blocked", "created_at", "tags", "user_id", "whatsapp_username"),
                          "true", "false", "auto")


@dataclass
class ExportRow:
    phone: str | None
    name: str
    source: str | None
    opted_in: bool
    blocked: bool
    created_at: datetime
    tags: list[str]
    attributes: dict[str, Any]
    user_id: str | None = None
    username: str | None = None
    former_numbers: list[str] = field(default_factory=list)


# (session, cursor or None) -> (rows, the next cursor or None when this was the last page)
Pages = Callable[[AsyncSession, Any], Awaitable[tuple[list[Any], Any]]]


def with_tags(rows: list[Any], tags: dict[uuid.UUID, list[str]]) -> list[ExportRow]:
    return [
        ExportRow(r.phone, r.name, r.source, bool(r.opted_in), bool(r.blocked), r.created_at, tags.get(r.id, []), r.attributes or {},
                  getattr(r, "user_id", None), getattr(r, "username", None))
        for r in rows
    ]


def _cells(row: Any, columns: Columns, attribute_names: list[str]) -> list[str]:
    fixed = {
        "phone": row.phone or "",
        "user_id": row.user_id or "",
        "whatsapp_username": row.username or "",
        "former_numbers": ";".join(row.former_numbers or []),
        "name": row.name,
        "source": row.source or "",
        "opted_in": columns.yes if row.opted_in else columns.no,
        "blocked": columns.yes if row.blocked else columns.no,
        "tags": ";".join(sorted(row.tags)),
        "created_at": row.created_at.isoformat(timespec=columns.timespec),
    }
    attributes = row.attributes or {}
    return [fixed[c] for c in columns.order] + [attributes.get(n, "") for n in attribute_names]


async def export(db: Database, project_id: uuid.UUID, pages: Pages, columns: Columns) -> AsyncIterator[str]:
    """The header, then one CSV chunk per page that `pages` gives."""
    async with db.read() as session:
        attribute_names = [a.name for a in await repo.attribute_definitions(session, project_id)]
    yield rows_to_text([[*columns.order, *attribute_names]])
    cursor = None
    while True:
        async with db.read() as session:
            rows, cursor = await pages(session, cursor)
        if rows:
            yield rows_to_text(_cells(r, columns, attribute_names) for r in rows)
        if cursor is None:
            return


async def encoded(chunks: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk.encode()


def export_rows(db: Database, project_id: uuid.UUID, flt: contacts.ContactFilter | None = None) -> AsyncIterator[str]:
    """The project's contacts (filtered), newest first, as CSV text, a page at a time."""

    async def pages(session: AsyncSession, cursor: str | None) -> tuple[list[Any], str | None]:
        page = await contacts.list_contacts(session, project_id, flt, cursor=cursor, limit=MAX_PAGE)
        return page.items, page.next_cursor

    return export(db, project_id, pages, CONTACT_COLUMNS)
