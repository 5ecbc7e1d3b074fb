"""One inbound message of a Meta webhook (`value.messages[]`) in a typed form (pure, no I/O).

Every kind Meta documents has its own typed content: text, image, video, audio (voice notes),
document, sticker, location, contacts (shared cards), button (a template's quick reply),
interactive (button_reply, list_reply, nfm_reply: a WhatsApp Flow's answer), order, reaction,
unsupported (with its error, e.g. 131051), system (a number or user id change), request_welcome
(the person opened the chat), plus the click-to-WhatsApp ad `referral` and the `context` (the
quoted message, forwarded, the product asked about) that ride on any of them. A kind Meta adds
later is kept as `unknown` with its type name and its object (when small).

Each typed content gives `text` (what a list shows: the body, a caption, a choice's title,
"📍 name", ...), `payload` (what opt-out payloads match: a template button's payload, a reply
button's or list row's id) and `content` (a JSON-able dict for storage).

Meta's bodies are untrusted: any field may be missing, of another type, huge or hostile.
Nothing here raises; every string is cut to a bound and goes through kit/text.py's rule for
what a provider sends (`scrub_tree`: NUL and lone surrogates become U+FFFD), numbers must be
finite, lists are capped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Union

from wacast.kit import text as text_rule

MAX_TEXT = 4096  # a WhatsApp text is at most 4,096 characters
MAX_FIELD = 1024  # captions' neighbours: titles, names, addresses
MAX_ID = 256  # ids, payloads
MAX_URL = 2048
MAX_ITEMS = 50  # shared cards, order items, phones of a card
MAX_FLOW_JSON = 64 * 1024  # a Flow's response_json
MAX_RAW = 4096  # an unknown kind's object, as JSON text
MAX_DEPTH = 16
# What a person's text may not carry into storage and pages: NUL, control characters (but
# newline and tab), line/paragraph separators, lone surrogates. Each becomes U+FFFD: Meta's
# signed bodies are kept, not refused (a refusal is retried for days).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|\r(?!\n)")
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
KINDS = ("text", *MEDIA_KINDS, "location", "contacts", "button", "interactive", "order", "reaction", "unsupported", "system",
         "request_welcome")
# Kinds that are stored on the timeline but are not the person writing back: they answer no
# campaign message (a system notice wacast did not apply, the chat opened for the first time).
NOT_REPLIES = ("system", "request_welcome")
# Meta's media ids are digits; anything else that could be a path is not kept as an id.
_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


# --- field readers: never raise ------------------------------------------------------------


def _str(value: Any, limit: int = MAX_FIELD) -> str | None:
    """A string field, cut to `limit` and scrubbed; None when missing, blank or not text (a
    number is taken as its text: Meta sends some ids as numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and value == value and abs(value) < 1e300):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = text_rule.scrub_tree(value[:limit])
    return value if value.strip() else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str) and len(value) > 40:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) < 1e15 else None  # not NaN, not infinite nor absurd


def _int_or_number(value: Any) -> int | float | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else number


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any, limit: int = MAX_ITEMS) -> list[Any]:
    return value[:limit] if isinstance(value, list) else []


def _clean(content: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in content.items() if v not in (None, "", [], {}, ())}


