"""The REST API under /api/v1 through HTTP: every endpoint, the error envelope, scopes,
tenant isolation (a key of project A gets 404 for every object of project B), and /docs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import update

from tests.support.factories import body, make_project
from wacast.api_keys import service as api_keys
from wacast.kit.clock import utcnow
from wacast.models.messages import Message


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def envelope(response, status: int, code: str) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.text
    data = response.json()
    assert data["code"] == code and isinstance(data["message"], str) and data["message"]
    return data


async def send_key(db, project_id) -> str:  # noqa: ANN001
    async with db.transaction() as session:
        _, plain = await api_keys.create_key(session, project_id, "send", "crm")
    return plain


async def test_contacts_tags_attributes_end_to_end(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    created = await client.post("/api/v1/contacts", headers=h, json={
        "phone": "7428526285", "name": "Asha", "source": "website", "attributes": {"city": "Pune"}, "tags": ["vip"],
    })
    assert created.status_code == 201, created.text
    asha = created.json()
    assert asha["phone"] == "+917428526285" and asha["tags"] == ["vip"] and asha["attributes"] == {"city": "Pune"}
    envelope(await client.post("/api/v1/contacts", headers=h, json={"phone": "+917428526285"}), 409, "CONTACT_EXISTS")
    envelope(await client.post("/api/v1/contacts", headers=h, json={"phone": "12"}), 400, "INVALID_PHONE")
    envelope(await client.post("/api/v1/contacts", headers=h, json={"phone": "+917428526286", "attributes": {"shoe": "9"}}), 400, "ATTRIBUTE_UNKNOWN")
    envelope(await client.post("/api/v1/contacts", headers=h, json={"phone": "+917428526286", "colour": "red"}), 422, "VALIDATION_ERROR")
    envelope(await client.post("/api/v1/contacts", headers=h, content=b"[1"), 400, "INVALID_JSON")
    for i in range(5):
        r = await client.post("/api/v1/contacts", headers=h, json={"phone": f"+91987654321{i}", "name": f"Ravi {i}", "source": "csv"})
        assert r.status_code == 201

    # get by id and by phone (any format)
    assert (await client.get(f"/api/v1/contacts/{asha['id']}", headers=h)).json()["name"] == "Asha"
    assert (await client.get("/api/v1/contacts/+917428526285", headers=h)).json()["id"] == asha["id"]
    assert (await client.get("/api/v1/contacts/07428526285", headers=h)).json()["id"] == asha["id"]
    envelope(await client.get("/api/v1/contacts/+919999999999", headers=h), 404, "CONTACT_NOT_FOUND")

    # list: filters, search and cursor pages
    everyone = []
    cursor = None
    while True:
        r = (await client.get("/api/v1/contacts", headers=h, params={"limit": 2, **({"cursor": cursor} if cursor else {})})).json()
        everyone += [c["phone"] for c in r["data"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert len(everyone) == 6 and len(set(everyone)) == 6
    assert [c["phone"] for c in (await client.get("/api/v1/contacts?tag=vip", headers=h)).json()["data"]] == ["+917428526285"]
    assert len((await client.get("/api/v1/contacts?source=csv", headers=h)).json()["data"]) == 5
    assert [c["name"] for c in (await client.get("/api/v1/contacts?attribute=city:Pune", headers=h)).json()["data"]] == ["Asha"]
    assert [c["name"] for c in (await client.get("/api/v1/contacts?search=ravi 3", headers=h)).json()["data"]] == ["Ravi 3"]
    assert [c["name"] for c in (await client.get("/api/v1/contacts?search=7428526", headers=h)).json()["data"]] == ["Asha"]
    envelope(await client.get("/api/v1/contacts?cursor=nonsense!", headers=h), 400, "INVALID_CURSOR")
    envelope(await client.get("/api/v1/contacts?limit=1000", headers=h), 400, "INVALID_LIMIT")
    envelope(await client.get("/api/v1/contacts?opted_in=maybe", headers=h), 422, "VALIDATION_ERROR")

    # update: name, attributes merged (null removes), opted_in, blocked
    patched = (await client.patch(f"/api/v1/contacts/{asha['id']}", headers=h, json={
        "name": "Asha V", "attributes": {"plan": "gold", "city": None}, "opted_in": False, "blocked": True,
    })).json()
    assert patched["name"] == "Asha V" and patched["attributes"] == {"plan": "gold"} and not patched["opted_in"] and patched["blocked"]
    assert len((await client.get("/api/v1/contacts?opted_in=false", headers=h)).json()["data"]) == 1
    assert len((await client.get("/api/v1/contacts?blocked=false", headers=h)).json()["data"]) == 5
    envelope(await client.patch(f"/api/v1/contacts/{asha['id']}", headers=h, json={"blocked": "yes"}), 400, "INVALID_FIELD")

    # tags on a contact
    tagged = (await client.post(f"/api/v1/contacts/{asha['id']}/tags", headers=h, json={"tags": ["customer"]})).json()
    assert tagged["tags"] == ["customer", "vip"]
    envelope(await client.post(f"/api/v1/contacts/{asha['id']}/tags", headers=h, json={"tags": ["gold"]}), 400, "TAG_UNKNOWN")
    assert (await client.delete(f"/api/v1/contacts/{asha['id']}/tags/vip", headers=h)).json()["tags"] == ["customer"]
    assert (await client.post(f"/api/v1/contacts/{asha['id']}/tags/remove", headers=h, json={"tags": ["customer"]})).json()["tags"] == []

    # tags: create, get, rename, list with counts, delete
    envelope(await client.post("/api/v1/tags", headers=h, json={"name": "vip"}), 409, "TAG_EXISTS")
    gold = await client.post("/api/v1/tags", headers=h, json={"name": "gold"})
    assert gold.status_code == 201
    await client.post(f"/api/v1/contacts/{asha['id']}/tags", headers=h, json={"tags": ["gold"]})
    renamed = (await client.patch("/api/v1/tags/gold", headers=h, json={"name": "platinum"})).json()
    assert renamed["name"] == "platinum" and renamed["contacts"] == 1
    assert (await client.get(f"/api/v1/tags/{gold.json()['id']}", headers=h)).json()["name"] == "platinum"
    assert {t["name"]: t["contacts"] for t in (await client.get("/api/v1/tags", headers=h)).json()["data"]} == {"customer": 0, "platinum": 1, "vip": 0}
    assert (await client.delete("/api/v1/tags/platinum", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/contacts/{asha['id']}", headers=h)).json()["tags"] == []
    envelope(await client.get("/api/v1/tags/platinum", headers=h), 404, "TAG_NOT_FOUND")

    # attributes: create, rename (values move), list with counts, delete (values go)
    assert (await client.post("/api/v1/attributes", headers=h, json={"name": "shoe"})).status_code == 201
    envelope(await client.post("/api/v1/attributes", headers=h, json={"name": "shoe"}), 409, "ATTRIBUTE_EXISTS")
    envelope(await client.post("/api/v1/attributes", headers=h, json={"name": ""}), 400, "INVALID_NAME")
    moved = (await client.patch("/api/v1/attributes/plan", headers=h, json={"name": "tier"})).json()
    assert moved["name"] == "tier" and moved["contacts"] == 1
    assert (await client.get(f"/api/v1/contacts/{asha['id']}", headers=h)).json()["attributes"] == {"tier": "gold"}
    assert (await client.get("/api/v1/attributes/tier", headers=h)).json()["contacts"] == 1
    names = [a["name"] for a in (await client.get("/api/v1/attributes", headers=h)).json()["data"]]
    assert names == ["city", "order_id", "shoe", "tier"]
    assert (await client.delete("/api/v1/attributes/tier", headers=h)).status_code == 204
    assert (await client.get(f"/api/v1/contacts/{asha['id']}", headers=h)).json()["attributes"] == {}

    # delete a contact
    assert (await client.delete(f"/api/v1/contacts/{asha['id']}", headers=h)).status_code == 204
    envelope(await client.get(f"/api/v1/contacts/{asha['id']}", headers=h), 404, "CONTACT_NOT_FOUND")


async def test_templates_list_get_create_delete(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    listed = (await client.get("/api/v1/templates", headers=h)).json()["data"]
    order = next(t for t in listed if t["name"] == "order_update")
    assert order["status"] == "APPROVED" and order["total_parameters"] == 2
    assert (await client.get("/api/v1/templates/order_update", headers=h)).json()["id"] == order["id"]
    assert (await client.get(f"/api/v1/templates/{order['id']}", headers=h)).json()["name"] == "order_update"
    assert len((await client.get("/api/v1/templates?status=approved&category=utility", headers=h)).json()["data"]) >= 1
    new = {"name": "welcome_back", "language": "en", "category": "MARKETING", "components": [{"type": "BODY", "text": "Welcome back {{1}}!", "example": {"body_text": [["Asha"]]}}]}
    created = await client.post("/api/v1/templates", headers=h, json=new)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "APPROVED" and created.json()["total_parameters"] == 1  # sandbox: approved at once
    envelope(await client.post("/api/v1/templates", headers=h, json=new), 409, "TEMPLATE_EXISTS")
    envelope(await client.post("/api/v1/templates", headers=h, json={**new, "name": "Bad Name"}), 400, "TEMPLATE_INVALID")
    envelope(await client.delete("/api/v1/templates/order_update", headers=h), 409, "TEMPLATE_IN_USE")
    assert (await client.delete("/api/v1/templates/welcome_back", headers=h)).status_code == 204
    envelope(await client.get("/api/v1/templates/welcome_back", headers=h), 404, "TEMPLATE_NOT_FOUND")


async def test_campaigns_messages_analytics_and_audience(client, db, dispatcher):
    setup = await make_project(db)
    h = auth(setup.api_key)
    created = await client.post("/api/v1/campaigns", headers=h, json={"type": "api", "name": "Diwali", "template": "order_update"})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert (await client.post("/campaign/t1/api/v2", json=body(setup, "Diwali"))).status_code == 400  # not live yet
    live = (await client.post("/api/v1/campaigns/Diwali/live", headers=h)).json()
    assert live["status"] == "live"
    ids = []
    for i in range(4):
        r = await client.post("/campaign/t1/api/v2", json=body(setup, "Diwali", destination=f"+91742852640{i}"))
        ids.append(r.json()["submitted_message_id"])
    await dispatcher.run_until_idle()
    async with db.transaction() as session:  # one of them failed at Meta, one was answered
        await session.execute(update(Message).where(Message.id == uuid.UUID(ids[0])).values(
            status="failed", error_code=131026, error_title="Message undeliverable", failed_at=utcnow(), read_at=None, delivered_at=None))
        await session.execute(update(Message).where(Message.id == uuid.UUID(ids[1])).values(replied_at=utcnow()))

    listed = (await client.get("/api/v1/campaigns?type=api", headers=h)).json()["data"]
    diwali = next(c for c in listed if c["name"] == "Diwali")
    assert diwali["messages"] == {"queued": 0, "sent": 0, "delivered": 0, "read": 3, "failed": 1} and diwali["total"] == 4
    got = (await client.get("/api/v1/campaigns/Diwali", headers=h)).json()
    assert got["name"] == "Diwali" and got["status"] == "live"

    stats = (await client.get("/api/v1/campaigns/Diwali/analytics", headers=h)).json()
    assert (stats["total"], stats["sent"], stats["read"], stats["failed"], stats["replied"]) == (4, 4, 3, 1, 1)
    assert stats["read_rate"] == 0.75 and stats["failed_rate"] == 0.25
    today = utcnow().date()
    days = (await client.get(f"/api/v1/campaigns/Diwali/analytics/daily?from={today - timedelta(days=2)}&to={today + timedelta(days=1)}", headers=h)).json()["data"]
    assert len(days) == 4
    assert sum(d["sent"] for d in days) == 4 and sum(d["read"] for d in days) == 3
    assert sum(d["failed"] for d in days) == 1 and sum(d["replied"] for d in days) == 1
    envelope(await client.get(f"/api/v1/campaigns/Diwali/analytics/daily?from={today}&to={today - timedelta(days=1)}", headers=h), 400, "INVALID_DATE_RANGE")
    envelope(await client.get("/api/v1/campaigns/Diwali/analytics/daily?from=yesterday&to=today", headers=h), 422, "VALIDATION_ERROR")
    failures = (await client.get("/api/v1/campaigns/Diwali/failures", headers=h)).json()["data"]
    assert failures[0]["code"] == 131026 and failures[0]["count"] == 1 and "WhatsApp" in failures[0]["meaning"]

    read = (await client.get("/api/v1/campaigns/Diwali/audience?outcome=READ&limit=2", headers=h)).json()
    assert len(read["data"]) == 2 and read["next_cursor"]
    rest = (await client.get(f"/api/v1/campaigns/Diwali/audience?outcome=READ&limit=2&cursor={read['next_cursor']}", headers=h)).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert [m["submitted_message_id"] for m in (await client.get("/api/v1/campaigns/Diwali/audience?outcome=FAILED", headers=h)).json()["data"]] == [ids[0]]
    assert [m["submitted_message_id"] for m in (await client.get("/api/v1/campaigns/Diwali/audience?outcome=REPLIED", headers=h)).json()["data"]] == [ids[1]]
    assert (await client.get("/api/v1/campaigns/Diwali/audience?outcome=SENT", headers=h)).json()["data"] == []
    assert (await client.get("/api/v1/campaigns/Diwali/audience?outcome=DELIVERED", headers=h)).json()["data"] == []
    envelope(await client.get("/api/v1/campaigns/Diwali/audience?outcome=BOUNCED", headers=h), 400, "INVALID_OUTCOME")

    # messages: by id, and lists by campaign, contact and status
    assert (await client.get(f"/api/v1/messages/{ids[2]}", headers=h)).json()["status"] == "read"
    by_campaign = (await client.get("/api/v1/messages?campaign=Diwali", headers=h)).json()["data"]
    assert sorted(m["submitted_message_id"] for m in by_campaign) == sorted(ids)
    by_contact = (await client.get("/api/v1/messages?contact=+917428526402", headers=h)).json()["data"]
    assert [m["submitted_message_id"] for m in by_contact] == [ids[2]]
    failed = (await client.get("/api/v1/messages?status=failed", headers=h)).json()["data"]
    assert [m["submitted_message_id"] for m in failed] == [ids[0]] and failed[0]["error"]["code"] == 131026
    envelope(await client.get("/api/v1/messages?status=lost", headers=h), 422, "VALIDATION_ERROR")

    # pause: the campaign API refuses sends; live again accepts them
    assert (await client.post("/api/v1/campaigns/Diwali/pause", headers=h)).json()["status"] == "paused"
    assert (await client.post("/campaign/t1/api/v2", json=body(setup, "Diwali"))).status_code == 400
    envelope(await client.post("/api/v1/campaigns/Nope/live", headers=h), 404, "CAMPAIGN_NOT_FOUND")


async def test_send_scope_can_send_and_read_messages_only(client, db):
    setup = await make_project(db)
    key = await send_key(db, setup.project_id)
    sent = await client.post("/campaign/t1/api/v2", json={**body(setup), "apiKey": key})
    assert sent.status_code == 200
    message_id = sent.json()["submitted_message_id"]
    assert (await client.get(f"/api/v1/messages/{message_id}", headers=auth(key))).status_code == 200
    assert (await client.get("/api/v1/messages", headers=auth(key))).status_code == 200
    for method, path in [("GET", "/api/v1/contacts"), ("POST", "/api/v1/contacts"), ("GET", "/api/v1/tags"), ("GET", "/api/v1/templates"),
                         ("GET", "/api/v1/campaigns"), ("GET", "/api/v1/campaigns/order_update/analytics"), ("GET", "/api/v1/webhooks"),
                         ("POST", "/api/v1/webhooks")]:
        r = await client.request(method, path, headers=auth(key), json={})
        envelope(r, 403, "KEY_SCOPE")
    envelope(await client.get("/api/v1/contacts"), 401, "UNAUTHORIZED")
    envelope(await client.get("/api/v1/contacts", headers=auth("wac_unknown")), 401, "UNAUTHORIZED")


async def test_a_key_of_project_a_gets_404_for_every_object_of_project_b(client, db, dispatcher):
    a = await make_project(db, "alpha")
    b = await make_project(db, "beta")
    hb, ha = auth(b.api_key), auth(a.api_key)
    contact = (await client.post("/api/v1/contacts", headers=hb, json={"phone": "+917428526500", "tags": ["vip"]})).json()
    tag = (await client.get("/api/v1/tags/vip", headers=hb)).json()
    attribute = (await client.get("/api/v1/attributes/city", headers=hb)).json()
    template = (await client.get("/api/v1/templates/order_update", headers=hb)).json()
    message_id = (await client.post("/campaign/t1/api/v2", json=body(b))).json()["submitted_message_id"]
    campaign = next(c for c in (await client.get("/api/v1/campaigns", headers=hb)).json()["data"] if c["name"] == "order_update")
    webhook = (await client.post("/api/v1/webhooks", headers=hb, json={"url": "https://hooks.example.com/x", "topics": ["contact.created"]}))
    # (example.com resolves publicly; if DNS is unavailable the subscription is made on the DB below)
    if webhook.status_code == 201:
        webhook_id = webhook.json()["id"]
    else:
        from wacast.webhooks import service as hooks

        async with db.transaction() as session:
            webhook_id = (await hooks.create(session, b.project_id, url="https://hooks.example.com/x", topics=["contact.created"], allow_private=True))["id"]
    await dispatcher.run_until_idle()

    checks = [
        ("GET", f"/api/v1/contacts/{contact['id']}", None), ("GET", "/api/v1/contacts/+917428526500", None),
        ("PATCH", f"/api/v1/contacts/{contact['id']}", {"name": "x"}), ("DELETE", f"/api/v1/contacts/{contact['id']}", None),
        ("POST", f"/api/v1/contacts/{contact['id']}/tags", {"tags": ["vip"]}), ("DELETE", f"/api/v1/contacts/{contact['id']}/tags/vip", None),
        ("POST", f"/api/v1/contacts/{contact['id']}/tags/remove", {"tags": ["vip"]}),
        ("GET", f"/api/v1/tags/{tag['id']}", None), ("PATCH", f"/api/v1/tags/{tag['id']}", {"name": "x"}), ("DELETE", f"/api/v1/tags/{tag['id']}", None),
        ("GET", f"/api/v1/attributes/{attribute['id']}", None), ("PATCH", f"/api/v1/attributes/{attribute['id']}", {"name": "x"}),
        ("DELETE", f"/api/v1/attributes/{attribute['id']}", None),
        ("GET", f"/api/v1/templates/{template['id']}", None), ("DELETE", f"/api/v1/templates/{template['id']}", None),
        ("GET", f"/api/v1/campaigns/{campaign['id']}/analytics", None), ("GET", f"/api/v1/campaigns/{campaign['id']}/failures", None),
        ("GET", f"/api/v1/campaigns/{campaign['id']}/analytics/daily?from=2026-11-01&to=2026-11-30", None),
        ("GET", f"/api/v1/campaigns/{campaign['id']}/audience?outcome=READ", None),
        ("POST", f"/api/v1/campaigns/{campaign['id']}/live", None), ("POST", f"/api/v1/campaigns/{campaign['id']}/pause", None),
        ("GET", f"/api/v1/campaigns/{campaign['id']}", None),
        ("GET", f"/api/v1/messages/{message_id}", None), ("GET", f"/api/v1/messages?campaign={campaign['id']}", None),
        ("GET", f"/api/v1/messages?contact={contact['id']}", None),
        ("GET", f"/api/v1/webhooks/{webhook_id}", None), ("PATCH", f"/api/v1/webhooks/{webhook_id}", {"description": "x"}),
        ("DELETE", f"/api/v1/webhooks/{webhook_id}", None), ("GET", f"/api/v1/webhooks/{webhook_id}/deliveries", None),
        ("POST", f"/api/v1/webhooks/{webhook_id}/test", None),
    ]
    for method, path, data in checks:
        r = await client.request(method, path, headers=ha, json=data)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert r.json()["code"].endswith("NOT_FOUND")
    # A's lists show none of B's objects; B's objects are untouched.
    assert (await client.get("/api/v1/contacts", headers=ha)).json()["data"] == []
    assert (await client.get("/api/v1/webhooks", headers=ha)).json()["data"] == []
    assert (await client.get("/api/v1/messages", headers=ha)).json()["data"] == []
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=hb)).json()["tags"] == ["vip"]
    assert (await client.get(f"/api/v1/webhooks/{webhook_id}", headers=hb)).status_code == 200


async def test_webhook_subscriptions_are_checked(client, db):
    setup = await make_project(db)
    h = auth(setup.api_key)
    # Loopback, private and link-local receivers are refused (WACAST_ALLOW_PRIVATE_WEBHOOK_HOSTS is off).
    for url in ("http://127.0.0.1:8080/h", "http://10.0.0.5/h", "http://169.254.169.254/latest", "http://[::1]/h", "http://localhost/h"):
        envelope(await client.post("/api/v1/webhooks", headers=h, json={"url": url, "topics": ["contact.created"]}), 400, "WEBHOOK_URL_FORBIDDEN")
    envelope(await client.post("/api/v1/webhooks", headers=h, json={"url": "ftp://x.example/h", "topics": ["contact.created"]}), 400, "WEBHOOK_URL_INVALID")
    envelope(await client.post("/api/v1/webhooks", headers=h, json={"url": "https://x.example/h", "topics": ["message.teleported"]}), 400, "WEBHOOK_TOPICS_INVALID")
    envelope(await client.post("/api/v1/webhooks", headers=h, json={"url": "https://x.example/h", "topics": []}), 400, "WEBHOOK_TOPICS_INVALID")
    envelope(await client.post("/api/v1/webhooks", headers=h, json={"url": "https://x.example/h", "topics": ["contact.created"], "secret": "short"}), 400, "WEBHOOK_SECRET_INVALID")
    assert (await client.get("/api/v1/webhooks", headers=h)).json()["data"] == []


async def test_openapi_documents_every_endpoint_with_an_example(client):
    spec = (await client.get("/openapi.json")).json()
    assert (await client.get("/docs")).status_code == 200
    mine = ("/api/v1/contacts", "/api/v1/tags", "/api/v1/attributes", "/api/v1/templates", "/api/v1/webhooks", "/api/v1/messages")
    checked = 0
    for path, operations in spec["paths"].items():
        if not (path.startswith(mine) or path.startswith("/api/v1/campaigns/{campaign}/") and path.split("/")[-1] in ("analytics", "daily", "failures", "audience", "live")
                or path == "/api/v1/campaigns" and "get" in operations):
            continue
        for method, operation in operations.items():
            if path == "/api/v1/campaigns" and method != "get":
                continue
            ok = [code for code, r in operation["responses"].items() if code.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                if code != "204":
                    assert "example" in operation["responses"][code]["content"]["application/json"], (method, path)
            assert "429" in operation["responses"] or path.startswith("/api/v1/messages"), (method, path)
            if method in ("post", "patch") and "requestBody" in operation:
                assert "example" in operation["requestBody"]["content"]["application/json"], (method, path)
            checked += 1
    assert checked >= 35


async def test_campaign_reference_with_nul_is_refused(client, db):
    from tests.support.factories import make_project

    setup = await make_project(db, "nulproject")
    headers = {"Authorization": f"Bearer {setup.api_key}"}
    response = await client.post("/api/v1/campaigns/bad%00name/pause", headers=headers)
    assert response.status_code == 400  # the URL's text rule (kit/request_text.py), before any route
    assert response.json()["code"] == "FIELD_INVALID" and response.json()["details"]["field"] == "path"
