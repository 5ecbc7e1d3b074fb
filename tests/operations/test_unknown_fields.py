"""Unknown fields are refused, never ignored (issue 12, finding 15): every REST write route
answers 422 VALIDATION_ERROR naming a field it does not know ("frobnicate": a name no version
will add), at the top of the body and in its fixed nested objects, and writes nothing; a
write route that takes no body refuses a body with fields. The AiSensy-compatible campaign
API stays tolerant (AiSensy's own clients send extra fields). Dashboard forms refuse a field
their page does not declare, shown on the page, nothing written. Both backends."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.factories import body, make_project
from wacast.models.api_keys import ApiKey
from wacast.models.projects import Project
from wacast.models.users import User
from wacast.users import service as users

EXTRA = {"frobnicate": 1}
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
ALL = {"match": "all", "conditions": []}


@pytest.fixture
def settings(settings):  # noqa: ANN001, ANN201
    # Webhook URLs on loopback are accepted (nothing is ever delivered in these tests).
    return settings.model_copy(update={"allow_private_webhook_hosts": True})


class Api:
    """REST calls of one project, with a snapshot of what the project holds."""

    def __init__(self, client: httpx.AsyncClient, api_key: str, reads: tuple[str, ...]) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.reads = reads

    async def call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> httpx.Response:
        if payload is not None:
            kwargs["json"] = payload
        return await self.client.request(method, path, headers=self.headers, **kwargs)

    async def snapshot(self) -> dict[str, Any]:
        out = {}
        for path in self.reads:
            answer = await self.call("GET", path)
            assert answer.status_code == 200, (path, answer.text)
            out[path] = answer.json()
        return out

    async def refused(self, method: str, path: str, payload: Any = None, field: str = "frobnicate", **kwargs: Any) -> dict[str, Any]:
        """The request is a 422 naming `field`, and the project is as it was."""
        before = await self.snapshot()
        answer = await self.call(method, path, payload, **kwargs)
        assert answer.status_code == 422, (method, path, answer.status_code, answer.text)
        error = answer.json()
        assert error["code"] == "VALIDATION_ERROR" and error["details"]["fields"] == [field], (method, path, error)
        assert error["message"] == f"Unknown field(s): {field}", error
        assert field not in error["details"]["allowed"]
        assert await self.snapshot() == before, f"{method} {path} wrote something"
        return error

    async def refused_then_done(self, method: str, path: str, data: dict[str, Any] | None, status: int) -> httpx.Response:
        """`data` plus "frobnicate" is refused; `data` alone (so it was a valid body) is done."""
        await self.refused(method, path, {**(data or {}), **EXTRA})
        answer = await self.call(method, path, data)
        assert answer.status_code == status, (method, path, answer.status_code, answer.text)
        return answer


async def test_contacts_tags_and_attributes_refuse_unknown_fields(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    api = Api(client, setup.api_key, ("/api/v1/contacts", "/api/v1/tags", "/api/v1/attributes"))
    await api.refused_then_done("POST", "/api/v1/tags", {"name": "gold"}, 201)
    await api.refused_then_done("PATCH", "/api/v1/tags/gold", {"name": "platinum"}, 200)
    await api.refused_then_done("POST", "/api/v1/attributes", {"name": "tier"}, 201)
    await api.refused_then_done("PATCH", "/api/v1/attributes/tier", {"name": "level"}, 200)
    created = await api.refused_then_done("POST", "/api/v1/contacts", {"phone": "+917428526285", "name": "Asha", "tags": ["vip"]}, 201)
    contact = f"/api/v1/contacts/{created.json()['id']}"
    await api.refused_then_done("PATCH", contact, {"name": "Asha V.", "attributes": {"level": "2"}}, 200)
    await api.refused_then_done("POST", f"{contact}/tags", {"tags": ["customer"]}, 200)
    await api.refused_then_done("POST", f"{contact}/tags/remove", {"tags": ["customer"]}, 200)
    # Write routes without a body: a body with fields is refused, none (or {}) is fine.
    for path, status in ((f"{contact}/tags/vip", 200), ("/api/v1/tags/platinum", 204), ("/api/v1/attributes/level", 204), (contact, 204)):
        await api.refused_then_done("DELETE", path, None, status)
    assert (await api.call("DELETE", "/api/v1/tags/customer", {})).status_code == 204


async def test_campaigns_broadcasts_segments_and_policy_refuse_unknown_fields(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    api = Api(client, setup.api_key, ("/api/v1/campaigns", "/api/v1/segments", "/api/v1/send-policy"))
    assert (await api.call("POST", "/api/v1/contacts", {"phone": "+917428526285", "name": "Asha"})).status_code == 201

    await api.refused_then_done("POST", "/api/v1/segments", {"name": "everyone", "filter": ALL}, 201)
    await api.refused_then_done("POST", "/api/v1/segments", {"name": "spare", "filter": ALL}, 201)
    await api.refused_then_done("POST", "/api/v1/segments/count", {"filter": ALL}, 200)
    await api.refused_then_done("PATCH", "/api/v1/segments/spare", {"name": "spare2"}, 200)
    await api.refused_then_done("PATCH", "/api/v1/segments/spare2", {"name": "spare"}, 200)

    # A broadcast: top-level fields and each fixed nested object (media, location, a parameter's source).
    broadcast = {"type": "broadcast", "name": "weekend", "template": "order_update", "segment": "everyone",
                 "params": [{"attribute": "name", "fallback": "there"}, "ORD-1"]}
    await api.refused("POST", "/api/v1/campaigns", {**broadcast, "media": {"url": "https://cdn.example.com/a.jpg", **EXTRA}}, field="media.frobnicate")
    await api.refused("POST", "/api/v1/campaigns", {**broadcast, "location": {"latitude": 1, "longitude": 2, **EXTRA}}, field="location.frobnicate")
    await api.refused("POST", "/api/v1/campaigns", {**broadcast, "params": [{"attribute": "name", **EXTRA}, "x"]}, field="params[0].frobnicate")
    await api.refused("POST", "/api/v1/campaigns", {**broadcast, "buttons": {"0": {"text": "x", **EXTRA}}}, field="buttons.0.frobnicate")
    named = {**broadcast, "template": "named_order", "params": {"first_name": {"text": "A", **EXTRA}, "order_id": "1"}}
    await api.refused("POST", "/api/v1/campaigns", named, field="params.first_name.frobnicate")
    created = await api.refused_then_done("POST", "/api/v1/campaigns", broadcast, 201)
    weekend = f"/api/v1/campaigns/{created.json()['id']}"

    # The same request as a CSV upload: an unknown form field, or one in the settings JSON.
    csv = {"audience": ("people.csv", b"phone,name\n+917428526286,Ravi\n", "text/csv")}
    upload = {"type": "broadcast", "name": "uploaded", "template": "no_params"}
    await api.refused("POST", "/api/v1/campaigns", files=csv, data={"campaign": json.dumps(upload), **EXTRA})
    await api.refused("POST", "/api/v1/campaigns", files=csv, data={"campaign": json.dumps({**upload, **EXTRA})})
    answer = await api.call("POST", "/api/v1/campaigns", files=csv, data={"campaign": json.dumps(upload)})
    assert answer.status_code == 201, answer.text

    api_campaign = await api.refused_then_done("POST", "/api/v1/campaigns", {"type": "api", "name": "receipts", "template": "no_params"}, 201)
    receipts = f"/api/v1/campaigns/{api_campaign.json()['id']}"
    await api.refused_then_done("POST", f"{weekend}/segment", {"status": ["read"], "name": "readers"}, 201)

    await api.refused_then_done("PUT", "/api/v1/send-policy", {"messaging_tier": 250}, 200)
    await api.refused("PUT", "/api/v1/send-policy", {"quiet_hours": {"start": "21:00", "end": "09:00", **EXTRA}}, field="quiet_hours.frobnicate")
    await api.refused("PUT", "/api/v1/send-policy", {"frequency_cap": {"messages": 2, "days": 7, **EXTRA}}, field="frequency_cap.frobnicate")

    # Controls take no body: a client's option this version does not know is refused.
    for path in (f"{receipts}/live", f"{receipts}/pause", f"{weekend}/pause", f"{weekend}/resume", f"{weekend}/retry-failed", f"{weekend}/cancel"):
        await api.refused_then_done("POST", path, None, 200)
    await api.refused_then_done("DELETE", "/api/v1/segments/spare", None, 204)


async def test_templates_refuse_unknown_fields(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    api = Api(client, setup.api_key, ("/api/v1/templates",))
    definition = {"name": "welcome_note", "language": "en", "category": "UTILITY", "components": [{"type": "BODY", "text": "Welcome!"}]}
    await api.refused_then_done("POST", "/api/v1/templates", definition, 201)
    await api.refused_then_done("DELETE", "/api/v1/templates/welcome_note", None, 204)


async def test_webhook_subscriptions_refuse_unknown_fields(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    api = Api(client, setup.api_key, ("/api/v1/webhooks",))
    created = await api.refused_then_done("POST", "/api/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "topics": ["contact.created"]}, 201)
    hook = f"/api/v1/webhooks/{created.json()['id']}"
    await api.refused_then_done("PATCH", hook, {"description": "CRM"}, 200)
    await api.refused("POST", f"{hook}/test", EXTRA)
    await api.refused_then_done("DELETE", hook, None, 204)


async def test_the_openapi_bodies_list_their_fields_and_keep_their_examples(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    bodies = {
        ("/api/v1/contacts", "post"): "phone", ("/api/v1/contacts/{contact}", "patch"): "name", ("/api/v1/tags", "post"): "name",
        ("/api/v1/templates", "post"): "components", ("/api/v1/webhooks", "post"): "url", ("/api/v1/campaigns", "post"): "segment",
        ("/api/v1/send-policy", "put"): "quiet_hours", ("/api/v1/segments", "post"): "filter",
        ("/api/v1/segments/{segment}", "patch"): "filter",
    }
    for (path, method), field in bodies.items():
        content = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert field in content["example"], (path, content)
        assert content["schema"]["additionalProperties"] is False, path
        assert set(content["example"]) <= set(content["schema"]["properties"]), path


async def test_the_campaign_api_stays_tolerant_of_extra_fields(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    answer = await client.post("/campaign/t1/api/v2", json=body(setup, **EXTRA, source="zapier"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["submitted_message_id"]


# --- dashboard forms ---------------------------------------------------------------------------


class Browser:
    """A signed-in owner posting the dashboard's forms."""

    def __init__(self, client: httpx.AsyncClient, db: Any, api: Api) -> None:
        self.client, self.db, self.api = client, db, api

    async def csrf(self) -> str:
        return CSRF_RE.search((await self.client.get("/keys")).text).group(1)

    async def snapshot(self) -> dict[str, Any]:
        async with self.db.read() as session:
            keys = (await session.execute(select(ApiKey.id, ApiKey.name, ApiKey.revoked_at).order_by(ApiKey.id))).all()
        return {**await self.api.snapshot(), "keys": [tuple(map(str, k)) for k in keys]}

    async def post(self, path: str, data: dict[str, Any]) -> httpx.Response:
        return await self.client.post(path, data={"csrf": await self.csrf(), **data}, headers={"Referer": "http://wacast.test/keys"})

    async def refused_then_done(self, path: str, data: dict[str, Any]) -> httpx.Response:
        before = await self.snapshot()
        refused = await self.post(path, {**data, "frobnicate": "1"})
        assert refused.status_code == 303 and refused.headers["location"] == "/keys", (path, refused.status_code)
        shown = await self.client.get(refused.headers["location"])
        assert "Unknown field(s): frobnicate (VALIDATION_ERROR)" in shown.text, path
        assert await self.snapshot() == before, f"POST {path} wrote something"
        done = await self.post(path, data)
        assert done.status_code in (200, 303) and "VALIDATION_ERROR" not in (await self.client.get("/keys")).text, (path, done.text)
        return done