def _bounded(value: Any, depth: int = 0) -> Any:
    """A parsed JSON value made safe to keep: scrubbed strings, capped lists, bounded depth
    (None past it)."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, str):
        return text_rule.scrub_tree(value[:MAX_TEXT])
    if isinstance(value, dict):
        return {text_rule.scrub_tree(str(k)[:MAX_ID]): _bounded(v, depth + 1) for k, v in list(value.items())[:200]}
    if isinstance(value, list):
        return [_bounded(v, depth + 1) for v in value[:200]]
    if isinstance(value, float) and not (value == value and abs(value) < 1e300):
        return None
    return value if value is None or isinstance(value, (bool, int, float)) else None


# --- the typed contents --------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    body: str | None

    @property
    def text(self) -> str | None:
        return self.body

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"body": self.body})


@dataclass(frozen=True)
class Media:
    """An image, video, audio (a voice note when `voice`), document or sticker (`animated`):
    Meta sends its media id, never the file (fetched through wacast: docs/media.md)."""

    kind: str
    media_id: str | None
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    animated: bool = False

    @property
    def text(self) -> str | None:
        return self.caption or self.filename

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"media_id": self.media_id, "mime_type": self.mime_type, "sha256": self.sha256, "caption": self.caption,
                       "filename": self.filename, "voice": self.voice or None, "animated": self.animated or None})


@dataclass(frozen=True)
class Location:
    latitude: float | None
    longitude: float | None
    name: str | None = None
    address: str | None = None
    url: str | None = None

    @property
    def text(self) -> str:
        if self.name or self.address:
            return "📍 " + (self.name or self.address or "")
        if self.latitude is not None and self.longitude is not None:
            return f"📍 {self.latitude}, {self.longitude}"
        return "📍 a location"

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"latitude": self.latitude, "longitude": self.longitude, "name": self.name, "address": self.address, "url": self.url})


@dataclass(frozen=True)
class Card:
    """One shared contact card."""

    name: str | None
    first_name: str | None = None
    last_name: str | None = None
    phones: tuple[dict[str, str], ...] = ()  # {phone, wa_id, type}
    emails: tuple[dict[str, str], ...] = ()  # {email, type}
    organization: dict[str, str] = field(default_factory=dict)  # {company, department, title}
    urls: tuple[dict[str, str], ...] = ()  # {url, type}
    addresses: tuple[dict[str, str], ...] = ()  # {street, city, state, zip, country, country_code, type}
    birthday: str | None = None

    def content(self) -> dict[str, Any]:
        return _clean({"name": self.name, "first_name": self.first_name, "last_name": self.last_name, "phones": list(self.phones),
                       "emails": list(self.emails), "organization": self.organization, "urls": list(self.urls),
                       "addresses": list(self.addresses), "birthday": self.birthday})


@dataclass(frozen=True)
class SharedContacts:
    cards: tuple[Card, ...]

    @property
    def text(self) -> str | None:
        return ", ".join(c.name or "a contact" for c in self.cards)[:MAX_FIELD] or None

    payload = None

    def content(self) -> dict[str, Any]:
        return {"contacts": [c.content() for c in self.cards]}


@dataclass(frozen=True)
class Button:
    """A template's quick-reply button tapped (its payload is what opt-out payloads match)."""

    payload: str | None
    title: str | None

    @property
    def text(self) -> str | None:
        return self.title or self.payload

    def content(self) -> dict[str, Any]:
        return _clean({"payload": self.payload, "text": self.title})


@dataclass(frozen=True)
class Choice:
    """An interactive `button_reply` (a reply button tapped) or `list_reply` (a list row
    chosen): its id is the payload."""

    type: str  # button_reply | list_reply
    id: str | None
    title: str | None
    description: str | None = None

    @property
    def text(self) -> str | None:
        return self.title or self.id

    @property
    def payload(self) -> str | None:
        return self.id

    def content(self) -> dict[str, Any]:
        return _clean({"type": self.type, "id": self.id, "title": self.title, "description": self.description})


@dataclass(frozen=True)
class FlowReply:
    """A WhatsApp Flow answered (`nfm_reply`): `response` is its response_json, parsed when it
    is JSON (else kept as text)."""

    name: str | None
    body: str | None
    response: Any = None

    @property
    def text(self) -> str:
        return self.body or "Form answered"

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"type": "nfm_reply", "name": self.name, "body": self.body, "response": self.response})


@dataclass(frozen=True)
class OtherInteractive:
    """An interactive reply of a sub-type wacast does not know yet."""

    type: str | None

    text = None
    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"type": self.type})


@dataclass(frozen=True)
class OrderItem:
    product_retailer_id: str | None
    quantity: int | float | None
    item_price: float | None
    currency: str | None

    def content(self) -> dict[str, Any]:
        return _clean({"product_retailer_id": self.product_retailer_id, "quantity": self.quantity, "item_price": self.item_price,
                       "currency": self.currency})


@dataclass(frozen=True)
class Order:
    catalog_id: str | None
    note: str | None  # the order's `text`
    items: tuple[OrderItem, ...]

    @property
    def total(self) -> dict[str, float]:
        """The sum of quantity × price per currency (items without all three are left out)."""
        total: dict[str, float] = {}
        for item in self.items:
            if item.quantity is not None and item.item_price is not None and item.currency:
                total[item.currency] = round(total.get(item.currency, 0.0) + item.quantity * item.item_price, 2)
        return total

    @property
    def text(self) -> str:
        if self.note:
            return self.note
        count = sum(int(i.quantity or 0) for i in self.items)
        return f"Order: {count} item{'s' if count != 1 else ''}"

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"catalog_id": self.catalog_id, "text": self.note, "items": [i.content() for i in self.items], "total": self.total})


