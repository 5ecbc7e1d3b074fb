"""Template definitions and project settings pass the base text rule (kit/text.py) at every
entry point: REST body, path and query, the dashboard form, the CLI file and arguments, Meta's
listing. A NUL or a control character is a 400 FIELD_INVALID and writes nothing, on both
backends (PostgreSQL used to answer 500: it cannot store a NUL)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.cli import run
from tests.support.cloud import make_cloud_project
from tests.support.factories import make_project
from wacast.kit.errors import WacastError
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.projects import service as projects
from wacast.users import service as users

NEW = {"name": "welcome_back", "language": "en", "category": "MARKETING", "components": [{"type": "BODY", "text": "Welcome back {{1}}!"}]}
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def refused(response: httpx.Response, field: str | None = None) -> dict:
    assert response.status_code == 400, response.text
    data = response.json()
    assert data["code"] == "FIELD_INVALID", data
    if field is not None:
        assert data["details"]["field"] == field, data
    return data


async def count_templates(db, project_id=None) -> int:
    async with db.read() as session:
        stmt = select(func.count()).select_from(Template)
        if project_id is not None:
            stmt = stmt.where(Template.project_id == project_id)
        return (await session.execute(stmt)).scalar_one()


async def test_rest_refuses_nul_and_control_characters_and_writes_nothing(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    before = await count_templates(db, setup.project_id)
    body_nul = {**NEW, "components": [{"type": "BODY", "text": "Welcome\x00 back"}]}
    data = refused(await client.post("/api/v1/templates", headers=h, json=body_nul), "components[0].text")
    assert "NUL" in data["message"]
    refused(await client.post("/api/v1/templates", headers=h, json={**NEW, "name": "welcome\x01back"}), "name")
    refused(await client.post("/api/v1/templates", headers=h, json={**NEW, "language": "en\x00"}), "language")
    refused(await client.post("/api/v1/templates", headers=h, json={**NEW, "components": [{"type": "BODY", "text": "hi", "ex\x7f": 1}]}))
    assert await count_templates(db, setup.project_id) == before
    # A newline in a body text is fine (multiline values).
    ok = await client.post("/api/v1/templates", headers=h, json={**NEW, "components": [{"type": "BODY", "text": "Welcome back\n{{1}}!", "example": {"body_text": [["Asha"]]}}]})
    assert ok.status_code == 201, ok.text
    # Paths and queries: a 400, not a 500 on PostgreSQL.
    refused(await client.get("/api/v1/templates/order%00update", headers=h), "path")  # kit/request_text.py
    refused(await client.get("/api/v1/templates/order_update?language=e%00n", headers=h), "language")
    refused(await client.get("/api/v1/templates?status=APPROVED%00", headers=h), "status")
    refused(await client.get("/api/v1/templates?name=a%01b", headers=h), "name")
    refused(await client.delete("/api/v1/templates/welcome%00back", headers=h), "path")
    assert await count_templates(db, setup.project_id) == before + 1


async def test_the_dashboard_form_refuses_nul_and_control_characters(client, db):
    setup = await make_project(db)
    async with db.transaction() as session:
        await users.create_or_update(session, setup.project_id, "manager@acme.test", "password-manager", "manager")
    login = await client.get("/login")
    token = CSRF_RE.search(login.text).group(1)
    await client.post("/login", data={"email": "manager@acme.test", "password": "password-manager", "csrf": token})
    token = CSRF_RE.search((await client.get("/templates/new")).text).group(1)
    before = await count_templates(db, setup.project_id)
    for form in ({"body": "Hi\x00 there"}, {"body": "Hi", "footer": "bye\x1b"}):
        answer = await client.post("/templates", data={"name": "spring", "language": "en", **form, "csrf": token})
        assert answer.status_code == 303, answer.text  # a form POST goes back to its page, with the error shown
        shown = await client.get(answer.headers["location"])
        assert "(FIELD_INVALID)" in shown.text, shown.text
    assert await count_templates(db, setup.project_id) == before


def test_the_cli_refuses_a_nul_in_a_template_file_and_a_control_character_in_a_name(db_url, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url)
    run(env, "projects", "create", "shop")
    bad = run(env, "projects", "create", "sh\x01op", ok=False)
    assert bad.returncode == 2 and "control characters" in bad.stderr
    file = tmp_path / "t.json"
    file.write_text(json.dumps({**NEW, "components": [{"type": "BODY", "text": "Hi\x00"}]}))
    added = run(env, "templates", "add", "--project", "shop", "--file", str(file), ok=False)
    assert added.returncode == 2 and "NUL" in added.stderr
    assert json.loads(run(env, "templates", "list", "--project", "shop", "--json").stdout) == []
    assert [p["name"] for p in json.loads(run(env, "projects", "list", "--json").stdout)] == ["shop"]


async def test_project_names_and_settings(db):
    for name in ("acme\x00", "ac\x07me", "\ud800"):
        with pytest.raises(WacastError) as error:
            async with db.transaction() as session:
                await projects.create(session, name)
        assert error.value.code == "FIELD_INVALID" and error.value.details["field"] == "name"
    async with db.transaction() as session:
        await projects.create(session, "acme")
    for option in ({"waba_id": "12\x003"}, {"sender_number": "+91\x00"}, {"opt_out_keywords": ["STOP\x00"]}, {"timezone": "Asia/\x01"}):
        with pytest.raises(WacastError) as error:
            async with db.transaction() as session:
                await projects.update(session, "acme", **option)
        assert error.value.code == "FIELD_INVALID" and error.value.details["field"] == next(iter(option))
    with pytest.raises(WacastError) as error:
        async with db.transaction() as session:
            await projects.update(session, "acme", sender_number="+9" + "1" * 30)
    assert error.value.code == "FIELD_TOO_LONG"
    with pytest.raises(WacastError) as error:
        async with db.read() as session:
            await projects.get_by_name(session, "ac\x00me")
    assert error.value.code == "FIELD_INVALID"
    async with db.read() as session:
        assert [p.name for p in await projects.list_all(session)] == ["acme"]
        project = (await session.execute(select(Project))).scalar_one()
        assert (project.waba_id, project.sender_number, project.timezone) == (None, None, "Asia/Kolkata")


async def test_a_synced_template_with_a_nul_is_skipped(db, settings, fake_meta):
    fake_meta.add_template("broken", [{"type": "BODY", "text": "Hi\x00"}])
    setup = await make_cloud_project(db, settings.model_copy(update={"graph_api_url": fake_meta.base_url}), fake_meta, campaigns_for=())
    async with db.read() as session:
        names = set((await session.execute(select(Template.name).where(Template.project_id == setup.project_id))).scalars())
    assert "broken" not in names and "order_update" in names


# Issue 12, finding 13: parameter text Meta refuses is refused at the campaign API, from any
# source (the request, a contact attribute, paramsFallbackValue); what AiSensy passes on is not.
PARAMS_REFUSED = {"a\u2028b": "PARAM_INVALID_TEXT", "a\u2029b": "PARAM_INVALID_TEXT", "\u200b": "PARAM_EMPTY",
                  "\u200c\u200d\u2060": "PARAM_EMPTY", "\ufeff": "PARAM_EMPTY", "\u3164": "PARAM_EMPTY", "a\x0bb": "FIELD_INVALID",
                  "a\x0cb": "FIELD_INVALID", "a\x07b": "FIELD_INVALID"}
PARAMS_ACCEPTED = ["👨\u200d👩\u200d👧 family", "می\u200cخواهم", "₹1,299.00", "a    b", "Asha\u00a0Verma"]


async def test_template_parameters_follow_meta_s_rule_from_every_source(client, db):
    from tests.support.factories import body

    setup = await make_project(db)
    for value, code in PARAMS_REFUSED.items():
        for extra in ({"templateParams": [value, "O-1"]}, {"templateParams": ["$plan", "O-1"], "paramsFallbackValue": {"plan": value}},
                      {"templateParams": ["$city", "O-1"], "attributes": {"city": value}, "destination": "+917428526201"}):
            answer = await client.post("/campaign/t1/api/v2", json=body(setup, **extra))
            # a blank attribute or fallback is no value: the fallback, then PARAM_UNRESOLVED
            codes = {code, "PARAM_UNRESOLVED"} if code == "PARAM_EMPTY" and extra["templateParams"][0].startswith("$") else {code}
            assert answer.status_code == 400 and answer.json()["code"] in codes, (value, extra, answer.text)
    for i, value in enumerate(PARAMS_ACCEPTED):
        answer = await client.post("/campaign/t1/api/v2", json=body(setup, destination=f"+91742852630{i}", templateParams=[value, "O-1"]))
        assert answer.status_code == 200, (value, answer.text)


async def test_a_broadcast_s_fixed_parameter_text_is_checked_at_create(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    assert (await client.post("/api/v1/segments", headers=h, json={"name": "all", "filter": {"conditions": []}})).status_code == 201
    base = {"type": "broadcast", "name": "spring", "template": "order_update", "segment": "all", "send_at": "2099-01-01T10:00"}
    for params, field, code in ((["a\u2028b", "O-1"], "params[0]", "PARAM_INVALID_TEXT"), (["Asha", "two\nlines"], "params[1]", "PARAM_INVALID_TEXT"),
                                (["$city", {"attribute": "plan", "fallback": "\u200b"}], "params[1].fallback", "PARAM_EMPTY")):
        answer = await client.post("/api/v1/campaigns", headers=h, json={**base, "params": params})
        assert answer.status_code == 400 and answer.json()["code"] == code and answer.json()["details"]["field"] == field, answer.text
    assert (await client.post("/api/v1/campaigns", headers=h, json={**base, "params": ["$name", "O-1"]})).status_code == 201
