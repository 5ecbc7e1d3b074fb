"""The hostile pass (issue 12's "done when"): NUL, control characters, lone surrogates (JSON
`\\ud800` escapes and percent-encoded bytes that are not UTF-8), Unicode line separators,
invisible-only text, huge fields and bad URLs, at every way text enters wacast:

- every REST route of the app's OpenAPI: each string (and object key) of a body in turn,
  each query parameter, each path segment;
- every form the dashboard shows a signed-in owner (found by walking its pages), each field
  in turn, and the sign-in form;
- a CSV import with hostile cells, a broken quote and an oversized cell;
- Meta's webhook receiver (signed bodies) and the inbound event loop that reads them.

Not one answer is a 5xx, on both backends; afterwards no table holds a NUL, a lone surrogate
or a control character, and the lists still answer 200. A 4xx of any kind is a fine answer
(unknown-field 422s included)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from tests.dashboard.test_dashboard import add_user, sign_in
from tests.support.factories import body as campaign_body
from tests.support.factories import make_project
from wacast.kit import text
from wacast.models import AttributeDefinition, Base, Tag
from wacast.whatsapp.inbound import InboundEvents

PHONE = "+917428526285"
PHONE_NUMBER_ID = "109000000000001"
SECRET = "test-app-secret"  # tests/conftest.py settings

# The JSON text of each hostile string value.
JSON_VALUES = {
    "nul": '"a\\u0000b"',
    "escape": '"a\\u001bb"',
    "c1": '"a\\u0085b"',
    "del": '"a\\u007fb"',
    "lone_surrogate": '"a\\ud800b"',
    "line_separator": '"a\\u2028b"',
    "invisible_only": '"\\u200b\\u2060"',
    "long": json.dumps("x" * 5_000),
    "huge": json.dumps("x" * 70_000),  # over the 64 KB body limit
}
BAD_URLS = ['"javascript:alert(1)"', '"http://[::1"', '"http://127.0.0.1:9/x.png"', '"file:///etc/passwd"', '"http://a\\u0000b.example/x"']
# Percent-encoded hostile query values and path segments.
URL_VALUES = ["a%00b", "a%1Bb", "a%C2%85b", "%FF", "%ED%A0%80", "a%E2%80%A8b", "x" * 3_000]
# Hostile form values (the last two as raw bytes: no browser sends them, a client can).
FORM_VALUES = ["a\x00b", "a\x1bb", "a\x85b", "a\u2028b", "\u200b", "x" * 70_000]
FORM_RAW = ["a%00b", "%ED%A0%80", "%FF"]

X = "\x00HOSTILE\x00"  # marks where the hostile JSON goes in a body


def _leaves(value: Any, path: tuple = ()) -> list[tuple]:
    """The path of every string and of every object key in a JSON value."""
    found = []
    if isinstance(value, str):
        found.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            found.append((*path, ("key", key)))
            found.extend(_leaves(item, (*path, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_leaves(item, (*path, i)))
    return found


def _marked(value: Any, path: tuple) -> Any:
    """`value` with the leaf at `path` replaced by the marker X."""
    if not path:
        return X
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # ("key", name): the key itself
        return {(X if k == head[1] else k): v for k, v in value.items()}
    if isinstance(value, dict):
        return {k: (_marked(v, rest) if k == head else v) for k, v in value.items()}
    return [(_marked(v, rest) if i == head else v) for i, v in enumerate(value)]


def hostile_bodies(template: Any, values: list[str]) -> list[bytes]:
    out = []
    for path in _leaves(template):
        text = json.dumps(_marked(template, path))
        out.extend(text.replace(json.dumps(X), value).encode() for value in values)
    return out


class Forms(HTMLParser):
    """The POST forms of a page: action, fields (name -> value) and which are files; and links."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.links: set[str] = set()
        self._form: dict[str, Any] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "a" and (a.get("href") or "").startswith("/"):
            self.links.add(a["href"])
        if tag == "form" and (a.get("method") or "get").lower() == "post":
            self._form = {"action": a.get("action") or "", "fields": {}, "files": set()}
            self.forms.append(self._form)
        if self._form is None or not a.get("name"):
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind == "file":
                self._form["files"].add(a["name"])
            elif kind not in ("submit", "button", "checkbox", "radio") or a.get("checked") is not None:
                self._form["fields"][a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._form["fields"][a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
            self._form["fields"][a["name"]] = ""
        if tag == "option" and self._select and not self._form["fields"][self._select]:
            self._form["fields"][self._select] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


class Pass:
    """Sends requests and keeps every 5xx (all are reported at the end, not only the first)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.failures: list[str] = []
        self.sent = 0

    async def send(self, method: str, url: str, **kw: Any) -> httpx.Response:
        self.sent += 1
        response = await self.client.request(method, url, **kw)
        if response.status_code >= 500:
            sent = kw.get("content") or kw.get("data") or b""
            self.failures.append(f"{response.status_code} {method} {url[:120]} {str(sent)[:160]!r} -> {response.text[:160]}")
        return response


# --- the set-up: one of everything a path can name ---------------------------------------------


@pytest.fixture
def settings(settings):  # noqa: ANN001
    # Webhook URLs on loopback (nothing here resolves a public name)
    return settings.model_copy(update={"allow_private_webhook_hosts": True})


@pytest.fixture
async def world(client, db, media_server):  # noqa: ANN001
    setup = await make_project(db, phone_number_id=PHONE_NUMBER_ID)
    headers = {"Authorization": f"Bearer {setup.api_key}"}
    made = [
        await client.post("/api/v1/contacts", headers=headers, json={"phone": PHONE, "name": "Asha", "attributes": {"city": "Pune"}, "tags": ["vip"]}),
        await client.post("/api/v1/segments", headers=headers, json={"name": "all", "filter": {"conditions": []}}),
        await client.post("/api/v1/webhooks", headers=headers, json={"url": "http://127.0.0.1:9/hook", "topics": ["message.status.updated"]}),  # noqa: E501
        await client.post("/campaign/t1/api/v2", json=campaign_body(setup)),
        await client.post("/api/v1/campaigns", headers=headers, json={
            "type": "broadcast", "name": "spring", "template": "order_update", "segment": "all", "params": ["$name", "ORD-1"],
            "send_at": "2099-01-01T10:00"}),
    ]
    assert [r.status_code for r in made] == [201, 201, 201, 200, 201], " / ".join(r.text[:200] for r in made if r.status_code >= 300)
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    return {
        "setup": setup, "headers": headers, "media": media_server.url("/photo.png"), "webhook": made[2].json()["id"], "message": made[3].json()["submitted_message_id"],
    }


def path_values(world: dict) -> dict[str, str]:
    return {"slug": "t1", "contact": PHONE, "tag": "vip", "attribute": "city", "segment": "all", "campaign": "spring",
            "template": "order_update", "webhook_id": world["webhook"], "submitted_message_id": world["message"],
            "token": "AAAAAAAAAAAAAAAA", "media_id": "1234567890", "version": "1",
            "notification_id": "00000000-0000-4000-8000-000000000001"}


def request_bodies(world: dict) -> dict[tuple[str, str], list[Any]]:
    """A valid body per write route (the OpenAPI example where there is one, these otherwise)."""
    setup = world["setup"]
    flt = {"conditions": [{"field": "attribute", "name": "city", "op": "equals", "value": "Pune"},
                          {"field": "tags", "op": "any", "value": ["vip"]}, {"field": "source", "op": "equals", "value": "web"}]}
    api_v2 = [campaign_body(setup, attributes={"city": "Pune"}, tags=["vip"], source="web", paramsFallbackValue={"FirstName": "you"}),
              campaign_body(setup, "image_header", media={"url": world["media"], "filename": "a.png"}),
              campaign_body(setup, "url_button", buttons=[{"type": "button", "sub_type": "url", "index": 0,
                                                           "parameters": [{"type": "text", "text": "T1"}]}])]
    return {
        ("post", "/campaign/{slug}/api/v2"): api_v2,
        ("post", "/campaign/{slug}/api"): api_v2[:1],
        ("post", "/campaign/{slug}/api/campaign-details"): [{"apiKey": setup.api_key, "campaignName": "order_update"}],
        ("post", "/api/v1/segments"): [{"name": "s2", "filter": flt}],
        ("post", "/api/v1/segments/count"): [{"filter": flt}],
        ("post", "/api/v1/campaigns"): [
            {"type": "broadcast", "name": "b2", "template": "order_update", "language": "en", "segment": "all",
             "params": ["$city", {"attribute": "plan", "fallback": "basic"}], "send_at": "2099-01-01T10:00", "source": "web"},
            {"type": "broadcast", "name": "b3", "template": "image_header", "segment": "all", "params": ["a", "b"],
             "media": {"url": world["media"]}, "send_at": "2099-01-01T10:00"},
            {"type": "api", "name": "a2", "template": "order_update", "language": "en"},
        ],
        ("post", "/api/v1/campaigns/{campaign}/segment"): [{"name": "failed ones", "status": ["FAILED"]}],
        ("put", "/api/v1/send-policy"): [{"quiet_hours": {"start": "21:00", "end": "09:00"}, "messaging_tier": "unlimited"}],
        ("post", "/api/v1/webhooks"): [{"url": "http://127.0.0.1:9/h2", "topics": ["message.status.updated"], "secret": "s" * 24,
                                        "description": "CRM"}],
    }


NO_BODY = {"/live", "/pause", "/resume", "/cancel", "/retry-failed", "/test", "/erase", "/read"}  # action routes: no body to read


def openapi_example(op: dict) -> Any:
    for content in op.get("requestBody", {}).get("content", {}).values():
        if "example" in content:
            return content["example"]
    return None


async def rest_pass(app, probe: Pass, world: dict) -> None:  # noqa: ANN001
    headers = {**world["headers"], "Content-Type": "application/json"}
    values = path_values(world)
    bodies = request_bodies(world)
    missing = []
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/webhooks/whatsapp") or path == "/healthz":
            continue
        for method, op in ops.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            fill = {n: quote(values[n], safe="+") for n in names}
            url = path.format(**fill)
            # each path segment, hostile in turn
            for name in names:
                for bad in URL_VALUES:
                    await probe.send(method, path.format(**{**fill, name: bad}), headers=headers, content=b"{}")
            # each query parameter
            for query in (p["name"] for p in op.get("parameters", []) if p["in"] == "query"):
                for bad in URL_VALUES:
                    await probe.send(method, f"{url}?{query}={bad}", headers=headers, content=b"{}" if method != "get" else None)
            # an Idempotency-Key that breaks the rule
            if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
                for bad in ("a\x00b", "a\x1bb", "k" * 2_000):
                    await probe.send(method, url, headers={**headers, "Idempotency-Key": bad}, content=b"{}")
            if method not in ("post", "put", "patch") or any(path.endswith(s) for s in NO_BODY):
                continue
            templates = bodies.get((method, path)) or ([openapi_example(op)] if openapi_example(op) is not None else [])
            if not templates:
                missing.append(f"{method.upper()} {path}")
            for template in templates:
                urls = BAD_URLS if '"url"' in json.dumps(template) else []
                for content in hostile_bodies(template, [*JSON_VALUES.values(), *urls]):
                    await probe.send(method, url, headers=headers, content=content)
    assert not missing, f"give these write routes a body in request_bodies(): {missing}"


# --- the dashboard ---------------------------------------------------------------------------


async def crawl(probe: Pass) -> list[dict[str, Any]]:
    """Every POST form on the pages a signed-in owner reaches from the home page (each page
    itself must not be a 5xx either)."""
    seen: set[str] = set()
    queue = ["/", "/contacts/import", "/templates/new", "/campaigns/new", "/broadcasts/new"]
    forms: dict[tuple, dict[str, Any]] = {}
    while queue and len(seen) < 60:
        page = queue.pop(0)
        if page in seen or page.endswith((".csv", ".json")) or page.startswith(("/logout", "/api", "/static")):
            continue
        seen.add(page)
        answer = await probe.send("GET", page)
        if answer.status_code != 200 or "text/html" not in answer.headers.get("content-type", ""):
            continue
        parser = Forms()
        parser.feed(answer.text)
        queue.extend(sorted(link.split("#")[0] for link in parser.links if link.split("#")[0] not in seen))
        for form in parser.forms:
            # one form per action shape (the same form on every row of a list is tried once)
            shape = (re.sub(r"[0-9a-f-]{36}", "{id}", form["action"]), tuple(sorted(form["fields"])))
            forms.setdefault(shape, form)
    return list(forms.values())


async def dashboard_pass(client: httpx.AsyncClient, probe: Pass) -> int:
    assert (await sign_in(client, "owner@acme.test", "password-owner")).status_code == 303
    forms = await crawl(probe)
    tried = 0
    for form in forms:
        if form["action"] in ("/logout", "/login"):
            continue
        for field in [f for f in form["fields"] if f != "csrf"]:
            tried += 1
            for bad in FORM_VALUES:
                await probe.send("POST", form["action"], data={**form["fields"], field: bad})
            for raw in FORM_RAW:
                encoded = "&".join(f"{quote(k)}={raw if k == field else quote(v)}" for k, v in form["fields"].items())
                await probe.send("POST", form["action"], content=encoded.encode(),
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        if (await client.get("/")).status_code == 303:  # a form ended the session (a password change): sign in again
            assert (await sign_in(client, "owner@acme.test", "password-owner")).status_code == 303
    return tried


async def sign_in_pass(client: httpx.AsyncClient, probe: Pass) -> None:
    """The sign-in form, from a fresh client (a handful: the slow-down counts failures)."""
    page = await client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    for email, password in (("a\x00b@x.test", "p"), ("owner@acme.test", "p\x00"), ("\u200b", "a\x1bb"), ("x" * 70_000, "p")):
        await probe.send("POST", "/login", data={"email": email, "password": password, "csrf": token})
    await probe.send("POST", "/login", content=f"email=%FF&password=%ED%A0%80&csrf={token}".encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    await probe.send("GET", "/login?next=/a%00b")


async def import_pass(client: httpx.AsyncClient, probe: Pass) -> None:
    """CSV imports with hostile cells, a hostile header, a broken quote and a huge cell."""
    page = await client.get("/contacts/import")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    files = [
        "phone,name,city,tags\n+917428526290,A\x00sha,Pune,vip\n",
        "phone,ci\x00ty\n+917428526290,Pune\n",
        "phone,ci\x1bty\n+917428526290,Pune\n",
        "phone,=cmd\n+917428526290,=1+1\n",
        "phone,name,city,tags\n+917428526291,\x1bEsc,Pune,vip\n+917428526292,Ok,Pu\x85ne,b\x7fad\n+917428526293,\"Open,Pune,\n"
        "+917428526294,Swallowed,Pune,\"\n+917428526295,Big," + "x" * 140_000 + ",\n+917428526296,\u2028,\u200b,\u3164\n",
    ]
    for data in files:
        answer = await probe.send("POST", "/contacts/import", data={"csrf": token}, files={"file": ("h.csv", data.encode(), "text/csv")},
                                  headers={"accept": "application/json"})
        if answer.status_code == 201:
            url = answer.json()["url"]
            for _ in range(200):
                status = (await probe.send("GET", url + ".json")).json()
                if status["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.02)
            assert status["status"] == "done", status
            assert status["processed_rows"] == status["total_rows"] == status["created"] + status["updated"] + status["errors"], status
            await probe.send("GET", url + "/errors.csv")
    for bad in ("a\x00b.csv", "a\x1bb.csv", "x" * 5_000 + ".csv"):
        await probe.send("POST", "/contacts/import", data={"csrf": token}, files={"file": (bad, b"phone\n+917428526297\n", "text/csv")})


# --- Meta's webhooks -------------------------------------------------------------------------


def _inbound(text_json: str, name_json: str = '"Asha"', sender: str = "917428526285") -> bytes:
    return (
        '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"' + PHONE_NUMBER_ID + '"},'
        '"contacts":[{"profile":{"name":' + name_json + '},"wa_id":"' + sender + '"}],'
        '"messages":[{"from":"' + sender + '","id":"wamid.' + uuid.uuid4().hex + '","timestamp":"1764000000","type":"text",'
        '"text":{"body":' + text_json + '}}]}}]}]}'
    ).encode()


def _status(wamid_json: str, error_json: str) -> bytes:
    return (
        '{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
        '{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"' + PHONE_NUMBER_ID + '"},'
        '"statuses":[{"id":' + wamid_json + ',"status":"failed","timestamp":"1764000000","recipient_id":"917428526285",'
        '"errors":[{"code":131026,"title":' + error_json + ',"message":' + error_json + '}]}]}}]}]}'
    ).encode()


async def webhook_pass(client: httpx.AsyncClient, probe: Pass, db, settings) -> None:  # noqa: ANN001
    values = [v for k, v in JSON_VALUES.items() if k != "huge"]
    raws = [_inbound(v) for v in values] + [_inbound('"hi"', v) for v in values] + [_inbound('"hi"', sender="91742852\\u00006285")]
    raws += [_status(v, '"x"') for v in values] + [_status('"wamid.1"', v) for v in values]
    for raw in raws:
        signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        await probe.send("POST", "/webhooks/whatsapp", content=raw, headers={"content-type": "application/json", "x-hub-signature-256": signature})
    await probe.send("GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=a%00b&hub.challenge=%FF")
    inbound = InboundEvents(db, settings)
    for _ in range(20):  # the loop reads what was stored: it must not crash on any of it
        if not await inbound.tick():
            break


# --- afterwards --------------------------------------------------------------------------------

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # PostgreSQL cannot store them: nowhere, ever
BAD_STORED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# What a person or Meta sent, kept as sent (control characters included; NUL never).
# What a person wrote is kept as sent (the reply's text and its typed content) and shown escaped.
AS_SENT = {("inbound_events", "body"), ("inbound_events", "note"), ("replies", "text"), ("replies", "content"),
           ("idempotency_keys", "response_body")}


def _bad_strings(value: Any, rule: re.Pattern) -> list[str]:
    if isinstance(value, str):
        return [value[:60]] if rule.search(value) or len(value) >= 60_000 else []
    if isinstance(value, dict):
        return [bad for k, v in value.items() for bad in _bad_strings(k, rule) + _bad_strings(v, rule)]
    if isinstance(value, (list, tuple)):
        return [bad for item in value for bad in _bad_strings(item, rule)]
    return []


async def stored_hostile_text(db) -> list[str]:  # noqa: ANN001
    found = []
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column, value in row.items():
                    rule = UNSTORABLE if (table.name, column) in AS_SENT else BAD_STORED
                    found.extend(f"{table.name}.{column}: {bad!r}" for bad in _bad_strings(value, rule))
    return found


async def test_hostile_pass(app, client, db, settings, world) -> None:  # noqa: ANN001
    probe = Pass(client)
    await rest_pass(app, probe, world)
    forms = await dashboard_pass(client, probe)
    await import_pass(client, probe)
    await webhook_pass(client, probe, db, settings)
    async with httpx.AsyncClient(transport=client._transport, base_url="http://wacast.test") as fresh:
        signing_in = Pass(fresh)
        await sign_in_pass(fresh, signing_in)
    probe.failures += signing_in.failures
    assert forms >= 20, f"the dashboard walk found only {forms} form fields"
    assert probe.sent > 2_000, probe.sent
    assert not probe.failures, f"{len(probe.failures)} of {probe.sent} answers were 5xx:\n" + "\n".join(probe.failures[:40])
    stored = await stored_hostile_text(db)
    assert not stored, "hostile text was stored:\n" + "\n".join(stored[:40])
    async with db.read() as session:
        labels = [*(await session.execute(select(Tag.name))).scalars(), *(await session.execute(select(AttributeDefinition.name))).scalars()]
    assert not [name for name in labels if text.is_blank(name)], labels  # an invisible-only name is no name
    headers = world["headers"]
    for url in ("/api/v1/contacts", "/api/v1/tags", "/api/v1/attributes", "/api/v1/templates", "/api/v1/campaigns", "/api/v1/segments",
                "/api/v1/segments/all/export", "/api/v1/webhooks", "/api/v1/messages"):
        answer = await client.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.text[:300])
    for page in ("/contacts", "/tags", "/templates", "/campaigns", "/broadcasts", "/segments", "/contacts/export.csv", "/sandbox"):
        answer = await client.get(page)
        assert answer.status_code == 200, (page, answer.text[:300])