@dataclass(frozen=True)
class Reaction:
    """An emoji on a message (`message_id`); no emoji: the reaction was taken back."""

    message_id: str | None
    emoji: str | None

    @property
    def removed(self) -> bool:
        return self.emoji is None

    @property
    def text(self) -> str | None:
        return self.emoji

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"message_id": self.message_id, "emoji": self.emoji})


@dataclass(frozen=True)
class ErrorInfo:
    code: int | None
    title: str | None = None
    message: str | None = None
    details: str | None = None

    def content(self) -> dict[str, Any]:
        return _clean({"code": self.code, "title": self.title, "message": self.message, "details": self.details})


@dataclass(frozen=True)
class Unsupported:
    """A message WhatsApp does not pass on (131051 "Message type unknown", an edit, a poll...):
    the person did write."""

    errors: tuple[ErrorInfo, ...]
    type: str | None = None  # Meta's `unsupported.type`, when it says

    @property
    def text(self) -> str:
        first = self.errors[0] if self.errors else ErrorInfo(None)
        return f"Unsupported message ({first.code or 'no code'}: {first.details or first.title or 'not shown by WhatsApp'})"

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"errors": [e.content() for e in self.errors], "type": self.type})


@dataclass(frozen=True)
class System:
    """A notice from WhatsApp about the person: `user_changed_number` (the new number in
    `wa_id`), `user_changed_user_id` (a new BSUID), `customer_identity_changed`, ..."""

    type: str | None
    body: str | None
    wa_id: str | None = None
    new_wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    previous_user_id: str | None = None
    previous_parent_user_id: str | None = None
    customer: str | None = None
    identity: str | None = None

    @property
    def text(self) -> str | None:
        return self.body or self.type

    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"type": self.type, "body": self.body, "wa_id": self.wa_id, "new_wa_id": self.new_wa_id, "user_id": self.user_id,
                       "parent_user_id": self.parent_user_id, "previous_user_id": self.previous_user_id,
                       "previous_parent_user_id": self.previous_parent_user_id, "customer": self.customer, "identity": self.identity})


