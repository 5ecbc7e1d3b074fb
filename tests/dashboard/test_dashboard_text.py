"""Text that enters through the dashboard passes the one text rule (kit/text.py): a NUL, a
control character or a C1 control in any form field or contact filter is refused with
FIELD_INVALID shown on the page, nothing is written, and PostgreSQL never answers 500.
Newlines stay allowed where the field takes them (a template's body). Both backends."""

from __future__ import annotations

import asyncio
import csv
import logging
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from tests.dashboard.test_dashboard import CSRF_RE, add_user, csrf_of, sign_in
from tests.support.factories import make_project
from wacast.contacts import service as contacts
from wacast.models.api_keys import ApiKey
from wacast.models.campaigns import Campaign
from wacast.models.contacts import AttributeDefinition, Contact, Tag
from wacast.models.messages import InboundEvent
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.models.users import Membership, User

BAD = {"NUL": "\x00", "BEL": "\x07", "ESC": "\x1b", "DEL": "\x7f", "C1": "\x85"}


@pytest.fixture
async def setup(db):
    project = await make_project(db, "acme")
    await add_user(db, project.project_id, "owner@acme.test", "owner")
    async with db.transaction() as session:
        contact = await contacts.create(session, project.project_id, "+919811100001", name="Asha", attributes={"city": "Pune"})
        tag_id = (await session.execute(select(Tag.id).where(Tag.project_id == project.project_id).limit(1))).scalar_one()
    return {"contact": contact.id, "tag": tag_id, "project": project}


async def snapshot(db) -> dict:
    """What a refused form must leave as it was."""
    async with db.sessionmaker() as session:
        project = (await session.execute(select(Project))).scalar_one()

        async def count(model) -> int:
            return (await session.execute(select(func.count()).select_from(model))).scalar_one()

        return {
            "tags": sorted((await session.execute(select(Tag.name))).scalars().all()),
            "attributes": sorted((await session.execute(select(AttributeDefinition.name))).scalars().all()),
            "contacts": sorted((c.phone, c.name, dict(c.attributes or {}), c.opted_in) for c in (await session.execute(select(Contact))).scalars()),
            "templates": await count(Template), "campaigns": await count(Campaign), "keys": await count(ApiKey),
            "users": sorted((await session.execute(select(User.email, User.name))).all()), "members": await count(Membership),
            "events": await count(InboundEvent),
            "project": (project.sender_number, project.timezone, project.waba_id, project.phone_number_id, project.access_token,
                        list(project.opt_out_keywords or []), project.messages_per_second, project.default_country),
        }


def forms(ids: dict, bad: str) -> list[tuple[str, dict[str, str], str]]:
    """(path, form, the field that carries the bad character) for every form that writes."""
    contact, tag = ids["contact"], ids["tag"]
    return [
        ("/tags", {"kind": "tag", "name": f"vip{bad}2"}, "name"),
        ("/tags", {"kind": "attribute", "name": f"{bad}colour"}, "name"),
        (f"/tags/tag/{tag}/rename", {"name": f"gold{bad}"}, "name"),
        ("/templates", {"name": "welcome", "body": f"Hello{bad} there"}, "body"),
        ("/templates", {"name": "welcome", "body": "Hello", "footer": f"bye{bad}"}, "footer"),
        ("/templates", {"name": f"wel{bad}come", "body": "Hello"}, "name"),
        ("/templates", {"name": "welcome", "body": "Hello", "quick_replies": f"Yes\nNo{bad}"}, "quick_replies"),
        ("/campaigns", {"name": f"spring{bad}", "template_id": str(uuid.uuid4())}, "name"),
        (f"/contacts/{contact}", {"name": f"Asha{bad}"}, "name"),
        (f"/contacts/{contact}", {"name": "Asha", "attr:city": f"Pu{bad}ne"}, "attr:city"),
        (f"/contacts/{contact}/tags", {"tag": f"vip{bad}"}, "tag"),
        ("/keys", {"name": f"server{bad}"}, "name"),
        ("/users", {"email": f"new{bad}@acme.test", "role": "agent"}, "email"),
        ("/users", {"email": "new@acme.test", "role": "agent", "name": f"New{bad}"}, "name"),
        ("/users", {"email": "new@acme.test", "role": "agent", "password": f"long-password{bad}"}, "password"),
        ("/settings", {"sender_number": f"+91{bad}"}, "sender_number"),
        ("/settings", {"timezone": f"Asia/Kolkata{bad}"}, "timezone"),
        ("/settings", {"opt_out_keywords": f"STOP,QUIT{bad}"}, "opt_out_keywords"),
        ("/settings", {"access_token": f"EAAB{bad}"}, "access_token"),
        (f"/sandbox/{uuid.uuid4()}/simulate", {"kind": "text", "text": f"hi{bad}"}, "text"),
        ("/switch-project", {"project_id": f"{ids['project'].project_id}{bad}"}, "project_id"),
    ]


