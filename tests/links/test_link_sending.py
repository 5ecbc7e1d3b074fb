"""Tracked links on the send path, end to end on both backends: a template whose URL button is
tracked (created through REST, submitted to the fake Meta with wacast's address), a campaign API
request and a broadcast queueing it, the message sent to Meta with a token in the button's
parameter (valid against Meta's OpenAPI spec), and a real HTTP GET on /r/{token} redirecting to
the real destination with the campaign's UTM parameters. Also: the sandbox path, the campaign's
`tracking` through REST, the dashboard's "Track clicks", and the `conversions` key scope."""

from __future__ import annotations

import copy
import uuid

import httpx
import pytest
from sqlalchemy import func, insert, select

from tests.dashboard.test_dashboard import CSRF_RE, add_user, sign_in
from tests.support.broadcasts import run_until_fanned_out
from tests.support.cloud import make_cloud_project
from tests.support.factories import make_project
from tests.support.live_server import LiveServer
from tests.support.meta_schema import errors_of
from wacast.api_keys import service as api_keys
from wacast.campaigns.broadcasts.engine import BroadcastEngine
from wacast.kit.clock import utcnow
from wacast.models.campaigns import Campaign
from wacast.models.contacts import Contact
from wacast.models.links import LinkClick, TrackedLink
from wacast.models.messages import Message
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates.sync import sync_project

PUBLIC = "https://wa.example.test"
BROWSER = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
SHOP = {
    "name": "shop_now", "language": "en", "category": "MARKETING",
    "components": [
        {"type": "BODY", "text": "Hi {{1}}, the sale is on: {{2}} today.", "example": {"body_text": [["Asha", "https://shop.example.com/sale"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Shop now", "url": "https://shop.example.com/p/{{1}}",
                                         "example": ["https://shop.example.com/p/42"]}]},
    ],
    "tracked_buttons": {"0": "https://shop.example.com/p/{{1}}?ref=wa"},
}


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url, "public_url": PUBLIC})


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def follow(settings, tokens: list[str]) -> list[httpx.Response]:  # noqa: ANN001
    """Real HTTP GETs on a running server, as a phone's browser taps them."""
    server = LiveServer(settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, follow_redirects=False) as http:
            return [await http.get(f"/r/{token}", headers={"User-Agent": BROWSER}) for token in tokens]
    finally:
        server.stop()


async def counted_clicks(db) -> int:  # noqa: ANN001
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(LinkClick).where(LinkClick.counted.is_(True)))).scalar_one()


async def tracked_template_on_meta(client, db, settings, fake_meta, setup) -> None:  # noqa: ANN001
    made = await client.post("/api/v1/templates", headers=auth(setup.api_key), json=copy.deepcopy(SHOP))
    assert made.status_code == 201, made.text
    assert made.json()["tracked_buttons"] == {"0": "https://shop.example.com/p/{{1}}?ref=wa"}
    on_meta = next(t for t in fake_meta.templates if t["name"] == "shop_now")
    button = on_meta["components"][1]["buttons"][0]
    assert button["url"] == f"{PUBLIC}/r/{{{{1}}}}" and button["example"][0].startswith(f"{PUBLIC}/r/")  # what Meta approves
    fake_meta.set_status("shop_now", "APPROVED")
    async with db.transaction() as session:
        await sync_project(session, await session.get(Project, setup.project_id), settings)
    async with db.read() as session:
        template = (await session.execute(select(Template).where(Template.name == "shop_now"))).scalar_one()
        assert template.status == "APPROVED" and template.tracked_buttons == {"0": "https://shop.example.com/p/{{1}}?ref=wa"}


