"""One inbound message of a Meta webhook (`value.messages[]`) in a typed form (pure, no I/O).

Every kind Meta documents keeps its content: text, image, video, audio (voice notes), document,
sticker, location, contacts, button, interactive (button_reply, list_reply, nfm_reply), order,
reaction, unsupported (with its error, e.g. 131051), system, plus the click-to-WhatsApp ad
`referral` and the `context` (the quoted message, forwarded) that ride on any of them. A kind
Meta adds later is kept as `unknown` with its type name. Meta's bodies are untrusted: any field
may be missing, of another type, or huge; nothing here raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT = 4096  # a WhatsApp text is at most 4,096 characters
MAX_FIELD = 1024  # captions, titles, names, addresses, ids
MAX_ITEMS = 50  # shared contacts, order items, phones of a card
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
KINDS = ("text", *MEDIA_KINDS, "location", "contacts", "button", "interactive", "order", "reaction", "unsupported", "system")


def _text(value: Any, limit: int = MAX_FIELD) -> str | None:
    """A string field, cut to `limit`; None when missing, empty or not text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "\ufffd")
    return value[:limit] if value.strip() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) < 1e15 else None  # not NaN nor absurd


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value[:MAX_ITEMS] if isinstance(value, list) else []


def _clean(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if v not in (None, "", [], {})}


@dataclass(frozen=True)
class Inbound:
    """What a person sent, as wacast keeps it."""

    kind: str  # one of KINDS, or "unknown"
    meta_type: str  # Meta's own `type` (kept for an unknown kind)
    text: str | None  # what a list shows (the body, caption, choice, "📍 name", ...)
    payload: str | None  # what opt-out payloads match: a button's payload, a reply button's or list row's id
    content: dict[str, Any] = field(default_factory=dict)  # the typed content, JSON-able
    media_id: str | None = None  # Meta's media id (image, video, audio, document, sticker)
    reacted_wamid: str | None = None  # a reaction: the message it reacts to
    emoji: str | None = None  # a reaction's emoji; None: the reaction was removed
    context_wamid: str | None = None  # the message this one quotes or answers
    referral: dict[str, Any] | None = None  # a click-to-WhatsApp ad the person came from

    @property
    def is_reaction(self) -> bool:
        return self.kind == "reaction"