@pytest.mark.parametrize("name", sorted(BAD))
async def test_a_control_character_in_any_form_field_is_refused_and_writes_nothing(client: httpx.AsyncClient, db, setup, name: str) -> None:
    await sign_in(client, "owner@acme.test", "password-owner")
    token = await csrf_of(client, "/")
    before = await snapshot(db)
    for path, form, field in forms(setup, BAD[name]):
        answer = await client.post(path, data={**form, "csrf": token}, headers={"referer": "http://wacast.test/tags"})
        assert answer.status_code == 303 and answer.headers["location"] == "/tags", (path, field, answer.status_code, answer.text[:300])
        shown = (await client.get("/tags")).text
        assert f"{field} must not contain" in shown and "(FIELD_INVALID)" in shown, (path, field)
    assert await snapshot(db) == before


async def test_sign_in_refuses_a_nul_and_a_non_ascii_csrf_token_is_a_403(client: httpx.AsyncClient, db, setup) -> None:
    token = await csrf_of(client, "/login")
    for form in ({"email": "owner@acme.test\x00", "password": "password-owner"}, {"email": "owner@acme.test", "password": "password-owner\x00"}):
        answer = await client.post("/login", data={**form, "csrf": token})
        assert answer.status_code == 303, answer.text[:300]
        assert "must not contain NUL characters (FIELD_INVALID)" in (await client.get("/login")).text
    assert (await client.get("/")).status_code == 303  # still signed out
    forged = await client.post("/login", data={"email": "owner@acme.test", "password": "password-owner", "csrf": "tok\u00e9n"})
    assert forged.status_code == 403 and "This form has expired" in forged.text


async def test_contact_filters_refuse_control_characters_on_both_backends(client: httpx.AsyncClient, setup) -> None:
    await sign_in(client, "owner@acme.test", "password-owner")
    for query in ("q=Asha%00", "tag=vip%00", "source=x%07", "attr=city&value=Pu%00ne", "cursor=%00"):
        page = await client.get(f"/contacts?{query}")
        assert page.status_code == 400 and "FIELD_INVALID" in page.text, (query, page.status_code)
        if query.startswith("cursor"):
            continue  # the export has no pages
        export = await client.get(f"/contacts/export.csv?{query}")
        assert export.status_code == 400 and export.json()["code"] == "FIELD_INVALID", query
    assert "Asha" in (await client.get("/contacts?q=Asha")).text


async def test_newlines_stay_allowed_where_the_field_takes_them(client: httpx.AsyncClient, db, setup) -> None:
    await sign_in(client, "owner@acme.test", "password-owner")
    token = CSRF_RE.search((await client.get("/templates/new")).text).group(1)
    made = await client.post("/templates", data={"name": "two_lines", "body": "Hello\nthere\tfriend", "quick_replies": "Yes\nNo", "csrf": token})
    assert made.status_code == 303 and made.headers["location"].startswith("/templates/"), made.text[:300]
    async with db.sessionmaker() as session:
        template = (await session.execute(select(Template).where(Template.name == "two_lines"))).scalar_one()
    body = next(c for c in template.components if c["type"] == "BODY")
    assert body["text"] == "Hello\nthere\tfriend"
    # A single-line field refuses the same newline.
    refused = await client.post("/tags", data={"kind": "tag", "name": "two\nlines", "csrf": token})
    assert refused.status_code == 303
    assert "name must not contain line breaks or tabs (FIELD_INVALID)" in (await client.get("/tags")).text