@dataclass(frozen=True)
class Welcome:
    """`request_welcome`: the person opened the chat for the first time (wrote nothing yet)."""

    text = "Opened the chat"
    payload = None

    def content(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Unknown:
    """A kind wacast does not know: its type name and its object, when small."""

    type: str
    raw: Any = None

    text = None
    payload = None

    def content(self) -> dict[str, Any]:
        return _clean({"type": self.type, "raw": self.raw})


Content = Union[Text, Media, Location, SharedContacts, Button, Choice, FlowReply, OtherInteractive, Order, Reaction, Unsupported,
                System, Welcome, Unknown]


@dataclass(frozen=True)
class Context:
    """What a message answers or how it came: the quoted message (`wamid`), forwarded, the
    product asked about (a "Message business" button on a product)."""

    wamid: str | None
    sender: str | None = None  # context.from: the business number for a quoted business message
    forwarded: bool = False
    frequently_forwarded: bool = False
    referred_product: dict[str, str] = field(default_factory=dict)  # {catalog_id, product_retailer_id}

    def content(self) -> dict[str, Any]:
        return _clean({"wamid": self.wamid, "from": self.sender, "forwarded": self.forwarded or self.frequently_forwarded or None,
                       "frequently_forwarded": self.frequently_forwarded or None, "referred_product": self.referred_product})


REFERRAL_FIELDS = ("source_url", "source_id", "source_type", "headline", "body", "media_type", "image_url", "video_url",
                   "thumbnail_url", "ctwa_clid")


@dataclass(frozen=True)
class Referral:
    """The click-to-WhatsApp ad (or post) the person came from."""

    fields: dict[str, str]  # REFERRAL_FIELDS present
    welcome_message: str | None = None

    @property
    def headline(self) -> str | None:
        return self.fields.get("headline")

    def content(self) -> dict[str, Any]:
        return _clean({**self.fields, "welcome_message": self.welcome_message})


@dataclass(frozen=True)
class Inbound:
    """What a person sent, as wacast keeps it."""

    kind: str  # one of KINDS, or "unknown"
    meta_type: str  # Meta's own `type` (the stored type of an unknown kind)
    body: Content
    context: Context | None = None
    referral: Referral | None = None
    errors: tuple[ErrorInfo, ...] = ()  # errors Meta attached to a message of another kind

    @property
    def text(self) -> str | None:
        return self.body.text

    @property
    def payload(self) -> str | None:
        return self.body.payload

    @property
    def content(self) -> dict[str, Any]:
        """The typed content of its kind."""
        return self.body.content()

    @property
    def stored_type(self) -> str:
        """The reply's `type`: the kind, or Meta's type name for an unknown kind."""
        return self.kind if self.kind != "unknown" else self.meta_type[:30]

    def stored_content(self) -> dict[str, Any]:
        """What a reply keeps: the kind's content, with its `context`, `referral` and `errors`."""
        stored = dict(self.content)
        if self.context is not None and self.context.content():
            stored["context"] = self.context.content()
        if self.referral is not None:
            stored["referral"] = self.referral.content()
        if self.errors and "errors" not in stored:
            stored["errors"] = [e.content() for e in self.errors]
        return stored

    @property
    def media_id(self) -> str | None:
        return self.body.media_id if isinstance(self.body, Media) else None

    @property
    def is_reaction(self) -> bool:
        return isinstance(self.body, Reaction)

    @property
    def reacted_wamid(self) -> str | None:
        return self.body.message_id if isinstance(self.body, Reaction) else None

    @property
    def emoji(self) -> str | None:
        return self.body.emoji if isinstance(self.body, Reaction) else None

    @property
    def context_wamid(self) -> str | None:
        return self.context.wamid if self.context else None

    @property
    def is_reply(self) -> bool:
        """Whether the person wrote back (answers a campaign message, counts as replied)."""
        return not self.is_reaction and self.kind not in NOT_REPLIES


# --- parsing -------------------------------------------------------------------------------


def _media(kind: str, raw: dict[str, Any]) -> Media:
    media_id = _str(raw.get("id"), 200)
    return Media(
        kind, media_id if media_id and _MEDIA_ID.fullmatch(media_id) else None,
        mime_type=_str(raw.get("mime_type"), 200), sha256=_str(raw.get("sha256"), 200), caption=_str(raw.get("caption"), MAX_TEXT),
        filename=_str(raw.get("filename"), 255), voice=kind == "audio" and raw.get("voice") is True,
        animated=kind == "sticker" and raw.get("animated") is True,
    )


def _location(raw: dict[str, Any]) -> Location:
    latitude, longitude = _number(raw.get("latitude")), _number(raw.get("longitude"))
    return Location(latitude if latitude is not None and abs(latitude) <= 90 else None,
                    longitude if longitude is not None and abs(longitude) <= 180 else None,
                    _str(raw.get("name")), _str(raw.get("address")), _str(raw.get("url"), MAX_URL))


def _entries(value: Any, keys: tuple[str, ...], limit: int = 200) -> tuple[dict[str, str], ...]:
    found = []
    for entry in _list(value, 20):
        cleaned = _clean({key: _str(_obj(entry).get(key), limit) for key in keys})
        if cleaned:
            found.append(cleaned)
    return tuple(found)


def _card(raw: Any) -> Card:
    card = _obj(raw)
    name = _obj(card.get("name"))
    first, last = _str(name.get("first_name")), _str(name.get("last_name"))
    return Card(
        name=_str(name.get("formatted_name")) or " ".join(filter(None, (first, last))) or None,
        first_name=first, last_name=last,
        phones=_entries(card.get("phones"), ("phone", "wa_id", "type"), 40),
        emails=_entries(card.get("emails"), ("email", "type"), 320),
        organization=_clean({key: _str(_obj(card.get("org")).get(key)) for key in ("company", "department", "title")}),
        urls=_entries(card.get("urls"), ("url", "type"), MAX_URL),
        addresses=_entries(card.get("addresses"), ("street", "city", "state", "zip", "country", "country_code", "type")),
        birthday=_str(card.get("birthday"), 40),
    )


def _flow_response(value: Any) -> Any:
    raw = _str(value, MAX_FLOW_JSON)
    if raw is None:
        return None
    try:
        return _bounded(json.loads(raw))
    except (ValueError, RecursionError):
        return raw  # kept as the text it is


def _interactive(raw: dict[str, Any]) -> Content:
    kind = _str(raw.get("type"), 40)
    if kind in ("button_reply", "list_reply"):
        choice = _obj(raw.get(kind))
        return Choice(kind, _str(choice.get("id"), MAX_ID), _str(choice.get("title")), _str(choice.get("description")))
    if kind == "nfm_reply":
        reply = _obj(raw.get("nfm_reply"))
        return FlowReply(_str(reply.get("name")), _str(reply.get("body"), MAX_TEXT), _flow_response(reply.get("response_json")))
    return OtherInteractive(kind)


def _order(raw: dict[str, Any]) -> Order:
    items = []
    for item in _list(raw.get("product_items")):
        item = _obj(item)
        quantity = _int_or_number(item.get("quantity"))
        currency = _str(item.get("currency"), 3)
        items.append(OrderItem(_str(item.get("product_retailer_id"), MAX_ID), quantity if quantity is None or quantity >= 0 else None,
                               _number(item.get("item_price")), currency.upper() if currency else None))
    return Order(_str(raw.get("catalog_id"), MAX_ID), _str(raw.get("text"), MAX_TEXT), tuple(items))


def _errors(raw: Any) -> tuple[ErrorInfo, ...]:
    out = []
    for error in _list(raw, 10):
        error = _obj(error)
        if not error:
            continue
        code = error.get("code")
        if isinstance(code, str) and code.isdigit() and len(code) < 10:
            code = int(code)
        out.append(ErrorInfo(code if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < 10**9 else None,
                             _str(error.get("title")), _str(error.get("message")), _str(_obj(error.get("error_data")).get("details"))))
    return tuple(out)


def _system(raw: dict[str, Any]) -> System:
    return System(
        type=_str(raw.get("type"), 60), body=_str(raw.get("body")), wa_id=_str(raw.get("wa_id"), 40), new_wa_id=_str(raw.get("new_wa_id"), 40),
        user_id=_str(raw.get("user_id"), 200), parent_user_id=_str(raw.get("parent_user_id"), 200),
        previous_user_id=_str(raw.get("previous_user_id"), 200), previous_parent_user_id=_str(raw.get("previous_parent_user_id"), 200),
        customer=_str(raw.get("customer"), 40), identity=_str(raw.get("identity"), 200),
    )


def _unknown(meta_type: str, raw: Any) -> Unknown:
    kept = None
    if raw not in (None, {}, []):
        try:
            dumped = json.dumps(raw, ensure_ascii=False, default=str)
        except (ValueError, TypeError, RecursionError):
            dumped = None
        if dumped is not None and len(dumped) <= MAX_RAW:
            kept = _bounded(raw)
    return Unknown(meta_type, kept)


def _context(raw: Any) -> Context | None:
    context = _obj(raw)
    if not context:
        return None
    product = _obj(context.get("referred_product"))
    return Context(
        _str(context.get("id"), 200), _str(context.get("from"), 40), forwarded=context.get("forwarded") is True,
        frequently_forwarded=context.get("frequently_forwarded") is True,
        referred_product=_clean({"catalog_id": _str(product.get("catalog_id"), MAX_ID),
                                 "product_retailer_id": _str(product.get("product_retailer_id"), MAX_ID)}),
    )


def _referral(raw: Any) -> Referral | None:
    ref = _obj(raw)
    fields = _clean({key: _str(ref.get(key), MAX_URL if key.endswith("url") else MAX_FIELD) for key in REFERRAL_FIELDS})
    welcome = _str(_obj(ref.get("welcome_message")).get("text"), MAX_TEXT)
    return Referral(fields, welcome) if fields or welcome else None


def parse_message(message: Any) -> Inbound:
    """The typed form of one `messages[]` entry (never raises)."""
    message = _obj(message)
    meta_type = _str(message.get("type"), 40) or "unknown"
    kind = meta_type if meta_type in KINDS else "unknown"
    raw = _obj(message.get(meta_type))
    body: Content
    if kind == "text":
        body = Text(_str(raw.get("body"), MAX_TEXT))
    elif kind in MEDIA_KINDS:
        body = _media(kind, raw)
    elif kind == "location":
        body = _location(raw)
    elif kind == "contacts":  # the cards are the message's own `contacts` list
        body = SharedContacts(tuple(_card(c) for c in _list(message.get("contacts")) if isinstance(c, dict)))
    elif kind == "button":
        body = Button(_str(raw.get("payload"), MAX_ID), _str(raw.get("text")))
    elif kind == "interactive":
        body = _interactive(raw)
    elif kind == "order":
        body = _order(raw)
    elif kind == "reaction":
        body = Reaction(_str(raw.get("message_id"), 200), _str(raw.get("emoji"), 32))
    elif kind == "unsupported":
        body = Unsupported(_errors(message.get("errors")) or _errors(raw.get("errors")), _str(raw.get("type"), 40))
    elif kind == "system":
        body = _system(raw)
    elif kind == "request_welcome":
        body = Welcome()
    else:
        body = _unknown(meta_type, message.get(meta_type))
    errors = () if kind == "unsupported" else _errors(message.get("errors"))
    return Inbound(kind, meta_type, body, _context(message.get("context")), _referral(message.get("referral")), errors)
