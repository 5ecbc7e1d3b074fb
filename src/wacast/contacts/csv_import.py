"""Contacts in from CSV: an import with progress and a per-row error report (the export:
csv_export.py).

Import columns (header row required, names matched case-insensitively):

- `phone` (also `phone_number`, `mobile`, `number`, `whatsapp`, `destination`): required; any
  format the campaign API accepts, national numbers read in the project's default country.
- `name`, `source`: optional.
- `tags`: tag names separated by `;` or `|` (missing tags are created).
- `opted_in`: `no`/`false`/`0` marks the contact opted out; an import never opts a contact
  back in (a person who sent STOP stays out); an opt-out withdraws a marketing consent.
- `marketing_consent` (also `consent`): `yes`/`no` grants or withdraws the marketing consent,
  recorded with the row as its evidence (contacts/consent.py); empty leaves it as it is.
- every other column is a contact attribute (missing attribute definitions are created);
  an empty cell leaves the attribute as it is.

Every cell passes the base text rule (kit/text.py) as the same field does through REST: a
row with a NUL or another control character is reported, the others are imported. A file
with NUL bytes is refused whole (it is stored as text until imported, and PostgreSQL cannot
store NUL), and so is a header naming an attribute that breaks the rule.

A row that cannot be imported is reported with its line number and reason, and the others are
imported. A record the CSV reader cannot take (a cell over the field limit, a quote left open
that swallows the following lines) is such a row too (kit/csv.py `records`): nothing is lost
without a word. The file is stored with the import and processed in chunks, each its own
transaction, under a lease: progress is visible while it runs and a crashed server's import
resumes where it stopped. The export writes the same columns, so an export imports again.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import traceback
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import consent_policy
from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_consent as consent_repo
from wacast.contacts import repository_imports as imports_repo
from wacast.contacts import service as contacts
from wacast.db.engine import Database
from wacast.kit import phone as phones
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.csv import Record, records, rows_to_text
from wacast.kit.errors import NotFound, WacastError
from wacast.models.contact_imports import ContactImport
from wacast.models.projects import Project

log = logging.getLogger("wacast.contacts.csv")

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
CHUNK = 250
MAX_STORED_ERRORS = 2000
LEASE = timedelta(seconds=30)
PHONE_COLUMNS = ("phone", "phone_number", "phonenumber", "mobile", "number", "whatsapp", "whatsapp_number", "destination")
NAME_COLUMNS = ("name", "full_name", "username", "user_name")
CONSENT_COLUMNS = ("marketing_consent", "consent")  # yes/no: the marketing consent (contacts/consent.py); empty: unchanged
FALSE_WORDS = {"no", "false", "0", "n", "opted_out", "out"}
TRUE_WORDS = {"yes", "true", "1", "y", "opted_in", "in", ""}
MAX_ATTRIBUTE_VALUE = contacts.MAX_ATTRIBUTE_VALUE
MAX_LABEL = contacts.MAX_LABEL


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WacastError("The file is not UTF-8 text: save it as 'CSV UTF-8' and upload it again", "CSV_NOT_UTF8") from None


def _sniff(text: str) -> csv.Dialect | type[csv.Dialect]:
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


class Columns:
    """Which CSV column means what."""

    def __init__(self, header: list[str]) -> None:
        self.header = [h.strip() for h in header]
        lowered = [h.lower().replace(" ", "_") for h in self.header]
        self.phone = next((i for i, h in enumerate(lowered) if h in PHONE_COLUMNS), None)
        if self.phone is None:
            raise WacastError(
                "The file has no phone column: name one column 'phone' (the others: name, tags, source, opted_in, and any attribute)",
                "CSV_NO_PHONE_COLUMN", {"columns": self.header[:50]},
            )
        self.name = next((i for i, h in enumerate(lowered) if h in NAME_COLUMNS), None)
        self.tags = next((i for i, h in enumerate(lowered) if h == "tags"), None)
        self.source = next((i for i, h in enumerate(lowered) if h == "source"), None)
        self.opted_in = next((i for i, h in enumerate(lowered) if h in ("opted_in", "optin", "opt_in")), None)
        self.consent = next((i for i, h in enumerate(lowered) if h in CONSENT_COLUMNS), None)
        known = {self.phone, self.name, self.tags, self.source, self.opted_in, self.consent}
        skip = {"blocked", "created_at", "id", "user_id", "whatsapp_username", "former_numbers"}  # the export's own columns
        # a blank header (only invisible characters) names no attribute: its column is left out
        self.attributes = [(i, h) for i, h in enumerate(self.header) if i not in known and not text.is_blank(h) and lowered[i] not in skip]


def _rows(content: str) -> tuple[Columns, list[Record]]:
    """The columns, and every record but blank ones (each with its line and its problem)."""
    found = records(content, _sniff(content))
    header = next(found, None)
    if header is None:
        raise WacastError("The file is empty", "CSV_EMPTY")
    if header.problem is not None:
        raise WacastError(f"The header row cannot be read: {header.problem}", "CSV_INVALID", {"field": "header"})
    columns = Columns(header.cells)
    return columns, [r for r in found if r.problem is not None or any(c.strip() for c in r.cells)]


def _cell(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def split_tags(value: str) -> list[str]:
    parts = value.replace("|", ";").split(";")
    return [p.strip() for p in parts if p.strip()]


async def start_import(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID | None, filename: str, data: bytes) -> ContactImport:
    """Check the file and store it as a pending import (nothing is imported yet)."""
    if not data:
        raise WacastError("Choose a CSV file to import", "CSV_EMPTY")
    if len(data) > MAX_BYTES:
        raise WacastError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it", "CSV_TOO_LARGE")
    content = _decode(data)
    if "\x00" in content:
        raise WacastError("The file contains NUL characters: it is not a CSV text file; save it as 'CSV UTF-8' and upload it again",
                          "FIELD_INVALID", {"field": "file", "character": "U+0000"})
    columns, rows = _rows(content)
    for _, header in columns.attributes:
        text.check("header", header, max_len=MAX_LABEL * 2)
    if not rows:
        raise WacastError("The file has a header but no rows", "CSV_EMPTY")
    if len(rows) > MAX_ROWS:
        raise WacastError(f"At most {MAX_ROWS} rows per import; split the file", "CSV_TOO_MANY_ROWS")
    del columns
    filename = filename if filename and text.problem(filename, max_len=255) is None else "contacts.csv"
    job = ContactImport(
        id=uuid.uuid4(), project_id=project_id, created_by=user_id, filename=filename,
        status="pending", content=content, total_rows=len(rows), processed_rows=0, created_count=0, updated_count=0,
        error_count=0, errors=[], created_tags=[], created_attributes=[], created_at=utcnow(),
    )
    await imports_repo.insert(session, job)
    return job


async def get_import(session: AsyncSession, project_id: uuid.UUID, import_id: uuid.UUID) -> ContactImport:
    job = await imports_repo.find(session, project_id, import_id)
    if job is None:
        raise NotFound("Import not found", "IMPORT_NOT_FOUND")
    return job


async def recent_imports(session: AsyncSession, project_id: uuid.UUID, limit: int = 10) -> list[ContactImport]:
    return await imports_repo.recent(session, project_id, limit)


def progress(job: ContactImport) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "status": job.status,
        "filename": job.filename,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created": job.created_count,
        "updated": job.updated_count,
        "errors": job.error_count,
        "percent": int(100 * job.processed_rows / job.total_rows) if job.total_rows else 100,
        "first_errors": (job.errors or [])[:20],
        "created_tags": job.created_tags or [],
        "created_attributes": job.created_attributes or [],
    }


async def needs_resume(session: AsyncSession, import_id: uuid.UUID) -> bool:
    job = await imports_repo.get(session, import_id)
    return job is not None and job.status in ("pending", "running") and (job.lease_until is None or job.lease_until < utcnow())


async def run_import(db: Database, import_id: uuid.UUID) -> None:
    """Process a stored import to the end, chunk by chunk (each chunk one transaction).

    It runs in the background, after the upload's request has answered, so it opens its own
    transactions: one per chunk, so that progress shows while it runs."""
    async with db.transaction() as session:
        if not await imports_repo.claim(session, import_id, utcnow(), LEASE):
            return  # finished, or another process holds it
    parsed: tuple[Columns, list[Record]] | None = None
    seen: dict[str, int] = {}  # number -> the file's first row with it
    try:
        while True:
            async with db.transaction() as session:
                job = await imports_repo.get(session, import_id)
                if job is None or job.status != "running":
                    return
                project = await contacts_repo.project(session, job.project_id)
                if parsed is None:  # parsed once per run, not per chunk
                    parsed = _rows(job.content)
                    # A resumed import still knows the numbers of the rows done before it stopped.
                    seen = _first_lines(project, parsed[0], parsed[1][: job.processed_rows])
                columns, rows = parsed
                if job.processed_rows == 0:
                    await _prepare(session, job, columns, rows)
                start = job.processed_rows
                chunk = rows[start : start + CHUNK]
                errors = list(job.errors or [])
                good = []
                for record in chunk:
                    try:
                        row = _parse_row(project, columns, record)  # every check runs before any write
                        first = seen.setdefault(row["phone"], record.line)
                        if first != record.line:
                            # The same number twice in one file: the first row wins, the later
                            # one is reported instead of silently overwriting it.
                            raise WacastError(f"{row['phone']} is already on row {first} of this file; this row was skipped", "CSV_DUPLICATE_PHONE")
                        good.append(row)
                    except WacastError as error:
                        job.error_count += 1
                        if len(errors) < MAX_STORED_ERRORS:
                            phone = _cell(record.cells, columns.phone)
                            errors.append({"row": record.line, "phone": phone[:40] if text.problem(phone[:40]) is None else "",
                                           "error": error.message})
                created, updated = await _write_chunk(session, project, good)
                job.created_count += created
                job.updated_count += updated
                job.errors = errors
                job.processed_rows = start + len(chunk)
                job.lease_until = utcnow() + LEASE
                if job.processed_rows >= len(rows):
                    job.status = "done"
                    job.finished_at = utcnow()
                    job.lease_until = None
                    job.content = ""  # the file is not kept once imported
                    return
            await asyncio.sleep(0)
    except Exception as error:
        # The error's text can hold the rows being written (a database error quotes its
        # statement's parameters): the log gets its type and where it happened, never the
        # file's content. It is not raised again: nothing awaits this task, and asyncio would
        # log it whole.
        log.error("contact import %s stopped: %s\n%s", import_id, type(error).__name__, "".join(traceback.format_tb(error.__traceback__)))
        async with db.transaction() as session:
            job = await imports_repo.get(session, import_id)
            if job is not None and job.status == "running":
                job.status = "failed"
                job.lease_until = None
                job.finished_at = utcnow()


async def _prepare(session: AsyncSession, job: ContactImport, columns: Columns, rows: list[Record]) -> None:
    """Create the tags and attributes the file names that do not exist yet (not those of a
    record that cannot be read: it is reported, and what it holds is not known)."""
    tag_names: list[str] = []
    if columns.tags is not None:
        for record in rows:
            if record.problem is None:
                tag_names.extend(split_tags(_cell(record.cells, columns.tags)))
    # A tag that breaks the text rule is not created: the rows naming it are reported.
    tag_names = [t[:MAX_LABEL] for t in dict.fromkeys(tag_names) if text.problem(t[:MAX_LABEL], max_len=MAX_LABEL) is None]
    job.created_tags, _ = await contacts.create_tags(session, job.project_id, tag_names)
    job.created_attributes, _ = await contacts.create_attributes(session, job.project_id, [h[:MAX_LABEL] for _, h in columns.attributes])


def _first_lines(project: Project, columns: Columns, records: list[Record]) -> dict[str, int]:
    """Number -> the first of these rows that has it (rows that do not parse are left out)."""
    seen: dict[str, int] = {}
    for record in records:
        try:
            seen.setdefault(_parse_row(project, columns, record)["phone"], record.line)
        except WacastError:
            continue
    return seen


def _checked(field: str, value: str, max_len: int, *, multiline: bool = False) -> str:
    """A cell under the base text rule (as the same field through REST), else a row error."""
    found = text.problem(value, max_len=max_len, multiline=multiline)
    if found is not None:
        raise WacastError(f"{field} {found[0]}", "CSV_ROW_INVALID")
    return value


def _parse_row(project: Project, columns: Columns, record: Record) -> dict[str, Any]:
    if record.problem is not None:
        raise WacastError(record.problem, "CSV_ROW_INVALID")
    row = record.cells
    raw_phone = _cell(row, columns.phone)
    if not raw_phone:
        raise WacastError("phone is empty", "CSV_ROW_INVALID")
    _checked("phone", raw_phone, contacts.MAX_PHONE)
    try:
        phone = phones.normalize(raw_phone, project.default_country)
    except phones.InvalidNumber:
        raise WacastError(f"{raw_phone!r} is not a valid phone number", "CSV_ROW_INVALID") from None
    name = _cell(row, columns.name)
    if len(name) > contacts.MAX_NAME:
        raise WacastError(f"name is longer than {contacts.MAX_NAME} characters", "CSV_ROW_INVALID")
    _checked("name", name, contacts.MAX_NAME, multiline=True)
    source = _checked("source", _cell(row, columns.source), contacts.MAX_SOURCE, multiline=True) or None
    tags = [_checked("tags", t[:MAX_LABEL], MAX_LABEL) for t in split_tags(_cell(row, columns.tags))]
    opted = _cell(row, columns.opted_in).lower()
    if opted not in FALSE_WORDS and opted not in TRUE_WORDS:
        raise WacastError(f"opted_in must be yes or no, not {opted!r}", "CSV_ROW_INVALID")
    attributes = {}
    for index, header in columns.attributes:
        value = _cell(row, index)
        if value:
            if len(value) > MAX_ATTRIBUTE_VALUE:
                raise WacastError(f"{header} is longer than {MAX_ATTRIBUTE_VALUE} characters", "CSV_ROW_INVALID")
            attributes[header[:MAX_LABEL]] = _checked(header, value, MAX_ATTRIBUTE_VALUE, multiline=True)
    consent_cell = _cell(row, columns.consent)
    consent = consent_policy.parse_word(_checked("marketing_consent", consent_cell, 40), "marketing_consent") if consent_cell else None
    return {"phone": phone, "name": name, "source": source, "opt_out": opted in FALSE_WORDS, "attributes": attributes, "tags": tags,
            "consent": consent, "consent_cell": consent_cell, "line": record.line}


async def _write_chunk(session: AsyncSession, project: Project, rows: list[dict[str, Any]]) -> tuple[int, int]:
    """Write a chunk's valid rows with a handful of batched statements (the campaign API's
    group-commit helpers): one read of the existing contacts, one insert, one update, one
    tag insert. A number repeated in the file is merged, later values winning."""
    if not rows:
        return 0, 0
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        m = merged.get(r["phone"])
        if m is None:
            merged[r["phone"]] = {**r, "attributes": dict(r["attributes"]), "tags": list(r["tags"])}
            continue
        m["name"] = r["name"] or m["name"]
        m["source"] = m["source"] or r["source"]
        m["attributes"].update(r["attributes"])
        m["tags"] += r["tags"]
        m["opt_out"] = m["opt_out"] or r["opt_out"]
        if r["consent"] is not None:
            m["consent"], m["consent_cell"], m["line"] = r["consent"], r["consent_cell"], r["line"]
    now = utcnow()
    existing = await contacts_repo.lock_many(session, [(project.id, phone) for phone in merged])
    fresh = {
        phone: {"id": uuid.uuid4(), "project_id": project.id, "phone": phone, "name": m["name"], "source": m["source"], "opted_in": True,
                "blocked": False, "attributes": m["attributes"], "created_at": now, "updated_at": now}
        for phone, m in merged.items() if (project.id, phone) not in existing
    }
    inserted = await contacts_repo.insert_many(session, list(fresh.values()))
    lost = [phone for phone, row in fresh.items() if row["id"] not in inserted]  # created meanwhile by a send
    if lost:
        existing.update(await contacts_repo.lock_many(session, [(project.id, phone) for phone in lost]))
    ids: dict[str, uuid.UUID] = {phone: row["id"] for phone, row in fresh.items() if row["id"] in inserted}
    updates = []
    for (_, phone), row in existing.items():
        m = merged[phone]
        ids[phone] = row.id
        updates.append({"b_id": row.id, "b_name": m["name"] or row.name, "b_source": row.source or m["source"],
                        "b_attributes": {**(row.attributes or {}), **m["attributes"]}, "b_now": now})
    await contacts_repo.update_many(session, updates)
    tag_ids = await contacts_repo.all_tag_ids(session, project.id)
    await contacts_repo.add_tags_many(session, [
        {"contact_id": ids[phone], "tag_id": tag_ids[t]} for phone, m in merged.items() for t in dict.fromkeys(m["tags"]) if t in tag_ids
    ])
    consents = [
        contacts.consent_row(project.id, ids[phone], consent_policy.ConsentGiven(
            m["consent"], "csv import", f"CSV row {m['line']}, column marketing_consent = {m['consent_cell'][:40]!r}"), "csv", now)
        for phone, m in merged.items() if m["consent"] is not None and not (m["consent"] and m["opt_out"])
    ]
    await consent_repo.record_many(session, consents)
    for phone, m in merged.items():
        if m["opt_out"]:
            await contacts_repo.set_opted_in(session, project.id, phone, False)
            await contacts.withdraw_consent(session, project.id, ids[phone], source="csv import", evidence=f"CSV row {m['line']}, opted_in = no", now=now)
    created_phones = {phone for phone, row in fresh.items() if row["id"] in inserted}
    created, seen = 0, set()
    for r in rows:
        if r["phone"] in created_phones and r["phone"] not in seen:
            created += 1
        seen.add(r["phone"])
    return created, len(rows) - created


def errors_csv(job: ContactImport) -> str:
    """The error report (every cell through the one formula guard: kit/csv.rows_to_text)."""
    return rows_to_text([["row", "phone", "error"], *([e.get("row"), e.get("phone"), e.get("error")] for e in job.errors or [])])