def _media(kind: str, raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    media_id = _text(raw.get("id"), 200)
    content = {
        "media_id": media_id, "mime_type": _text(raw.get("mime_type"), 200), "sha256": _text(raw.get("sha256"), 200),
        "caption": _text(raw.get("caption"), MAX_TEXT), "filename": _text(raw.get("filename"), 255),
    }
    if kind == "audio" and raw.get("voice") is True:
        content["voice"] = True
    if kind == "sticker" and raw.get("animated") is True:
        content["animated"] = True
    return _clean(content), media_id


def _location(raw: dict[str, Any]) -> dict[str, Any]:
    return _clean({"latitude": _number(raw.get("latitude")), "longitude": _number(raw.get("longitude")),
                   "name": _text(raw.get("name")), "address": _text(raw.get("address")), "url": _text(raw.get("url"))})


def _card(raw: Any) -> dict[str, Any]:
    card = _obj(raw)
    name = _obj(card.get("name"))
    return _clean({
        "name": _text(name.get("formatted_name")) or " ".join(filter(None, (_text(name.get("first_name")), _text(name.get("last_name"))))) or None,
        "phones": [_clean({"phone": _text(_obj(p).get("phone"), 40), "wa_id": _text(_obj(p).get("wa_id"), 40), "type": _text(_obj(p).get("type"), 40)})
                   for p in _list(card.get("phones"))],
        "emails": [e for e in (_text(_obj(p).get("email"), 320) for p in _list(card.get("emails"))) if e],
        "organization": _text(_obj(card.get("org")).get("company")),
    })


def _interactive(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """(content, text, payload) of an interactive reply."""
    kind = _text(raw.get("type"), 40) or ""
    if kind in ("button_reply", "list_reply"):
        choice = _obj(raw.get(kind))
        content = _clean({"type": kind, "id": _text(choice.get("id"), 256), "title": _text(choice.get("title")),
                          "description": _text(choice.get("description"))})
        return content, content.get("title"), content.get("id")
    if kind == "nfm_reply":  # a WhatsApp Flow's answer
        reply = _obj(raw.get("nfm_reply"))
        response: Any = _text(reply.get("response_json"), 64 * 1024)
        try:
            response = json.loads(response) if response else None
        except ValueError:
            pass  # kept as the text it is
        content = _clean({"type": kind, "name": _text(reply.get("name")), "body": _text(reply.get("body")), "response": response})
        return content, content.get("body") or "Form answered", None
    return _clean({"type": kind or None}), None, None


def _order(raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    items = []
    for item in _list(raw.get("product_items")):
        item = _obj(item)
        items.append(_clean({"product_retailer_id": _text(item.get("product_retailer_id"), 256), "quantity": _number(item.get("quantity")),
                             "item_price": _number(item.get("item_price")), "currency": _text(item.get("currency"), 3)}))
    total: dict[str, float] = {}
    for item in items:
        if item.get("quantity") is not None and item.get("item_price") is not None and item.get("currency"):
            total[item["currency"]] = round(total.get(item["currency"], 0.0) + item["quantity"] * item["item_price"], 2)
    content = _clean({"catalog_id": _text(raw.get("catalog_id"), 256), "text": _text(raw.get("text"), MAX_TEXT), "items": items, "total": total})
    count = sum(int(i.get("quantity") or 0) for i in items)
    return content, content.get("text") or f"Order: {count} item{'s' if count != 1 else ''}"


def _referral(raw: Any) -> dict[str, Any] | None:
    ref = _obj(raw)
    if not ref:
        return None
    return _clean({key: _text(ref.get(key), 2048 if key.endswith("url") else MAX_FIELD) for key in (
        "source_url", "source_id", "source_type", "headline", "body", "media_type", "image_url", "video_url", "thumbnail_url", "ctwa_clid")}) or None


def _errors(raw: Any) -> list[dict[str, Any]]:
    out = []
    for error in _list(raw):
        error = _obj(error)
        code = error.get("code")
        out.append(_clean({"code": code if isinstance(code, int) and not isinstance(code, bool) else None, "title": _text(error.get("title")),
                           "message": _text(error.get("message")), "details": _text(_obj(error.get("error_data")).get("details"))}))
    return out


def parse_message(message: Any) -> Inbound:
    """The typed form of one `messages[]` entry (never raises)."""
    message = _obj(message)
    meta_type = _text(message.get("type"), 40) or "unknown"
    kind = meta_type if meta_type in KINDS else "unknown"
    raw = _obj(message.get(meta_type)) if meta_type in message else {}
    context = _obj(message.get("context"))
    extra: dict[str, Any] = {}
    if context.get("forwarded") is True or context.get("frequently_forwarded") is True:
        extra["forwarded"] = "frequently" if context.get("frequently_forwarded") is True else True
    product = _obj(context.get("referred_product"))
    if product:
        extra["referred_product"] = _clean({"catalog_id": _text(product.get("catalog_id"), 256),
                                            "product_retailer_id": _text(product.get("product_retailer_id"), 256)})
    referral = _referral(message.get("referral"))
    common = {"context_wamid": _text(context.get("id"), 200), "referral": referral}
    text = payload = media_id = None
    content: dict[str, Any]
    if kind == "text":
        content = _clean({"body": _text(raw.get("body"), MAX_TEXT)})
        text = content.get("body")
    elif kind in MEDIA_KINDS:
        content, media_id = _media(kind, raw)
        text = content.get("caption") or content.get("filename")
    elif kind == "location":
        content = _location(raw)
        text = "📍 " + (content.get("name") or content.get("address") or f"{content.get('latitude')}, {content.get('longitude')}")
    elif kind == "contacts":
        cards = [_card(c) for c in _list(message.get("contacts"))]
        content = {"contacts": cards}
        text = ", ".join(c.get("name") or "a contact" for c in cards) or None
    elif kind == "button":
        content = _clean({"payload": _text(raw.get("payload"), 256), "text": _text(raw.get("text"))})
        text, payload = content.get("text"), content.get("payload")
    elif kind == "interactive":
        content, text, payload = _interactive(raw)
    elif kind == "order":
        content, text = _order(raw)
    elif kind == "reaction":
        emoji = _text(raw.get("emoji"), 32)
        reacted = _text(raw.get("message_id"), 200)
        return Inbound("reaction", meta_type, emoji, None, _clean({"message_id": reacted, "emoji": emoji}),
                       reacted_wamid=reacted, emoji=emoji, **common)
    elif kind == "unsupported":
        content = _clean({"errors": _errors(message.get("errors") or raw.get("errors")), "type": _text(raw.get("type"), 40)})
        first = (content.get("errors") or [{}])[0]
        text = f"Unsupported message ({first.get('code') or 'no code'}: {first.get('details') or first.get('title') or 'not shown by WhatsApp'})"
    elif kind == "system":
        content = _clean({"type": _text(raw.get("type"), 60), "body": _text(raw.get("body")), "wa_id": _text(raw.get("wa_id"), 40),
                          "user_id": _text(raw.get("user_id"), 200), "customer": _text(raw.get("customer"), 40)})
        text = content.get("body")
    else:
        content = {}
    return Inbound(kind, meta_type, text, payload, {**content, **extra}, media_id=media_id, **common)
