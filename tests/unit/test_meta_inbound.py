"""Every inbound kind of Meta's webhooks keeps its content (meta/inbound.py): Meta's own example
bodies from its OpenAPI spec, the kinds it documents on its reference pages, and ugly variants."""

import json

import pytest

from tests.support.meta_schema import webhook_examples
from wacast.meta import inbound
from wacast.meta.inbound import parse_message


def first_message(name: str) -> dict:
    return webhook_examples()[name]["entry"][0]["changes"][0]["value"]["messages"][0]


MESSAGE_EXAMPLES = [name for name, body in webhook_examples().items() if body["entry"][0]["changes"][0]["value"].get("messages")]


def test_every_published_message_example_is_a_known_kind():
    assert len(MESSAGE_EXAMPLES) >= 13
    for name in MESSAGE_EXAMPLES:
        parsed = parse_message(first_message(name))
        assert parsed.kind == first_message(name)["type"] and parsed.kind != "unknown", name
        json.dumps(parsed.stored_content())  # JSON-able


def test_text_and_its_context_and_referral():
    text = parse_message(first_message("Text Message"))
    assert (text.kind, text.text, text.payload, text.content) == (
        "text", first_message("Text Message")["text"]["body"], None, {"body": first_message("Text Message")["text"]["body"]})
    assert text.is_reply and text.context is None and text.referral is None

    product = parse_message(first_message("Text Message with Context (Product Inquiry)"))
    raw = first_message("Text Message with Context (Product Inquiry)")["context"]
    assert product.context_wamid == raw["id"]
    assert product.stored_content()["context"] == {"wamid": raw["id"], "from": raw["from"], "referred_product": raw["referred_product"]}

    ad = parse_message(first_message("Text Message from Click to WhatsApp Ad"))
    raw = first_message("Text Message from Click to WhatsApp Ad")["referral"]
    assert ad.kind == "text" and ad.referral.headline == raw["headline"] == "Chat with us"
    stored = ad.stored_content()["referral"]
    for key in ("source_url", "source_id", "source_type", "body", "media_type", "image_url", "ctwa_clid"):
        assert stored[key] == raw[key], key
    assert stored["welcome_message"] == raw["welcome_message"]["text"]


def test_image_location_contacts_order():
    image = parse_message(first_message("Image Message"))
    raw = first_message("Image Message")["image"]
    assert image.kind == "image" and image.media_id == raw["id"]
    assert image.content["mime_type"] == raw["mime_type"] and image.content["sha256"] == raw["sha256"]
    assert image.text == raw.get("caption") and image.content.get("caption") == raw.get("caption")

    location = parse_message(first_message("Location Message"))
    raw = first_message("Location Message")["location"]
    assert location.content["latitude"] == float(raw["latitude"]) and location.content["longitude"] == float(raw["longitude"])
    assert location.text == "📍 " + (raw.get("name") or raw.get("address"))
    assert location.content.get("address") == raw.get("address")

    shared = parse_message(first_message("Contact Sharing Message"))
    card = shared.content["contacts"][0]
    assert shared.kind == "contacts" and shared.text == "Lucía Gómez"
    assert card["name"] == "Lucía Gómez" and card["organization"] == {"company": "Google"}
    assert card["phones"] == [{"phone": "+1 (983) 555-2319", "wa_id": "19835552319", "type": "MOBILE"}]

    order = parse_message(first_message("Order Message"))
    assert order.kind == "order" and order.content["catalog_id"] == "194836987003835"
    assert order.content["items"][0] == {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30.0, "currency": "USD"}
    assert order.content["total"] == {"USD": 85.0} and order.text == "Order: 3 items"  # its text is "": the count instead
    assert "text" not in order.content


def test_buttons_and_choices_give_the_payload_opt_outs_match():
    template_button = parse_message(first_message("Button Message"))
    raw = first_message("Button Message")["button"]
    assert template_button.kind == "button" and (template_button.payload, template_button.text) == (raw["payload"], raw["text"])
    assert template_button.context_wamid == first_message("Button Message")["context"]["id"]

    listed = parse_message(first_message("Interactive List Reply Message"))
    row = first_message("Interactive List Reply Message")["interactive"]["list_reply"]
    assert listed.kind == "interactive" and listed.content == {"type": "list_reply", **row}
    assert (listed.payload, listed.text) == (row["id"], row["title"])

    button = parse_message(first_message("Interactive Button Reply Message"))
    reply = first_message("Interactive Button Reply Message")["interactive"]["button_reply"]
    assert button.content == {"type": "button_reply", **reply} and button.payload == reply["id"]