async def test_dashboard_forms_refuse_fields_their_page_does_not_declare(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    async with db.transaction() as session:
        await users.create_or_update(session, setup.project_id, "owner@acme.test", "password-owner", "owner")
    page = await client.get("/login")
    token = CSRF_RE.search(page.text).group(1)
    signed_in = await client.post("/login", data={"email": "owner@acme.test", "password": "password-owner", "csrf": token})
    assert signed_in.status_code == 303
    api = Api(client, setup.api_key, ("/api/v1/campaigns", "/api/v1/segments", "/api/v1/templates"))
    browser = Browser(client, db, api)

    await browser.refused_then_done("/keys", {"name": "zapier", "scope": "send"})
    async with db.read() as session:
        key_id = (await session.execute(select(ApiKey.id).where(ApiKey.name == "zapier"))).scalar_one()
    await browser.refused_then_done(f"/keys/{key_id}/revoke", {})

    templates = (await api.call("GET", "/api/v1/templates")).json()["data"]
    no_params = next(t["id"] for t in templates if t["name"] == "no_params")
    created = await browser.refused_then_done("/campaigns", {"name": "receipts", "template_id": no_params})
    campaign_path = created.headers["location"]
    await browser.refused_then_done(f"{campaign_path}/status", {"status": "live"})
    await browser.refused_then_done("/templates", {"name": "welcome_note", "language": "en", "category": "UTILITY", "body": "Welcome!"})
    await browser.refused_then_done("/segments", {"name": "everyone", "match": "all"})
    made = await browser.refused_then_done("/broadcasts", {"name": "weekend", "template": "no_params|en", "segment": "everyone"})
    await browser.refused_then_done(f"{made.headers['location']}/cancel", {})

    # Checked before the message is looked up: the unknown field is what the page reports.
    before = await browser.snapshot()
    refused = await browser.post("/sandbox/00000000-0000-0000-0000-000000000001/simulate", {"kind": "text", "text": "hi", "frobnicate": "1"})
    assert "Unknown field(s): frobnicate" in (await client.get(refused.headers["location"])).text
    assert await browser.snapshot() == before


async def test_sign_in_account_users_and_settings_forms_refuse_unknown_fields(client: httpx.AsyncClient, db) -> None:  # noqa: ANN001
    setup = await make_project(db)
    async with db.transaction() as session:
        await users.create_or_update(session, setup.project_id, "owner@acme.test", "password-owner", "owner")
    token = CSRF_RE.search((await client.get("/login")).text).group(1)
    refused = await client.post("/login", data={"email": "owner@acme.test", "password": "password-owner", "csrf": token, "frobnicate": "1"})
    assert "Unknown field(s): frobnicate" in (await client.get(refused.headers["location"], follow_redirects=True)).text
    assert (await client.get("/keys")).status_code == 303, "the refused sign-in signed nobody in"
    token = CSRF_RE.search((await client.get("/login")).text).group(1)
    assert (await client.post("/login", data={"email": "owner@acme.test", "password": "password-owner", "csrf": token})).status_code == 303
    browser = Browser(client, db, Api(client, setup.api_key, ()))

    async def users_and_project() -> tuple[Any, ...]:
        async with db.read() as session:
            rows = (await session.execute(select(User.email, User.password_hash).order_by(User.email))).all()
            project = (await session.execute(select(Project.timezone).where(Project.id == setup.project_id))).scalar_one()
        return tuple(map(tuple, rows)), project

    before = await users_and_project()
    for path, data in (
        ("/settings", {"timezone": "Europe/Berlin"}),
        ("/users", {"email": "agent@acme.test", "name": "Agent", "role": "agent", "password": "password-agent"}),
        ("/account/password", {"current_password": "password-owner", "new_password": "password-new1", "repeat_password": "password-new1"}),
        ("/account/sessions/end-others", {}),
        ("/logout", {}),
    ):
        refused = await browser.post(path, {**data, "frobnicate": "1"})
        assert "Unknown field(s): frobnicate" in (await client.get(refused.headers["location"])).text, path
        assert await users_and_project() == before, f"POST {path} wrote something"
    assert (await client.get("/keys")).status_code == 200, "the refused sign-out left the session as it was"