async def test_a_campaign_api_send_and_a_broadcast_carry_tokens_to_meta_and_redirect(client, app, db, settings, dispatcher, fake_meta):
    setup = await make_cloud_project(db, settings, fake_meta, campaigns_for=())
    await tracked_template_on_meta(client, db, settings, fake_meta, setup)
    made = await client.post("/api/v1/campaigns", headers=auth(setup.api_key),
                             json={"type": "api", "name": "shop_now", "template": "shop_now", "live": True})
    assert made.status_code == 201, made.text
    tracking = await client.put("/api/v1/campaigns/shop_now/tracking", headers=auth(setup.api_key),
                                json={"utm": {"utm_medium": "api"}, "track_body_urls": True, "goals": ["purchase"]})
    assert tracking.status_code == 200, tracking.text
    assert tracking.json()["tracking"] == {"utm": {"utm_medium": "api"}, "goals": ["purchase"], "attribution_window_days": 7, "track_body_urls": True}
    # The campaign-details example asks for the destination's value, not for a token.
    details = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": setup.api_key, "campaignName": "shop_now"})
    assert details.status_code == 200, details.text
    assert details.json()["requestBody"]["buttons"] == [
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "42"}]}]

    sent = await client.post("/campaign/t1/api/v2", json={
        "apiKey": setup.api_key, "campaignName": "shop_now", "destination": "+917428526285", "userName": "Asha",
        "templateParams": ["Asha", "https://shop.example.com/sale"],
        "buttons": [{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "42"}]}]})
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["submitted_message_id"]

    # A broadcast of the same template to two people, the button mapped from their attribute.
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(insert(Contact), [
            {"id": uuid.uuid4(), "project_id": setup.project_id, "phone": f"+9170000000{i}", "name": f"P{i}", "source": "test",
             "opted_in": True, "blocked": False, "attributes": {"sku": f"7{i}"}, "created_at": now, "updated_at": now} for i in (1, 2)])
    segment = await client.post("/api/v1/segments", headers=auth(setup.api_key), json={"name": "shoppers", "filter": {
        "match": "all", "conditions": [{"field": "source", "op": "equals", "value": "test"}]}})
    assert segment.status_code == 201, segment.text
    broadcast = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={
        "type": "broadcast", "name": "weekend_sale", "template": "shop_now", "segment": segment.json()["id"],
        "params": ["$name", "https://shop.example.com/weekend"], "buttons": {"0": "$sku"}})
    assert broadcast.status_code == 201, broadcast.text
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    await dispatcher.run_until_idle()

    by_message = {s.message_id: s for s in fake_meta.sends}
    async with db.read() as session:
        broadcast_ids = [str(i) for i in (await session.execute(
            select(Message.id).join(Campaign, Campaign.id == Message.campaign_id).where(Campaign.name == "weekend_sale"))).scalars()]
        links = {r.token: r for r in (await session.execute(select(TrackedLink))).scalars()}
    assert len(broadcast_ids) == 2 and set(by_message) == {message_id, *broadcast_ids}
    tokens: dict[str, str] = {}
    for mid in (message_id, *broadcast_ids):
        body = by_message[mid].body
        assert by_message[mid].wamid, by_message[mid].error_code  # the fake Meta's own checks took it
        assert errors_of(body) == [], errors_of(body)  # Meta's OpenAPI schema
        components = {c["type"]: c for c in body["template"]["components"]}
        [param] = components["button"]["parameters"]
        assert param["type"] == "text" and len(param["text"]) == 16 and param["text"] in links
        assert links[param["text"]].message_id == uuid.UUID(mid) and links[param["text"]].button_index == 0
        tokens[mid] = param["text"]
    api_body = {c["type"]: c for c in by_message[message_id].body["template"]["components"]}["body"]["parameters"]
    assert api_body[0]["text"] == "Asha"
    body_token = api_body[1]["text"].removeprefix(f"{PUBLIC}/r/")
    assert body_token in links and links[body_token].button_index is None  # the campaign tracks body URLs
    # The broadcast does not track body URLs (its tracking is the default): the URL went as it was.
    broadcast_body = {c["type"]: c for c in by_message[broadcast_ids[0]].body["template"]["components"]}["body"]["parameters"]
    assert broadcast_body[1]["text"] == "https://shop.example.com/weekend"

    answers = await follow(settings, [tokens[message_id], body_token, *(tokens[m] for m in broadcast_ids)])
    assert [a.status_code for a in answers] == [302, 302, 302, 302]
    assert answers[0].headers["location"] == (
        "https://shop.example.com/p/42?ref=wa&utm_source=whatsapp&utm_medium=api&utm_campaign=shop_now&utm_content=button_0")
    assert answers[1].headers["location"] == (
        "https://shop.example.com/sale?utm_source=whatsapp&utm_medium=api&utm_campaign=shop_now&utm_content=body")
    assert sorted(a.headers["location"] for a in answers[2:]) == [
        f"https://shop.example.com/p/7{i}?ref=wa&utm_source=whatsapp&utm_medium=message&utm_campaign=weekend_sale&utm_content=button_0"
        for i in (1, 2)]
    assert await counted_clicks(db) == 4


