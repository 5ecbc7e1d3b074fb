"""The Cloud API client's template sends: every component kind goes to a Graph-API-compatible
server (the fake Meta) in a body that Meta's own OpenAPI schema accepts (its listed defects
overridden), that the fake Meta's parameter checks accept, and that carries
recipient_type individual, language policy deterministic and our message id."""

from __future__ import annotations

import copy
import uuid

import pytest
from sqlalchemy import select

from wacast.models.messages import Message
from tests.support.cloud import make_cloud_project
from tests.support.factories import body
from tests.support.meta_schema import errors_of

URL = "/campaign/t1/api/v2"


@pytest.fixture
def settings(settings, fake_meta):  # noqa: ANN001, ANN201
    return settings.model_copy(update={"graph_api_url": fake_meta.base_url})


_numbers = iter(range(10**6))


async def send(client, setup, campaign, **fields) -> str:  # noqa: ANN001, ANN003
    fields.setdefault("destination", f"+9174285{next(_numbers):05d}")
    response = await client.post(URL, json=body(setup, campaign, **fields))
    assert response.status_code == 200, response.text
    return response.json()["submitted_message_id"]


def every_kind(media_server) -> list[tuple[str, dict]]:  # noqa: ANN001
    return [
        ("order_update", {}),
        ("text_header", {"templateParams": ["Asha", "Asha", "ORD-1"]}),
        ("image_header", {"media": {"url": media_server.url("/photo.jpg")}}),
        ("video_header", {"templateParams": ["Asha"], "media": {"url": media_server.url("/clip.mp4")}}),
        ("document_header", {"templateParams": ["INV-1"], "media": {"url": media_server.url("/invoice.pdf"), "filename": "Invoice INV-1.pdf"}}),
        ("location_header", {"templateParams": ["Asha"], "location": {"latitude": 12.9716, "longitude": 77.5946, "name": "Store", "address": "MG Road"}}),
        ("url_button", {"buttons": [{"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "ORD-1"}]}]}),
        ("copy_code", {"templateParams": ["Asha"], "buttons": [
            {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "STOP_PROMOS"}]},
            {"type": "button", "sub_type": "copy_code", "index": 1, "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}]}]}),
        ("named_order", {"templateParams": ["Asha", "ORD-2"]}),
        ("no_params", {"templateParams": []}),
        ("carousel", {"templateParams": ["Asha"], "carouselCards": [
            {"card_index": 0, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": media_server.url("/photo.jpg")}}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Blue"}]},
                {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "blue-1"}]}]},
            {"card_index": 1, "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": media_server.url("/photo.png")}}]},
                {"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "more_2"}]}]}]}),
    ]


async def test_every_component_kind_in_a_body_meta_accepts(client, db, settings, dispatcher, fake_meta, media_server):
    setup = await make_cloud_project(db, settings, fake_meta)
    ids = {campaign: await send(client, setup, campaign, **fields) for campaign, fields in every_kind(media_server)}
    await dispatcher.run_until_idle()

    by_message = {s.message_id: s for s in fake_meta.sends}
    assert set(by_message) == set(ids.values()), "one send per message"
    for campaign, message_id in ids.items():
        sent = by_message[message_id]
        assert sent.wamid, f"{campaign}: the fake Meta refused it ({sent.error_code})"
        assert errors_of(sent.body) == [], f"{campaign}: {errors_of(sent.body)}"
        assert sent.phone_number_id == "1098765"
        assert sent.body["recipient_type"] == "individual"
        assert sent.body["type"] == "template" and sent.body["messaging_product"] == "whatsapp"
        assert sent.body["template"]["name"] == campaign
        assert sent.body["template"]["language"] == {"code": "en", "policy": "deterministic"}
        assert sent.body["biz_opaque_callback_data"] == message_id

    components = {c: {comp["type"]: comp for comp in by_message[m].body["template"].get("components", [])} for c, m in ids.items()}
    assert components["text_header"]["header"]["parameters"] == [{"type": "text", "text": "Asha"}]
    assert components["image_header"]["header"]["parameters"][0] == {"type": "image", "image": {"link": media_server.url("/photo.jpg")}}
    assert components["video_header"]["header"]["parameters"][0]["type"] == "video"
    document = components["document_header"]["header"]["parameters"][0]
    assert document == {"type": "document", "document": {"link": media_server.url("/invoice.pdf"), "filename": "Invoice INV-1.pdf"}}
    location = components["location_header"]["header"]["parameters"][0]["location"]
    assert float(location["latitude"]) == 12.9716 and float(location["longitude"]) == 77.5946 and location["name"] == "Store"
    assert components["named_order"]["body"]["parameters"] == [
        {"type": "text", "text": "Asha", "parameter_name": "first_name"}, {"type": "text", "text": "ORD-2", "parameter_name": "order_id"}]
    buttons = [c for c in by_message[ids["copy_code"]].body["template"]["components"] if c["type"] == "button"]
    assert {b["sub_type"]: b["parameters"][0] for b in buttons} == {
        "quick_reply": {"type": "payload", "payload": "STOP_PROMOS"}, "copy_code": {"type": "coupon_code", "coupon_code": "SAVE20"}}
    cards = components["carousel"]["carousel"]["cards"]
    assert [c["card_index"] for c in cards] == [0, 1]
    assert "components" not in by_message[ids["no_params"]].body["template"]

    async with db.sessionmaker() as session:
        rows = (await session.execute(select(Message.id, Message.status, Message.wamid))).all()
    wamids = {s.message_id: s.wamid for s in fake_meta.sends}
    assert {str(r.id): (r.status, r.wamid) for r in rows} == {m: ("sent", wamids[m]) for m in ids.values()}


def test_the_schema_rejects_what_meta_rejects():
    """The validator is not a rubber stamp: each of these breaks Meta's schema."""
    good = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+917428526285", "type": "template",
            "biz_opaque_callback_data": str(uuid.uuid4()),
            "template": {"name": "order_update", "language": {"code": "en", "policy": "deterministic"},
                         "components": [{"type": "body", "parameters": [{"type": "text", "text": "Asha"}]}]}}
    assert errors_of(good) == []
    broken = []
    b = copy.deepcopy(good); del b["template"]["name"]; broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["template"]["language"] = {"code": "en", "policy": "fallback"}; broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["template"]["components"][0]["parameters"][0] = {"type": "text"}; broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["template"]["components"].append({"type": "header", "parameters": [{"type": "image", "image": {}}]}); broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["template"]["components"].append({"type": "button", "sub_type": "url", "index": "12", "parameters": [{"type": "text", "text": "x"}]}); broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["template"]["components"].append({"type": "button", "sub_type": "copy_code", "index": "1", "parameters": [{"type": "coupon_code"}]}); broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["messaging_product"] = 5; broken.append(b)  # noqa: E702
    b = copy.deepcopy(good); b["biz_opaque_callback_data"] = "x" * 513; broken.append(b)  # noqa: E702
    for case in broken:
        assert errors_of(case), case


async def test_parameter_count_mismatch_is_meta_132000_and_final(client, db, settings, dispatcher, fake_meta):
    """Meta re-checks what it receives: when the template changed on Meta's side since the sync
    (one more placeholder), the send fails permanently with 132000 and Meta's details."""
    setup = await make_cloud_project(db, settings, fake_meta)
    fake_meta.templates[0]["components"] = [{"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{3}}."}]
    message_id = await send(client, setup, "order_update")
    await dispatcher.run_until_idle()
    response = await client.get(f"/api/v1/messages/{message_id}", headers={"Authorization": f"Bearer {setup.api_key}"})
    data = response.json()
    assert data["status"] == "failed"
    assert data["error"]["code"] == 132000
    assert "number of localizable_params (2) does not match the expected number of params (3)" in data["error"]["details"]
    assert len(fake_meta.sends) == 1, "a permanent error is never retried"