def test_unsupported_system_and_reaction():
    unsupported = parse_message(first_message("Unsupported Message"))
    assert unsupported.kind == "unsupported" and unsupported.is_reply
    assert unsupported.content["errors"] == [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                                              "details": "Message type is currently not supported."}]
    assert "131051" in unsupported.text

    system = parse_message(first_message("System Message"))
    assert system.kind == "system" and not system.is_reply and system.content == {
        "type": "user_changed_number", "body": "User Sheena Nelson changed from 16505551234 to 12195555358", "wa_id": "12195555358"}

    reaction = parse_message(first_message("Reaction Message"))
    raw = first_message("Reaction Message")["reaction"]
    assert reaction.is_reaction and not reaction.is_reply
    assert (reaction.reacted_wamid, reaction.emoji, reaction.body.removed) == (raw["message_id"], raw["emoji"], False)


def test_the_kinds_documented_on_meta_reference_pages():
    voice = parse_message({"id": "w1", "type": "audio", "audio": {"id": "1234", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": True}})
    assert voice.content == {"media_id": "1234", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": True} and voice.media_id == "1234"
    music = parse_message({"type": "audio", "audio": {"id": "55", "mime_type": "audio/mpeg", "voice": "yes"}})
    assert "voice" not in music.content  # only a true `voice` makes a voice note
    video = parse_message({"type": "video", "video": {"id": "77", "mime_type": "video/mp4", "sha256": "s", "caption": "Look"}})
    assert (video.kind, video.media_id, video.text) == ("video", "77", "Look")
    document = parse_message({"type": "document", "document": {"id": "88", "filename": "invoice.pdf", "mime_type": "application/pdf", "caption": "May"}})
    assert document.content["filename"] == "invoice.pdf" and document.text == "May"
    unnamed = parse_message({"type": "document", "document": {"id": "89", "filename": "report.xlsx"}})
    assert unnamed.text == "report.xlsx"
    sticker = parse_message({"type": "sticker", "sticker": {"id": "99", "mime_type": "image/webp", "animated": True}})
    assert sticker.content["animated"] is True and sticker.media_id == "99"
    removed = parse_message({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": ""}})
    assert removed.is_reaction and removed.emoji is None and removed.body.removed and removed.reacted_wamid == "wamid.X"
    flow = parse_message({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": '{"size": "M", "flow_token": "t"}'}}})
    assert flow.content == {"type": "nfm_reply", "name": "flow", "body": "Sent", "response": {"size": "M", "flow_token": "t"}}
    assert flow.text == "Sent" and flow.payload is None
    forwarded = parse_message({"type": "text", "text": {"body": "hi"}, "context": {"frequently_forwarded": True}})
    assert forwarded.stored_content()["context"] == {"forwarded": True, "frequently_forwarded": True}
    welcome = parse_message({"type": "request_welcome", "id": "w"})
    assert welcome.kind == "request_welcome" and not welcome.is_reply and welcome.text == "Opened the chat"
    bsuid = parse_message({"type": "system", "system": {"type": "user_changed_user_id", "body": "changed", "user_id": "US.1",
                                                       "previous_user_id": "US.0", "parent_user_id": "US.ENT.1"}})
    assert bsuid.content == {"type": "user_changed_user_id", "body": "changed", "user_id": "US.1", "previous_user_id": "US.0",
                             "parent_user_id": "US.ENT.1"}
    card = parse_message({"type": "contacts", "contacts": [{
        "name": {"first_name": "Ana", "last_name": "Ruiz"}, "emails": [{"email": "ana@example.com", "type": "WORK"}],
        "urls": [{"url": "https://example.com"}], "addresses": [{"city": "Lima", "country_code": "PE"}], "birthday": "1990-01-02"}]})
    assert card.content["contacts"][0] == {"name": "Ana Ruiz", "first_name": "Ana", "last_name": "Ruiz",
                                           "emails": [{"email": "ana@example.com", "type": "WORK"}], "urls": [{"url": "https://example.com"}],
                                           "addresses": [{"city": "Lima", "country_code": "PE"}], "birthday": "1990-01-02"}
    later = parse_message({"type": "hologram", "hologram": {"x": 1}})
    assert (later.kind, later.stored_type, later.text, later.content) == ("unknown", "hologram", None, {"type": "hologram", "raw": {"x": 1}})
    errors = parse_message({"type": "text", "text": {"body": "x"}, "errors": [{"code": 131000, "title": "Something"}]})
    assert errors.stored_content()["errors"] == [{"code": 131000, "title": "Something"}]


def test_hostile_text_is_scrubbed_and_capped():
    nasty = parse_message({"type": "text", "text": {"body": "a\x00b\ud800c" + "x" * 100_000}})
    assert nasty.text.startswith("a\ufffdb\ufffdc") and len(nasty.text) == inbound.MAX_TEXT
    title = parse_message({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "r" * 10_000, "title": "\udfff"}}})
    assert len(title.payload) == inbound.MAX_ID and title.content["title"] == "\ufffd"
    path = parse_message({"type": "image", "image": {"id": "../../admin", "mime_type": "image/png"}})
    assert path.media_id is None and "media_id" not in path.content  # never a path to /media/
    far = parse_message({"type": "location", "location": {"latitude": 500, "longitude": "1e400"}})
    assert "latitude" not in far.content and "longitude" not in far.content and far.text == "📍 a location"
    deep = "[" * 5000 + "]" * 5000
    flow = parse_message({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": deep}}})
    json.dumps(flow.content)
    huge = parse_message({"type": "hologram", "hologram": {"x": "y" * 10_000}})
    assert huge.content == {"type": "hologram"}  # too big to keep: the type stays
    many = parse_message({"type": "order", "order": {"product_items": [{"quantity": 1, "item_price": 1, "currency": "usd"}] * 500}})
    assert len(many.content["items"]) == inbound.MAX_ITEMS and many.content["total"] == {"USD": 50.0}


@pytest.mark.parametrize("message", [
    None, 7, "text", [], {}, {"type": None}, {"type": 5}, {"type": "text"}, {"type": "text", "text": "not an object"},
    {"type": ["text"]}, {"type": "text", "text": {"body": {"a": 1}}}, {"type": "text", "text": {"body": 12}},
    {"type": "image", "image": {"id": ["x"], "mime_type": {"a": 1}}}, {"type": "image", "image": None},
    {"type": "location", "location": {"latitude": "north", "longitude": float("nan")}},
    {"type": "location", "location": {"latitude": float("inf"), "longitude": True}},
    {"type": "contacts", "contacts": "many"}, {"type": "contacts", "contacts": [None, 3, {"name": "x", "phones": [None, "p", {"phone": []}]}]},
    {"type": "contacts", "contacts": [{"name": {"formatted_name": "\x00"}, "emails": "e", "org": "o", "addresses": [1]}]},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{not json"}}},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": {"already": "parsed"}}}},
    {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": "row"}}, {"type": "interactive", "interactive": []},
    {"type": "interactive", "interactive": {"type": "call_permission_reply", "call_permission_reply": {"response": "accept"}}},
    {"type": "order", "order": {"product_items": [{"quantity": True, "item_price": "1e400", "currency": 3}, None, {"quantity": -5}]}},
    {"type": "order", "order": {"product_items": "x", "catalog_id": {"x": 1}}},
    {"type": "unsupported", "errors": [{"code": True}, "x", {"code": "131051"}, {"code": 10**20}]}, {"type": "unsupported", "errors": "e"},
    {"type": "reaction", "reaction": {"emoji": {"no": 1}}}, {"type": "reaction", "reaction": {"message_id": 5, "emoji": "👍" * 100}},
    {"type": "text", "text": {"body": "a\x00b" + "x" * 100_000}}, {"type": "system", "system": []}, {"type": "system", "system": {"type": 1}},
    {"type": "text", "text": {"body": "hi"}, "context": "ctx", "referral": ["ad"]},
    {"type": "text", "text": {"body": "hi"}, "context": {"id": 5, "referred_product": "p"}, "referral": {"headline": None, "welcome_message": "w"}},
    {"type": "x" * 1000, "x" * 1000: {"a": [1, 2, {"b": float("nan")}]}}, {"type": "weird", "weird": object()},
    {"type": "\ud800", "\ud800": {}},
])
def test_ugly_messages_never_raise_and_stay_bounded(message):
    parsed = parse_message(message)
    assert parsed.kind in (*inbound.KINDS, "unknown")
    assert parsed.text is None or (len(parsed.text) <= inbound.MAX_TEXT + 100 and "\x00" not in parsed.text)
    assert len(parsed.stored_type) <= 30 and "\ud800" not in parsed.stored_type
    dumped = json.dumps(parsed.stored_content(), ensure_ascii=False, allow_nan=False)  # JSON-able, no NaN
    dumped.encode("utf-8")  # no lone surrogate left
    assert "\\u0000" not in json.dumps(parsed.stored_content())
