"""Creating, editing, duplicating and deleting a template, through REST, the CLI and the
services the dashboard calls, in a sandbox project and a Cloud API project wired to the fake
Meta (POST /{template-id}, DELETE /{waba-id}/message_templates). A template Meta would refuse
is refused with the reason and writes nothing; an approved template's edit goes back to review
(PENDING) at Meta; a template a campaign or a scheduled broadcast uses is not deleted, and the
refusal names them."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support.cli import run, run_json
from tests.support.cloud import make_cloud_project
from tests.support.factories import make_project
from wacast.kit.errors import WacastError
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import sync

SHIPPED = {
    "name": "shipped", "language": "en", "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Asha", "ORD-1"]]}},
                   {"type": "FOOTER", "text": "Reply STOP to opt out"}],
}
THREE_TWO = {"name": "three_two", "language": "en", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships on {{3}}.",
                             "example": {"body_text": [["Asha", "ORD-1"]]}}]}
EDITED = [{"type": "BODY", "text": "Hello {{1}}, order {{2}} is on its way.", "example": {"body_text": [["Ravi", "ORD-9"]]}}]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def stored(db, project_id) -> dict[str, Template]:
    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Template).where(Template.project_id == project_id))).scalars().all()
    return {f"{t.name}/{t.language}": t for t in rows}


async def count(db, project_id) -> int:
    async with db.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Template).where(Template.project_id == project_id))).scalar_one()


# --- sandbox, through REST ---------------------------------------------------------------------


async def test_the_sandbox_refuses_what_meta_would_refuse_and_writes_nothing(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    before = await count(db, setup.project_id)
    refused = await client.post("/api/v1/templates", headers=h, json=THREE_TWO)
    assert refused.status_code == 400, refused.text
    error = refused.json()
    assert error["code"] == "TEMPLATE_INVALID" and error["details"]["rule"] == "SAMPLE_COUNT"
    assert "3 placeholder(s) but 2 sample value(s)" in error["message"]
    no_samples = {**SHIPPED, "components": [{"type": "BODY", "text": "Welcome back {{1}}!"}]}
    assert (await client.post("/api/v1/templates", headers=h, json=no_samples)).json()["details"]["rule"] == "SAMPLE_MISSING"
    gap = {**SHIPPED, "components": [{"type": "BODY", "text": "Hi {{1}}, order {{3}} shipped.", "example": {"body_text": [["a", "b"]]}}]}
    assert (await client.post("/api/v1/templates", headers=h, json=gap)).json()["details"]["rule"] == "PLACEHOLDER_GAP"
    assert await count(db, setup.project_id) == before
    created = await client.post("/api/v1/templates", headers=h, json=SHIPPED)
    assert created.status_code == 201 and created.json()["status"] == "APPROVED", created.text


async def test_edit_duplicate_and_delete_through_rest(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    made = (await client.post("/api/v1/templates", headers=h, json=SHIPPED)).json()

    # Edit: new components, approved at once in the sandbox; the rest of the template stays.
    edited = await client.put(f"/api/v1/templates/{made['id']}", headers=h, json={"components": EDITED})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["id"], edited.json()["status"], edited.json()["components"]) == (made["id"], "APPROVED", EDITED)
    by_name = await client.put("/api/v1/templates/shipped?language=en", headers=h, json={"components": SHIPPED["components"]})
    assert by_name.status_code == 200 and by_name.json()["components"] == SHIPPED["components"]

    # Refused edits change nothing: Meta's rules, name, language, format, an approved template's category.
    for body, field in (({"components": THREE_TWO["components"]}, "components[0].example"),
                        ({"components": EDITED, "name": "other"}, "name"),
                        ({"components": EDITED, "language": "hi"}, "language"),
                        ({"components": EDITED, "parameter_format": "NAMED"}, "parameter_format"),
                        ({"components": EDITED, "category": "MARKETING"}, "category")):
        answer = await client.put(f"/api/v1/templates/{made['id']}", headers=h, json=body)
        assert answer.status_code == 400 and answer.json()["code"] == "TEMPLATE_INVALID", answer.text
        assert answer.json()["details"]["field"] == field, answer.json()
    assert (await client.put(f"/api/v1/templates/{made['id']}", headers=h, json={"components": EDITED, "colour": 1})).status_code == 422
    assert (await stored(db, setup.project_id))["shipped/en"].components == SHIPPED["components"]

    # Duplicate: the same template under a new name, or in another language.
    copy_ = await client.post(f"/api/v1/templates/{made['id']}/duplicate", headers=h, json={"name": "shipped_v2"})
    assert copy_.status_code == 201, copy_.text
    assert (copy_.json()["name"], copy_.json()["language"], copy_.json()["status"]) == ("shipped_v2", "en", "APPROVED")
    assert copy_.json()["components"] == SHIPPED["components"] and copy_.json()["id"] != made["id"]
    hindi = await client.post("/api/v1/templates/shipped/duplicate", headers=h, json={"name": "shipped", "language": "hi"})
    assert hindi.status_code == 201 and hindi.json()["language"] == "hi"
    taken = await client.post("/api/v1/templates/shipped/duplicate?language=en", headers=h, json={"name": "shipped_v2"})
    assert taken.status_code == 409 and taken.json()["code"] == "TEMPLATE_EXISTS"
    ambiguous = await client.post("/api/v1/templates/shipped/duplicate", headers=h, json={"name": "shipped_v3"})
    assert ambiguous.status_code == 400 and ambiguous.json()["code"] == "TEMPLATE_LANGUAGE_AMBIGUOUS"
    bad = await client.post(f"/api/v1/templates/{made['id']}/duplicate", headers=h, json={"name": "Shipped V3"})
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "name"
    assert (await client.post(f"/api/v1/templates/{made['id']}/duplicate", headers=h, json={})).json()["code"] == "FIELD_REQUIRED"

    # Delete: refused while a campaign or a scheduled broadcast uses it, naming them.
    assert (await client.post("/api/v1/campaigns", headers=h, json={"type": "api", "name": "dispatch", "template": "shipped_v2"})).status_code == 201
    assert (await client.post("/api/v1/campaigns/dispatch/live", headers=h)).status_code == 200
    segment = await client.post("/api/v1/segments", headers=h, json={"name": "everyone", "filter": {"match": "all", "conditions": []}})
    assert segment.status_code == 201, segment.text
    scheduled = await client.post("/api/v1/campaigns", headers=h, json={
        "type": "broadcast", "name": "weekend", "template": "shipped_v2", "segment": segment.json()["id"],
        "params": ["friend", "ORD"], "send_at": "2099-01-01T10:00"})
    assert scheduled.status_code == 201 and scheduled.json()["status"] == "scheduled", scheduled.text
    in_use = await client.delete("/api/v1/templates/shipped_v2", headers=h)
    assert in_use.status_code == 409 and in_use.json()["code"] == "TEMPLATE_IN_USE"
    assert "campaign dispatch (live)" in in_use.json()["message"] and "broadcast weekend (scheduled)" in in_use.json()["message"]
    assert in_use.json()["details"]["uses"] == [{"name": "dispatch", "type": "api", "status": "live"},
                                                {"name": "weekend", "type": "broadcast", "status": "scheduled"}]
    assert "shipped_v2/en" in await stored(db, setup.project_id)
    assert (await client.delete(f"/api/v1/templates/{made['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/templates/{made['id']}", headers=h)).status_code == 404


# --- Cloud API: the calls reach Meta -----------------------------------------------------------


@pytest.fixture
def settings(settings, fake_meta):
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


async def test_an_edit_goes_to_meta_and_back_to_review(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    h = auth(setup.api_key)
    order = (await stored(db, setup.project_id))["order_update/en"]
    assert order.status == "APPROVED" and order.meta_id
    components = [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} is packed.", "example": {"body_text": [["Asha", "ORD-1"]]}}]
    answer = await client.put("/api/v1/templates/order_update", headers=h, json={"components": components})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "PENDING" and answer.json()["components"] == components
    assert fake_meta.edits == [(order.meta_id, {"components": components})]
    on_meta = next(t for t in fake_meta.templates if t["id"] == order.meta_id)
    assert (on_meta["status"], on_meta["components"]) == ("PENDING", components)

    # A PENDING template is not editable (Meta's rule): refused here, nothing sent to Meta.
    again = await client.put("/api/v1/templates/order_update", headers=h, json={"components": components})
    assert again.status_code == 409 and again.json()["code"] == "TEMPLATE_NOT_EDITABLE", again.text
    assert len(fake_meta.edits) == 1

    # What Meta refuses is reported and changes nothing here: Meta is reviewing no_params
    # (PENDING there) while wacast's copy still says APPROVED.
    no_params = (await stored(db, setup.project_id))["no_params/en"]
    fake_meta.set_status("no_params", "PENDING")
    with pytest.raises(WacastError) as refused:
        async with db.transaction() as session:
            project = await session.get(Project, setup.project_id)
            template = await session.get(Template, no_params.id)
            await sync.edit_template(session, project, template, {"components": [{"type": "BODY", "text": "Thanks for joining!"}]}, settings)
    assert refused.value.code == "META_ERROR" and refused.value.status_code == 502
    assert (await stored(db, setup.project_id))["no_params/en"].components == no_params.components


async def test_delete_reaches_meta_for_that_language_only(client, db, settings, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=("order_update",))
    h = auth(setup.api_key)
    fake_meta.add_template("no_params", copy.deepcopy(fake_meta.templates[1]["components"]), language="hi")
    await client.post("/api/v1/templates/no_params/duplicate", headers=h, json={"name": "no_params_copy"})
    templates = await stored(db, setup.project_id)
    target = templates["no_params/en"]
    assert (await client.delete("/api/v1/templates/no_params?language=en", headers=h)).status_code == 204
    assert fake_meta.deleted == [{"name": "no_params", "hsm_id": target.meta_id}]
    left = {(t["name"], t["language"]) for t in fake_meta.templates}
    assert ("no_params", "en") not in left and ("no_params", "hi") in left
    assert "no_params/en" not in await stored(db, setup.project_id)
    # In use: refused before Meta is called.
    in_use = await client.delete("/api/v1/templates/order_update", headers=h)
    assert in_use.status_code == 409 and "campaign order_update (live)" in in_use.json()["message"]
    assert len(fake_meta.deleted) == 1 and any(t["name"] == "order_update" for t in fake_meta.templates)
    # A template Meta already forgot is deleted here all the same.
    fake_meta.templates = [t for t in fake_meta.templates if t["name"] != "url_button"]
    async with db.transaction() as session:
        project = await session.get(Project, setup.project_id)
        template = await session.get(Template, templates["url_button/en"].id)
        await sync.delete_template(session, project, template, settings)
    assert "url_button/en" not in await stored(db, setup.project_id)


# --- the CLI --------------------------------------------------------------------------------------


def words(text: str) -> str:
    """The CLI's message with the console's line wrapping undone."""
    return " ".join(text.split())


def test_the_cli_edits_duplicates_and_deletes(db_url, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WACAST_")}
    env.update(WACAST_DATABASE_URL=db_url)
    run(env, "projects", "create", "shop")
    file = tmp_path / "shipped.json"
    file.write_text(json.dumps(THREE_TWO))
    refused = run(env, "templates", "create", "--project", "shop", "--file", str(file), "--json", ok=False)
    assert refused.returncode == 2 and "3 placeholder(s) but 2 sample value(s)" in words(refused.stderr)
    file.write_text(json.dumps(SHIPPED))
    assert run_json(env, "templates", "create", "--project", "shop", "--file", str(file))["status"] == "APPROVED"
    edit = tmp_path / "edit.json"
    edit.write_text(json.dumps({"components": EDITED}))
    edited = run_json(env, "templates", "edit", "--project", "shop", "--template", "shipped", "--file", str(edit))
    assert (edited["name"], edited["status"]) == ("shipped", "APPROVED")
    copied = run_json(env, "templates", "duplicate", "--project", "shop", "--template", "shipped", "--name", "shipped_v2")
    assert (copied["name"], copied["language"], copied["status"]) == ("shipped_v2", "en", "APPROVED")
    listed = {t["name"]: t for t in run_json(env, "templates", "list", "--project", "shop")}
    assert set(listed) == {"shipped", "shipped_v2"} and listed["shipped_v2"]["template_params"] == 2
    run(env, "campaigns", "create", "--project", "shop", "--name", "dispatch", "--template", "shipped", "--live")
    in_use = run(env, "templates", "delete", "--project", "shop", "--template", "shipped", "--json", ok=False)
    assert in_use.returncode == 2 and "campaign dispatch (live)" in words(in_use.stderr)
    assert run_json(env, "templates", "delete", "--project", "shop", "--template", "shipped_v2") == {
        "deleted": True, "name": "shipped_v2", "language": "en", "id": copied["id"]}
    assert [t["name"] for t in run_json(env, "templates", "list", "--project", "shop")] == ["shipped"]