async def _imported(client: httpx.AsyncClient, data: bytes) -> tuple[dict, str]:
    """Upload `data` as a contacts CSV, wait for the import: its final status and error report."""
    token = await csrf_of(client, "/contacts/import")
    started = await client.post("/contacts/import", data={"csrf": token}, files={"file": ("people.csv", data, "text/csv")},
                                headers={"accept": "application/json"})
    assert started.status_code == 201, started.text
    for _ in range(200):
        status = (await client.get(started.json()["url"] + ".json")).json()
        if status["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.02)
    return status, (await client.get(started.json()["url"] + "/errors.csv")).text


async def test_an_oversized_cell_and_an_open_quote_are_row_errors_never_a_silent_loss(client: httpx.AsyncClient, db, setup) -> None:
    # Issue 12, finding 10: a 140,000-character cell was a 500 (the csv module's field limit);
    # a quote left open swallowed the next row (one contact lost, 0 errors).
    await sign_in(client, "owner@acme.test", "password-owner")
    data = ("phone,name,city\n"
            "+919811100011,Asha,Pune\n"
            "+919811100012,Big," + "x" * 140_000 + "\n"
            "+919811100013,\"Ravi,Delhi\n"
            "+919811100014,Swallowed,Goa\"\n"
            "+919811100015,Meera,\"12 Main St\nPune\"\n").encode()
    status, report = await _imported(client, data)
    assert status["status"] == "done" and status["total_rows"] == 4, status
    assert (status["created"], status["errors"]) == (2, 2), status
    rows = {e["row"]: e["error"] for e in status["first_errors"]}
    assert set(rows) == {3, 4} and "field limit" in rows[3] and "quote opened on line 4 is not closed before line 5" in rows[4], rows
    assert "line 4" in report
    async with db.read() as session:
        phones = set((await session.execute(select(Contact.phone))).scalars())
    assert {"+919811100011", "+919811100015"} <= phones and not phones & {"+919811100012", "+919811100013", "+919811100014"}


async def test_the_import_error_report_and_the_exports_guard_formulas(client: httpx.AsyncClient, db, setup) -> None:
    # Issue 12, finding 8: the error report wrote cells such as =1+1 raw; full-width and
    # space-led formulas passed the exports' guard.
    await sign_in(client, "owner@acme.test", "password-owner")
    data = ("phone,=cmd\n"
            "\uff1d1+1,x\n"
            "+919811100021," + "y" * 1001 + "\n"
            " =2+2,x\n").encode()
    status, report = await _imported(client, data)
    assert status["errors"] == 3, status
    cells = [cell for row in csv.reader(report.splitlines()[1:]) for cell in row]
    assert "'\uff1d1+1" in cells and "'=2+2" in cells and any(c.startswith("'=cmd is longer") for c in cells), cells
    async with db.transaction() as session:
        await contacts.create(session, setup["project"].project_id, "+919811100022", name=" =HYPERLINK(1)", source="\uff0bcmd",
                              attributes={"city": "\t=1+1"})
    exported = (await client.get("/contacts/export.csv")).text
    line = next(row for row in csv.reader(exported.splitlines()) if row and row[0] == "+919811100022")
    assert "'=HYPERLINK(1)" in line and "'\uff0bcmd" in line and "'\t=1+1" in line, line


async def test_a_csv_with_a_nul_is_refused_and_its_content_never_logged(client: httpx.AsyncClient, setup, caplog) -> None:
    # Issue 12, finding 4: a 500 on PostgreSQL whose log line held the whole file.
    await sign_in(client, "owner@acme.test", "password-owner")
    token = await csrf_of(client, "/contacts/import")
    data = "phone,name\n+919811100031,Kavya Secretname\n+919811100032,Ne\x00ha\n".encode()
    with caplog.at_level(logging.DEBUG):
        answer = await client.post("/contacts/import", data={"csrf": token}, files={"file": ("p.csv", data, "text/csv")},
                                   headers={"accept": "application/json"})
    assert answer.status_code == 303, answer.text  # a form's error is shown on its page
    assert "(FIELD_INVALID)" in (await client.get(answer.headers["location"])).text
    assert "Secretname" not in caplog.text and "919811100031" not in caplog.text