async def test_the_sandbox_path_a_static_destination_and_what_is_refused(client, db, settings, dispatcher):
    setup = await make_project(db)
    static = copy.deepcopy(SHOP)
    static["components"][1]["buttons"][0].update(url="https://shop.example.com/sale", example=None)
    static["components"][1]["buttons"][0].pop("example")
    static["tracked_buttons"] = {"0": "https://shop.example.com/sale"}
    made = await client.post("/api/v1/templates", headers=auth(setup.api_key), json=static)
    assert made.status_code == 201 and made.json()["status"] == "APPROVED", made.text  # the sandbox approves at once
    assert made.json()["components"][1]["buttons"][0]["url"] == f"{PUBLIC}/r/{{{{1}}}}"
    assert (await client.post("/api/v1/campaigns", headers=auth(setup.api_key),
                              json={"type": "api", "name": "shop_now", "template": "shop_now", "live": True})).status_code == 201

    async def messages() -> tuple[int, int]:
        async with db.read() as session:
            return ((await session.execute(select(func.count()).select_from(Message).where(Message.destination == "+919811100002"))).scalar_one(),
                    (await session.execute(select(func.count()).select_from(TrackedLink))).scalar_one())

    # A fixed destination: the campaign-details example passes no button value.
    details = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": setup.api_key, "campaignName": "shop_now"})
    assert details.status_code == 200 and details.json()["requestBody"]["buttons"] == [], details.text
    # A value that is a URL names the destination itself; a URL that is not one is refused, nothing written.
    refused = await client.post("/campaign/t1/api/v2", json={
        "apiKey": setup.api_key, "campaignName": "shop_now", "destination": "+919811100002", "userName": "Asha", "templateParams": ["Asha", "x"],
        "buttons": [{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "https://shop.example.com/a b"}]}]})
    assert refused.status_code == 400 and refused.json()["code"] == "TRACKED_LINK_INVALID", refused.text
    assert refused.json()["details"] == {"field": "buttons[0]"}
    assert await messages() == (0, 0)

    # A destination without {{1}}: the request needs no button value.
    sent = await client.post("/campaign/t1/api/v2", json={
        "apiKey": setup.api_key, "campaignName": "shop_now", "destination": "+919811100002", "userName": "Asha",
        "templateParams": ["Asha", "https://shop.example.com/x"]})
    assert sent.status_code == 200, sent.text
    await dispatcher.run_until_idle()
    async with db.read() as session:
        message = await session.get(Message, uuid.UUID(sent.json()["submitted_message_id"]))
        link = (await session.execute(select(TrackedLink))).scalar_one()
    assert message.status in ("sent", "delivered", "read")  # the sandbox sent it (and plays its statuses)
    button = next(c for c in message.payload["components"] if c["type"] == "button")
    assert button["parameters"] == [{"type": "text", "text": link.token}]
    body = next(c for c in message.payload["components"] if c["type"] == "body")
    assert body["parameters"][1]["text"] == "https://shop.example.com/x"  # body URLs are not tracked by default
    [answer] = await follow(settings, [link.token])
    assert answer.status_code == 302
    assert answer.headers["location"] == "https://shop.example.com/sale?utm_source=whatsapp&utm_medium=message&utm_campaign=shop_now&utm_content=button_0"


@pytest.mark.parametrize(("payload", "status", "code", "field"), [
    ({"goals": ["a", "b", "c", "d", "e", "f"]}, 400, "FIELD_INVALID", "tracking.goals"),
    ({"goals": ["Big Sale"]}, 400, "FIELD_INVALID", "tracking.goals[0]"),
    ({"attribution_window_days": 0}, 400, "FIELD_INVALID", "tracking.attribution_window_days"),
    ({"attribution_window_days": "7"}, 400, "FIELD_INVALID", "tracking.attribution_window_days"),
    ({"utm": {"utm_medium": "a\x00b"}}, 400, "FIELD_INVALID", "tracking.utm.utm_medium"),
    ({"utm": {"ref": "x"}}, 400, "FIELD_INVALID", "tracking.utm.ref"),
    ({"track_body_urls": "yes"}, 400, "FIELD_INVALID", "tracking.track_body_urls"),
    ({"window": 7}, 422, "VALIDATION_ERROR", None),
])
async def test_tracking_settings_are_refused_with_a_clear_code_and_nothing_changes(client, db, payload, status, code, field):
    setup = await make_project(db)
    first = await client.put("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key), json={"goals": ["purchase"]})
    assert first.status_code == 200, first.text
    refused = await client.put("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key), json=payload)
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    if field:
        assert refused.json()["details"]["field"] == field
    now = await client.get("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key))
    assert now.status_code == 200 and now.json()["tracking"]["goals"] == ["purchase"]


async def test_without_a_public_url_tracking_is_refused_clearly(client, db, app):
    app.state.settings = app.state.settings.model_copy(update={"public_url": ""})
    setup = await make_project(db)
    made = await client.post("/api/v1/templates", headers=auth(setup.api_key), json=copy.deepcopy(SHOP))
    assert made.status_code == 400 and made.json()["code"] == "PUBLIC_URL_NOT_SET", made.text
    assert "WACAST_PUBLIC_URL" in made.json()["message"]
    body_urls = await client.put("/api/v1/campaigns/order_update/tracking", headers=auth(setup.api_key), json={"track_body_urls": True})
    assert body_urls.status_code == 400 and body_urls.json()["code"] == "PUBLIC_URL_NOT_SET"
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Template).where(Template.name == "shop_now"))).scalar_one() == 0
        assert (await session.execute(select(Campaign.tracking).where(Campaign.name == "order_update"))).scalar_one() is None


