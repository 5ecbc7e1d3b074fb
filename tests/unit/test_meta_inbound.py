"""Every inbound kind of Meta's webhooks keeps its content (meta/inbound.py): Meta's own example
bodies from its OpenAPI spec, the kinds it documents elsewhere, and ugly variants."""

import pytest

from tests.support.meta_schema import webhook_examples
from wacast.meta.inbound import parse_message


def first_message(name: str) -> dict:
    return webhook_examples()[name]["entry"][0]["changes"][0]["value"]["messages"][0]


def test_meta_examples_keep_their_content():
    text = parse_message(first_message("Text Message"))
    assert (text.kind, text.text, text.payload) == ("text", first_message("Text Message")["text"]["body"], None)

    image = parse_message(first_message("Image Message"))
    raw = first_message("Image Message")["image"]
    assert image.kind == "image" and image.media_id == raw["id"]
    assert image.content["mime_type"] == raw["mime_type"] and image.content["sha256"] == raw["sha256"]
    assert image.text == raw.get("caption") and image.content.get("caption") == raw.get("caption")

    location = parse_message(first_message("Location Message"))
    raw = first_message("Location Message")["location"]
    assert location.content["latitude"] == float(raw["latitude"]) and location.content["longitude"] == float(raw["longitude"])
    assert location.text.startswith("📍 ")

    shared = parse_message(first_message("Contact Sharing Message"))
    assert shared.kind == "contacts" and shared.content["contacts"] and shared.content["contacts"][0].get("phones")

    listed = parse_message(first_message("Interactive List Reply Message"))
    row = first_message("Interactive List Reply Message")["interactive"]["list_reply"]
    assert listed.kind == "interactive" and listed.content["type"] == "list_reply"
    assert (listed.payload, listed.text, listed.content["id"]) == (row["id"], row["title"], row["id"])

    button = parse_message(first_message("Interactive Button Reply Message"))
    assert button.content["type"] == "button_reply" and button.payload

    template_button = parse_message(first_message("Button Message"))
    assert template_button.kind == "button" and template_button.payload and template_button.context_wamid

    order = parse_message(first_message("Order Message"))
    assert order.kind == "order" and order.content["items"] and "USD" in order.content["total"]
    assert order.content["total"]["USD"] == 2 * 30 + 1 * 25

    unsupported = parse_message(first_message("Unsupported Message"))
    assert unsupported.kind == "unsupported" and unsupported.content["errors"][0]["code"] == 131051

    system = parse_message(first_message("System Message"))
    assert system.kind == "system" and system.content == {
        "type": "user_changed_number", "body": "User Sheena Nelson changed from 16505551234 to 12195555358", "wa_id": "12195555358"}

    reaction = parse_message(first_message("Reaction Message"))
    raw = first_message("Reaction Message")["reaction"]
    assert reaction.is_reaction and (reaction.reacted_wamid, reaction.emoji) == (raw["message_id"], raw["emoji"])

    ad = parse_message(first_message("Text Message from Click to WhatsApp Ad"))
    assert ad.kind == "text" and ad.referral and ad.referral.get("source_url")


def test_the_kinds_documented_elsewhere():
    voice = parse_message({"id": "w1", "type": "audio", "audio": {"id": "M1", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": True}})
    assert voice.content == {"media_id": "M1", "mime_type": "audio/ogg; codecs=opus", "sha256": "x", "voice": True} and voice.media_id == "M1"
    document = parse_message({"type": "document", "document": {"id": "D1", "filename": "invoice.pdf", "mime_type": "application/pdf", "caption": "May"}})
    assert document.content["filename"] == "invoice.pdf" and document.text == "May"
    sticker = parse_message({"type": "sticker", "sticker": {"id": "S1", "mime_type": "image/webp", "animated": True}})
    assert sticker.content["animated"] is True and sticker.media_id == "S1"
    removed = parse_message({"type": "reaction", "reaction": {"message_id": "wamid.X"}})
    assert removed.is_reaction and removed.emoji is None and removed.reacted_wamid == "wamid.X"
    flow = parse_message({"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": '{"size": "M", "flow_token": "t"}'}}})
    assert flow.content["response"] == {"size": "M", "flow_token": "t"} and flow.text == "Sent"
    forwarded = parse_message({"type": "text", "text": {"body": "hi"}, "context": {"frequently_forwarded": True, "from": "1", "id": "wamid.Q"}})
    assert forwarded.content["forwarded"] == "frequently" and forwarded.context_wamid == "wamid.Q"
    later = parse_message({"type": "hologram", "hologram": {"x": 1}})
    assert (later.kind, later.meta_type, later.text) == ("unknown", "hologram", None)


@pytest.mark.parametrize("message", [
    None, 7, "text", [], {}, {"type": None}, {"type": 5}, {"type": "text"}, {"type": "text", "text": "not an object"},
    {"type": "image", "image": {"id": ["x"], "mime_type": {"a": 1}}}, {"type": "location", "location": {"latitude": "north", "longitude": float("nan")}},
    {"type": "contacts", "contacts": "many"}, {"type": "contacts", "contacts": [None, 3, {"name": "x", "phones": [None]}]},
    {"type": "interactive", "interactive": {"type": "nfm_reply", "nfm_reply": {"response_json": "{not json"}}},
    {"type": "order", "order": {"product_items": [{"quantity": True, "item_price": "1e400", "currency": 3}]}},
    {"type": "unsupported", "errors": [{"code": True}, "x"]}, {"type": "reaction", "reaction": {"emoji": {"no": 1}}},
    {"type": "text", "text": {"body": "a\x00b" + "x" * 100_000}}, {"type": "system", "system": []},
])
def test_ugly_messages_never_raise_and_stay_bounded(message):
    parsed = parse_message(message)
    assert parsed.kind in ("unknown", "text", "image", "location", "contacts", "interactive", "order", "unsupported", "reaction", "system")
    assert parsed.text is None or (len(parsed.text) <= 4096 + 100 and "\x00" not in parsed.text)
