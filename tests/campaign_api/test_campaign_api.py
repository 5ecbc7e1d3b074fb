"""The AiSensy-compatible campaign API, through HTTP, on both backends."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from wacast.models.contacts import Contact, ContactTag, Tag
from wacast.models.messages import Message
from tests.support.factories import body, make_project, table_counts

URL = "/campaign/t1/api/v2"


@pytest.fixture
async def setup(db):  # noqa: ANN001
    return await make_project(db)


async def reject(client, db, payload, status: int, message: str, code: str, url: str = URL, **kwargs):  # noqa: ANN001, ANN003
    """Send a request that must be rejected: check status, message, code, and that nothing was written."""
    before = await table_counts(db)
    if isinstance(payload, (bytes, str)):
        response = await client.post(url, content=payload, headers={"Content-Type": "application/json"}, **kwargs)
    else:
        response = await client.post(url, json=payload, **kwargs)
    assert response.status_code == status, response.text
    data = response.json()
    assert data["message"] == message
    assert data["code"] == code
    assert await table_counts(db) == before
    return data


async def test_accepts_and_commits_contact_and_message(client, db, setup):
    response = await client.post(URL, json=body(setup, tags=["customer"], attributes={"city": "Pune"}, source="website"))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["success"] == "true"
    message_id = uuid.UUID(data["submitted_message_id"])
    assert "ignored" not in data
    async with db.sessionmaker() as session:
        message = await session.get(Message, message_id)
        assert message.status == "queued"
        assert message.destination == "+917428526285"
        contact = await session.get(Contact, message.contact_id)
        assert (contact.name, contact.source, contact.attributes, contact.opted_in) == ("Asha Verma", "website", {"city": "Pune"}, True)
        tags = (await session.execute(select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id).where(ContactTag.contact_id == contact.id))).scalars().all()
        assert tags == ["customer"]
        body_params = message.payload["components"][0]
        assert body_params == {"type": "body", "parameters": [{"type": "text", "text": "Asha"}, {"type": "text", "text": "ORD-1"}]}


async def test_any_slug_and_v1_answers_success_text(client, db, setup):
    response = await client.post("/campaign/smartping/api/v2", json=body(setup))
    assert response.status_code == 200 and response.json()["success"] == "true"
    response = await client.post("/campaign/t1/api", json=body(setup))
    assert response.status_code == 200
    assert response.text == "Success."
    response = await client.post("/campaign/whitelabel/api", json=body(setup))
    assert response.text == "Success."
    assert (await table_counts(db))["messages"] == 3


async def test_existing_contact_gets_tags_added_and_attributes_set(client, db, setup):
    await client.post(URL, json=body(setup, tags=["customer"], attributes={"city": "Pune", "plan": "gold"}, source="ads"))
    response = await client.post(URL, json=body(setup, tags=["vip", "unknown_tag"], attributes={"city": "Mumbai", "shoe_size": "9"}, source="later"))
    assert response.status_code == 200
    assert response.json()["ignored"] == {"tags": ["unknown_tag"], "attributes": ["shoe_size"]}
    async with db.sessionmaker() as session:
        contacts = (await session.execute(select(Contact))).scalars().all()
        assert len(contacts) == 1
        assert contacts[0].attributes == {"city": "Mumbai", "plan": "gold"}
        assert contacts[0].source == "ads"  # the first source is kept for retargeting
        tags = (await session.execute(select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id))).scalars().all()
        assert sorted(tags) == ["customer", "vip"]


async def test_unknown_fields_and_empty_objects_are_tolerated(client, setup):
    payload = body(setup, media={}, location={}, buttons=[], carouselCards=[], attributes={}, meta_data=[], defaultCountryCode="IN", paramsFallbackValue={})
    response = await client.post(URL, json=payload)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("destination,stored", [
    ("+917428526285", "+917428526285"), ("917428526285", "+917428526285"), ("7428526285", "+917428526285"),
    ("09876543210", "+919876543210"), ("+14155550123", "+14155550123"), ("447911123456", "+447911123456"),
])
async def test_destination_is_stored_as_e164(client, db, setup, destination, stored):
    response = await client.post(URL, json=body(setup, destination=destination))
    assert response.status_code == 200, response.text
    async with db.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(response.json()["submitted_message_id"]))
    assert message.destination == stored


async def test_dollar_params_resolve_from_contact_then_fallback(client, db, setup):
    await client.post(URL, json=body(setup, attributes={"order_id": "ORD-77"}))
    response = await client.post(URL, json=body(setup, templateParams=["$FirstName", "$order_id"]))
    assert response.status_code == 200, response.text
    async with db.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(response.json()["submitted_message_id"]))
    assert [p["text"] for p in message.payload["components"][0]["parameters"]] == ["Asha", "ORD-77"]
    response = await client.post(URL, json=body(setup, destination="+14155550123", templateParams=["$FirstName", "$plan"], paramsFallbackValue={"plan": "basic"}))
    assert response.status_code == 200, response.text


async def test_named_template_sends_parameter_names(client, db, setup):
    response = await client.post(URL, json=body(setup, "named_order", templateParams=["Asha", "ORD-9"]))
    assert response.status_code == 200, response.text
    async with db.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(response.json()["submitted_message_id"]))
    assert message.payload["components"][0]["parameters"] == [
        {"type": "text", "text": "Asha", "parameter_name": "first_name"},
        {"type": "text", "text": "ORD-9", "parameter_name": "order_id"},
    ]


# --- rejections: each writes nothing -------------------------------------------------------


async def test_missing_api_key(client, db, setup):
    data = await reject(client, db, body(setup, apiKey=...), 401, "Unauthorized", "UNAUTHORIZED")
    assert data["name"] == "ERR401"


async def test_unknown_api_key(client, db, setup):
    data = await reject(client, db, body(setup, apiKey="wac_not-a-real-key"), 401, "Unauthorized", "UNAUTHORIZED")
    assert data["name"] == "ERR401"


async def test_body_key_decides_over_bearer_header(client, db, setup):
    await reject(client, db, body(setup, apiKey="wrong"), 401, "Unauthorized", "UNAUTHORIZED", headers={"Authorization": f"Bearer {setup.api_key}"})


async def test_unknown_campaign(client, db, setup):
    await reject(client, db, body(setup, "nope"), 400, "Campaign does not exist.", "CAMPAIGN_NOT_FOUND")


async def test_campaign_not_live(client, db, setup):
    from wacast.campaigns import service
    from wacast.models.campaigns import CampaignStatus

    async with db.transaction() as session:
        await service.set_status(session, setup.project_id, "order_update", CampaignStatus.paused)
    data = await reject(client, db, body(setup), 400, "Campaign is not live. Set it Live in the dashboard first.", "CAMPAIGN_NOT_LIVE")
    assert data["details"]["status"] == "paused"


@pytest.mark.parametrize("field", ["campaignName", "destination", "userName"])
async def test_required_field_missing(client, db, setup, field):
    data = await reject(client, db, body(setup, **{field: ...}), 400, f"{field} is required", "FIELD_REQUIRED")
    assert data["details"]["field"] == field


@pytest.mark.parametrize("field,value,named", [
    ("destination", 917428526285, "destination"),
    ("userName", ["x"], "userName"),
    ("templateParams", "Asha", "templateParams"),
    ("templateParams", ["Asha", 5], "templateParams[1]"),
    ("tags", "vip", "tags"),
    ("attributes", {"city": 5}, "attributes.city"),
    ("media", "https://x", "media"),
    ("source", 12, "source"),
])
async def test_field_of_wrong_type_names_the_field(client, db, setup, field, value, named):
    response_before = await table_counts(db)
    response = await client.post(URL, json=body(setup, **{field: value}))
    assert response.status_code == 400
    data = response.json()
    assert data["code"] == "FIELD_INVALID"
    assert data["details"]["field"] == named
    assert named in data["message"]
    assert await table_counts(db) == response_before


@pytest.mark.parametrize("destination", ["garbage", "12", "+1234", "+91 12345", "99999999999999999999"])
async def test_invalid_number(client, db, setup, destination):
    await reject(client, db, body(setup, destination=destination), 400, "Invalid Number", "INVALID_NUMBER")


async def test_template_params_count_wrong(client, db, setup):
    data = await reject(client, db, body(setup, templateParams=["only one"]), 400, "Template params does not match the campaign", "TEMPLATE_PARAMS_MISMATCH")
    assert data["details"] == {"expected": 2, "given": 1}
    data = await reject(client, db, body(setup, templateParams=...), 400, "Template params does not match the campaign", "TEMPLATE_PARAMS_MISMATCH")
    assert data["details"] == {"expected": 2, "given": 0}


async def test_media_header_without_media(client, db, setup):
    await reject(client, db, body(setup, "image_header"), 400, "Media URL Missing", "MEDIA_URL_MISSING")
    await reject(client, db, body(setup, "image_header", media={}), 400, "Media URL Missing", "MEDIA_URL_MISSING")


async def test_media_header_with_good_media(client, db, setup, media_server):
    response = await client.post(URL, json=body(setup, "image_header", media={"url": media_server.url("/photo.jpg")}))
    assert response.status_code == 200, response.text
    response = await client.post(URL, json=body(setup, "document_header", templateParams=["INV-1"], media={"url": media_server.url("/invoice.pdf"), "filename": "inv.pdf"}))
    assert response.status_code == 200, response.text
    async with db.sessionmaker() as session:
        message = await session.get(Message, uuid.UUID(response.json()["submitted_message_id"]))
    assert message.payload["components"][0] == {
        "type": "header", "parameters": [{"type": "document", "document": {"link": media_server.url("/invoice.pdf"), "filename": "inv.pdf"}}]
    }
    # A server that refuses HEAD is asked with a ranged GET.
    response = await client.post(URL, json=body(setup, "image_header", media={"url": media_server.url("/nohead.jpg")}))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path,code", [
    ("/missing.jpg", "MEDIA_URL_UNREACHABLE"),
    ("/error.jpg", "MEDIA_URL_UNREACHABLE"),
    ("/anim.gif", "MEDIA_TYPE_INVALID"),
    ("/invoice.pdf", "MEDIA_TYPE_INVALID"),
    ("/huge.jpg", "MEDIA_TOO_LARGE"),
])
async def test_media_wrong_or_unreachable(client, db, setup, media_server, path, code):
    before = await table_counts(db)
    response = await client.post(URL, json=body(setup, "image_header", media={"url": media_server.url(path)}))
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert await table_counts(db) == before


async def test_media_on_private_host_refused_by_default(db_url, setup, media_server, settings):
    import httpx

    from wacast.app import create_app

    strict = settings.model_copy(update={"allow_private_media_hosts": False})
    application = create_app(strict, run_dispatcher=False)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as c:
            before = await table_counts(application.state.db)
            response = await c.post(URL, json=body(setup, "image_header", media={"url": media_server.url("/photo.jpg")}))
            assert response.status_code == 400
            assert response.json()["code"] == "MEDIA_URL_FORBIDDEN"
            response = await c.post(URL, json=body(setup, "image_header", media={"url": "ftp://example.com/a.jpg"}))
            assert response.json()["code"] == "MEDIA_URL_INVALID"
            assert await table_counts(application.state.db) == before


async def test_location_header(client, db, setup):
    await reject(client, db, body(setup, "location_header", templateParams=["Asha"]), 400, "Location Missing", "LOCATION_MISSING")
    await reject(client, db, body(setup, "location_header", templateParams=["Asha"], location={"latitude": 200, "longitude": 1}),
                 400, "location.latitude must be a number between -90 and 90", "LOCATION_INVALID")
    response = await client.post(URL, json=body(setup, "location_header", templateParams=["Asha"],
                                                location={"latitude": "37.44", "longitude": -122.16, "name": "Philz", "address": "101 Forest Ave"}))
    assert response.status_code == 200, response.text


async def test_url_button_needs_its_parameter(client, db, setup):
    await reject(client, db, body(setup, "url_button"), 400, "Button at index 0 of type Url requires a parameter", "BUTTON_PARAM_MISSING")
    ok = body(setup, "url_button", buttons=[{"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "ORD-1"}]}])
    response = await client.post(URL, json=ok)
    assert response.status_code == 200, response.text
    ok["buttons"][0]["index"] = 0  # index as a number works too
    assert (await client.post(URL, json=ok)).status_code == 200


async def test_copy_code_button(client, db, setup):
    await reject(client, db, body(setup, "copy_code", templateParams=["Asha"]), 400, "Button at index 1 of type Copy_code requires a parameter", "BUTTON_PARAM_MISSING")
    response = await client.post(URL, json=body(setup, "copy_code", templateParams=["Asha"], buttons=[
        {"type": "button", "sub_type": "copy_code", "index": 1, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}]}]))
    assert response.status_code == 200, response.text


async def test_carousel_cards(client, db, setup, media_server):
    card0 = {"card_index": 0, "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": media_server.url("/photo.jpg")}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Blue"}]},
        {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "blue-1"}]}]}
    card1 = {"card_index": 1, "components": [{"type": "header", "parameters": [{"type": "image", "image": {"link": media_server.url("/photo.png")}}]}]}
    data = await reject(client, db, body(setup, "carousel", templateParams=["Asha"], carouselCards=[card0]), 400,
                        "Carousel cards do not match the campaign", "CAROUSEL_CARDS_MISMATCH")
    assert data["details"] == {"expected": 2, "given": 1}
    response = await client.post(URL, json=body(setup, "carousel", templateParams=["Asha"], carouselCards=[card0, card1]))
    assert response.status_code == 200, response.text


async def test_dollar_param_without_value_or_fallback(client, db, setup):
    data = await reject(client, db, body(setup, templateParams=["$FirstName", "$plan"]), 400,
                        "Template param $plan has no value for this contact and no paramsFallbackValue", "PARAM_UNRESOLVED")
    assert data["details"] == {"index": 1, "param": "$plan"}


async def test_opted_out_contact(client, db, setup):
    from wacast.contacts import repository

    assert (await client.post(URL, json=body(setup))).status_code == 200
    async with db.transaction() as session:
        await repository.set_opted_in(session, setup.project_id, "+917428526285", False)
    await reject(client, db, body(setup), 400, "Contact has opted out", "CONTACT_OPTED_OUT")


async def test_malformed_json(client, db, setup):
    await reject(client, db, b'{"apiKey": "x",', 400, "Request body is not valid JSON", "INVALID_JSON")
    await reject(client, db, b"", 400, "Request body is empty; send a JSON object", "INVALID_JSON")


async def test_body_not_an_object(client, db, setup):
    await reject(client, db, b"[1, 2]", 401, "Unauthorized", "UNAUTHORIZED")


async def test_body_over_64_kb(client, db, setup):
    payload = body(setup, source="x" * 70_000)
    await reject(client, db, payload, 413, "Request body is too large (at most 64 KB)", "BODY_TOO_LARGE")


async def test_param_text_rules(client, db, setup):
    await reject(client, db, body(setup, templateParams=["Asha", ""]), 400, "templateParams[1] is empty", "PARAM_EMPTY")
    data = await reject(client, db, body(setup, templateParams=["Asha", "line\nbreak"]), 400,
                        "templateParams[1] cannot have new-line or tab characters or more than 4 consecutive spaces", "PARAM_INVALID_TEXT")
    assert data["details"]["field"] == "templateParams[1]"


async def test_campaign_details_describes_the_request(client, setup):
    response = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": setup.api_key, "campaignName": "image_header"})
    assert response.status_code == 200
    data = response.json()
    assert data["success"] is True
    request_body = data["requestBody"]
    assert len(request_body["templateParams"]) == 2
    assert request_body["media"]["url"].endswith(".jpg")
    response = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": setup.api_key, "campaignName": "url_button"})
    assert response.json()["requestBody"]["buttons"][0]["sub_type"] == "url"
    response = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": setup.api_key, "campaignName": "location_header"})
    assert response.json()["requestBody"]["location"]["latitude"]
    # n8n's credential test: a good key and campaign "test" must answer 2xx.
    response = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": setup.api_key, "campaignName": "test"})
    assert response.status_code == 200 and response.json()["success"] is False
    response = await client.post("/campaign/t1/api/campaign-details", json={"apiKey": "bad", "campaignName": "test"})
    assert response.status_code == 401


async def test_project_isolation(client, db, setup):
    other = await make_project(db, "other")
    await reject(client, db, body(other, "nope"), 400, "Campaign does not exist.", "CAMPAIGN_NOT_FOUND")
    response = await client.post(URL, json=body(setup))
    message_id = response.json()["submitted_message_id"]
    response = await client.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {other.api_key}"})
    assert response.status_code == 404