async def test_the_dashboard_form_tracks_clicks_of_its_url_button(client, db, app):
    setup = await make_project(db)
    await add_user(db, setup.project_id, "owner@acme.test", "owner")
    await sign_in(client, "owner@acme.test", "password-owner")
    page = await client.get("/templates/new")
    assert "Track clicks" in page.text and f"{PUBLIC}/r/{{{{1}}}}" in page.text
    token = CSRF_RE.search(page.text).group(1)
    form = {"name": "shop_form", "category": "MARKETING", "body": "Hi {{1}}, the sale is on.", "body_samples": "Asha",
            "url_text": "Shop now", "url": "https://shop.example.com/p/{{1}}", "url_sample": "42", "url_track": "on", "csrf": token}
    made = await client.post("/templates", data=form)
    assert made.status_code == 303, made.text[:500]
    async with db.read() as session:
        template = (await session.execute(select(Template).where(Template.name == "shop_form"))).scalar_one()
    assert template.tracked_buttons == {"0": "https://shop.example.com/p/{{1}}"}
    buttons = next(c for c in template.components if c["type"] == "BUTTONS")["buttons"]
    assert buttons[0]["url"] == f"{PUBLIC}/r/{{{{1}}}}"
    edit = await client.get(f"/templates/{template.id}/edit")
    assert 'value="https://shop.example.com/p/{{1}}"' in edit.text and 'name="url_track" value="on" checked' in edit.text

    # Without WACAST_PUBLIC_URL the form says why, and nothing is made.
    app.state.settings = app.state.settings.model_copy(update={"public_url": ""})
    page = await client.get("/templates/new")
    assert "Tracking clicks needs WACAST_PUBLIC_URL" in page.text
    refused = await client.post("/templates", data={**form, "name": "shop_form_2", "csrf": CSRF_RE.search(page.text).group(1)})
    assert refused.status_code == 400 and "PUBLIC_URL_NOT_SET" in refused.text
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Template).where(Template.name == "shop_form_2"))).scalar_one() == 0


async def test_a_conversions_key_records_conversions_and_nothing_else(client, db):
    setup = await make_project(db)
    sent = await client.post("/campaign/t1/api/v2", json={"apiKey": setup.api_key, "campaignName": "order_update", "userName": "Asha",
                                                          "destination": "+917428526285", "templateParams": ["Asha", "ORD-1"]})
    assert sent.status_code == 200
    async with db.transaction() as session:
        _, key = await api_keys.create_key(session, setup.project_id, "conversions", "shop")
    refused = await client.post("/campaign/t1/api/v2", json={"apiKey": key, "campaignName": "order_update", "userName": "Asha",
                                                             "destination": "+917428526285", "templateParams": ["Asha", "ORD-2"]})
    assert refused.status_code == 403 and refused.json()["code"] == "KEY_SCOPE", refused.text
    message = await client.get(f"/api/v1/messages/{sent.json()['submitted_message_id']}", headers=auth(key))
    assert message.status_code == 403 and message.json()["code"] == "KEY_SCOPE"
    campaigns = await client.get("/api/v1/campaigns", headers=auth(key))
    assert campaigns.status_code == 403 and campaigns.json()["code"] == "KEY_SCOPE"
    recorded = await client.post("/api/v1/conversions", headers=auth(key), json={"destination": "+917428526285", "goal": "purchase"})
    assert recorded.status_code == 201, recorded.text
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Message))).scalar_one() == 1


async def test_tracking_given_at_a_campaigns_creation_is_stored_with_it_and_applies_to_the_first_links(client, app, db, settings, dispatcher):
    setup = await make_project(db)
    made = await client.post("/api/v1/templates", headers=auth(setup.api_key), json=copy.deepcopy(SHOP))
    assert made.status_code == 201 and made.json()["status"] == "APPROVED", made.text
    given = {"utm": {"utm_medium": "broadcast"}, "goals": ["purchase", "cart"], "attribution_window_days": 3, "track_body_urls": True}

    async def campaigns() -> int:
        async with db.read() as session:
            return (await session.execute(select(func.count()).select_from(Campaign))).scalar_one()

    # An API campaign with its tracking: the answer and GET .../tracking say the same.
    api = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={
        "type": "api", "name": "shop_api", "template": "shop_now", "live": True, "tracking": {"goals": ["purchase"]}})
    assert api.status_code == 201, api.text
    assert api.json()["tracking"] == {"utm": {}, "goals": ["purchase"], "attribution_window_days": 7, "track_body_urls": False}
    assert (await client.get("/api/v1/campaigns/shop_api/tracking", headers=auth(setup.api_key))).json()["tracking"]["goals"] == ["purchase"]

    # Bad tracking, for both kinds and for the dry run: the PUT's status and code, nothing created.
    before = await campaigns()
    for body in ({"type": "api", "name": "bad_api", "template": "shop_now"},
                 {"type": "broadcast", "name": "bad_b", "template": "shop_now", "segment_id": "x"},
                 {"type": "broadcast", "name": "bad_dry", "template": "shop_now", "segment_id": "x", "dry_run": True}):
        for tracking, status, code in (({"goals": ["Big Sale"]}, 400, "FIELD_INVALID"), ({"window": 7}, 422, "VALIDATION_ERROR"),
                                       ("yes", 400, "FIELD_INVALID")):
            refused = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={**body, "tracking": tracking})
            assert (refused.status_code, refused.json()["code"]) == (status, code), (body, tracking, refused.text)
            details = refused.json()["details"]
            assert details.get("field", "").startswith("tracking") or details.get("fields") == ["tracking.window"], refused.text
    assert await campaigns() == before

    # A broadcast created with tracking: its very first messages carry tracked body URLs and its UTM.
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(insert(Contact), [{
            "id": uuid.uuid4(), "project_id": setup.project_id, "phone": "+919811100071", "name": "P1", "source": "test", "opted_in": True,
            "blocked": False, "attributes": {"sku": "71"}, "created_at": now, "updated_at": now}])
    segment = await client.post("/api/v1/segments", headers=auth(setup.api_key), json={"name": "shoppers", "filter": {
        "match": "all", "conditions": [{"field": "source", "op": "equals", "value": "test"}]}})
    assert segment.status_code == 201, segment.text
    broadcast = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={
        "type": "broadcast", "name": "tracked_sale", "template": "shop_now", "segment": segment.json()["id"],
        "params": ["$name", "https://shop.example.com/weekend"], "buttons": {"0": "$sku"}, "tracking": given})
    assert broadcast.status_code == 201, broadcast.text
    assert broadcast.json()["tracking"] == given
    assert (await client.get("/api/v1/campaigns/tracked_sale/tracking", headers=auth(setup.api_key))).json()["tracking"] == given
    await run_until_fanned_out(BroadcastEngine(app.state.db, settings))
    await dispatcher.run_until_idle()
    async with db.read() as session:
        message = (await session.execute(select(Message).join(Campaign, Campaign.id == Message.campaign_id)
                                          .where(Campaign.name == "tracked_sale"))).scalar_one()
        links = {r.token: r for r in (await session.execute(select(TrackedLink).where(TrackedLink.message_id == message.id))).scalars()}
    body = next(c for c in message.payload["components"] if c["type"] == "body")
    body_token = body["parameters"][1]["text"].removeprefix(f"{PUBLIC}/r/")
    assert body_token in links and links[body_token].button_index is None  # the body URL is tracked from the first message
    [answer] = await follow(settings, [body_token])
    assert answer.headers["location"] == (
        "https://shop.example.com/weekend?utm_source=whatsapp&utm_medium=broadcast&utm_campaign=tracked_sale&utm_content=body")


async def test_tracking_body_urls_at_creation_needs_a_public_url(client, db, app):
    app.state.settings = app.state.settings.model_copy(update={"public_url": ""})
    setup = await make_project(db)
    async with db.read() as session:
        before = (await session.execute(select(func.count()).select_from(Campaign))).scalar_one()
    refused = await client.post("/api/v1/campaigns", headers=auth(setup.api_key), json={
        "type": "api", "name": "body_links", "template": "order_update", "tracking": {"track_body_urls": True}})
    assert refused.status_code == 400 and refused.json()["code"] == "PUBLIC_URL_NOT_SET", refused.text
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Campaign))).scalar_one() == before
