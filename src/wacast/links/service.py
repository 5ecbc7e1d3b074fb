"""Use cases of clicks and conversions: minting tracked links for a message, following a
token, recording a conversion and attributing it. Flushes, never commits."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.kit.phone import InvalidNumber, normalize
from wacast.links import repository as repo
from wacast.links import tracking
from wacast.links.attribution import Touch, attribute
from wacast.links.send_links import Planned, SendLinks, with_tokens
from wacast.links.send_links import plan as plan_links
from wacast.links.utm import with_utm
from wacast.models.links import Conversion
from wacast.templates import tracked
from wacast.templates.tracked import public_url_required

# 16 characters of URL-safe base64: 96 random bits, unguessable and short enough for a button.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_VALUE = Decimal("1e12")
# A conversion may be reported late; it is attributed to what happened before it, as far
# back as the longest attribution window a campaign may have.
LOOKBACK = timedelta(days=tracking.MAX_WINDOW_DAYS)
FUTURE_SLACK = timedelta(minutes=5)  # clocks of shops and of wacast differ a little
CONVERSION_FIELDS = ("destination", "contact_id", "submitted_message_id", "goal", "value", "currency", "occurred_at", "order_id")


def new_token() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class LinkToMint:
    destination: str  # the real destination, before the UTM parameters
    button_index: int | None  # a URL button's position; None for a URL in the body


def link_rows(*, project_id: uuid.UUID, campaign_id: uuid.UUID | None, campaign_name: str, settings: tracking.Tracking,
              message_id: uuid.UUID, contact_id: uuid.UUID, links: list[LinkToMint] | list[Planned]) -> tuple[list[dict[str, Any]], list[str]]:
    """The tracked_links rows of one message's links (a new token each, its destination with the
    campaign's UTM parameters), and the tokens in the links' order; nothing is written."""
    rows, tokens = [], []
    now = utcnow()
    for item in links:
        token = new_token()
        content = f"button_{item.button_index}" if item.button_index is not None else "body"
        rows.append({"token": token, "project_id": project_id, "campaign_id": campaign_id, "message_id": message_id,
                     "contact_id": contact_id, "button_index": item.button_index, "created_at": now,
                     "destination": with_utm(item.destination, settings.utm_for(campaign_name, content))})
        tokens.append(token)
    return rows, tokens


async def mint(session: AsyncSession, *, project_id: uuid.UUID, campaign_id: uuid.UUID | None, campaign_name: str,
               campaign_tracking: Any, message_id: uuid.UUID, contact_id: uuid.UUID, links: list[LinkToMint]) -> list[str]:
    """One token per link of a message about to be queued (in the same transaction): each
    stands for its destination with the campaign's UTM parameters."""
    rows, tokens = link_rows(project_id=project_id, campaign_id=campaign_id, campaign_name=campaign_name,
                             settings=tracking.parse(campaign_tracking), message_id=message_id, contact_id=contact_id, links=links)
    await repo.insert_links(session, rows)
    return tokens


# --- the send path: a campaign's tracked links -------------------------------------------------


async def send_links(session: AsyncSession, campaign_id: uuid.UUID, public_url: str) -> SendLinks | None:
    """What a campaign's messages track (links/send_links.py), or None when nothing is."""
    found = await repo.send_settings(session, campaign_id)
    if found is None:
        return None
    name, stored_tracking, stored_buttons = found
    try:
        settings = tracking.parse(stored_tracking)
    except WacastError:  # stored before a rule changed: sends go on with the defaults
        settings = tracking.Tracking()
    send = SendLinks(campaign_id, name, settings, tracked.patterns(stored_buttons), public_url or "")
    return send if send.active else None


def with_links(send: SendLinks | None, *, project_id: uuid.UUID, message_id: uuid.UUID, contact_id: uuid.UUID,
               components: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A message's components with a token per tracked link, and the tracked_links rows to
    insert in the message's transaction (links/repository.insert_links)."""
    if send is None:
        return components, []
    planned = plan_links(components, send)
    if not planned:
        return components, []
    rows, tokens = link_rows(project_id=project_id, campaign_id=send.campaign_id, campaign_name=send.campaign_name,
                             settings=send.tracking, message_id=message_id, contact_id=contact_id, links=planned)
    return with_tokens(components, planned, tokens, send.public_url), rows


async def insert_links(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await repo.insert_links(session, rows)


async def set_tracking(session: AsyncSession, campaign: Any, raw: Any, public_url: str) -> tracking.Tracking:
    """A campaign's click and conversion settings (REST, dashboard): checked by the one parser
    (links/tracking.py); tracking body URLs needs WACAST_PUBLIC_URL. Replaces what was set."""
    settings = check_tracking(raw, public_url)
    await repo.set_tracking(session, campaign, settings.as_dict() if raw is not None else None)
    return settings


def check_tracking(raw: Any, public_url: str) -> tracking.Tracking:
    """Tracking settings as given (PUT .../tracking, the dashboard, `tracking` at a campaign's
    creation), checked before anything is written: the one parser, and tracking body URLs
    needs WACAST_PUBLIC_URL."""
    settings = tracking.parse(raw)
    if settings.track_body_urls:
        public_url_required(public_url)
    return settings


def well_formed(token: str) -> bool:
    """Whether `token` can be one wacast minted (anything else is not looked up at all)."""
    return isinstance(token, str) and bool(TOKEN.match(token))


# --- conversions ---------------------------------------------------------------------------


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise WacastError(f"{field} must be an id (a UUID)", "FIELD_INVALID", {"field": field}) from None


def _value(body: dict[str, Any]) -> tuple[Decimal | None, str | None]:
    raw, currency = body.get("value"), body.get("currency")
    if raw is None:
        if currency is not None:
            raise WacastError("currency is given without a value", "FIELD_INVALID", {"field": "value"})
        return None, None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise WacastError("value must be a number, e.g. 1499.00", "FIELD_INVALID", {"field": "value"})
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise WacastError("value must be a number, e.g. 1499.00", "FIELD_INVALID", {"field": "value"}) from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_VALUE:
        raise WacastError("value must be a number from 0 to 999,999,999,999", "FIELD_INVALID", {"field": "value"})
    if not isinstance(currency, str) or not CURRENCY.match(currency.strip().upper()):
        raise WacastError("currency is required with a value: an ISO 4217 code such as INR or USD", "FIELD_INVALID", {"field": "currency"})
    return amount.quantize(Decimal("0.0001")), currency.strip().upper()


def _occurred_at(raw: Any, now: datetime) -> datetime:
    if raw is None:
        return now
    if not isinstance(raw, str):
        raise WacastError("occurred_at must be an ISO date-time with its offset, e.g. 2026-12-07T10:00:00+05:30", "FIELD_INVALID", {"field": "occurred_at"})
    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise WacastError("occurred_at must be an ISO date-time with its offset, e.g. 2026-12-07T10:00:00+05:30", "FIELD_INVALID", {"field": "occurred_at"}) from None
    if when.tzinfo is None:
        raise WacastError("occurred_at needs its offset (Z or +05:30)", "FIELD_INVALID", {"field": "occurred_at"})
    if when > now + FUTURE_SLACK:
        raise WacastError("occurred_at is in the future", "FIELD_INVALID", {"field": "occurred_at"})
    return when


async def _contact_of(session: AsyncSession, project: Any, body: dict[str, Any]) -> uuid.UUID:
    """The contact a conversion is of: by submitted_message_id, contact_id or destination;
    when several are given they must name the same contact."""
    found: list[tuple[str, uuid.UUID | None]] = []
    if body.get("submitted_message_id") is not None:
        row = await repo.message_of_project(session, project.id, _uuid(body["submitted_message_id"], "submitted_message_id"))
        found.append(("submitted_message_id", row.contact_id if row else None))
    if body.get("contact_id") is not None:
        found.append(("contact_id", await repo.contact_in_project(session, project.id, contact_id=_uuid(body["contact_id"], "contact_id"))))
    if body.get("destination") is not None:
        try:
            phone = normalize(text.check("destination", body["destination"], max_len=40) if isinstance(body["destination"], str) else body["destination"],
                              project.default_country or "IN")
        except InvalidNumber:
            raise WacastError("destination is not a valid phone number", "INVALID_NUMBER", {"field": "destination"}) from None
        found.append(("destination", await repo.contact_in_project(session, project.id, phone=phone)))
    if not found:
        raise WacastError("Name the contact: destination, contact_id or submitted_message_id", "FIELD_REQUIRED", {"field": "destination"})
    for field, contact_id in found:
        if contact_id is None:
            raise NotFound(f"No contact or message of this project matches {field}", "CONTACT_NOT_FOUND", {"field": field})
    if len({contact_id for _, contact_id in found}) > 1:
        raise WacastError(f"{' and '.join(f for f, _ in found)} name different contacts", "CONVERSION_CONTACT_MISMATCH",
                          {"fields": [f for f, _ in found]})
    return found[0][1]  # type: ignore[return-value]


@dataclass
class Recorded:
    conversion: Conversion
    campaign_name: str | None
    duplicate: bool  # the order id was recorded before: this is that conversion

    def as_dict(self) -> dict[str, Any]:
        c = self.conversion
        return {
            "id": str(c.id), "goal": c.goal, "value": str(c.value) if c.value is not None else None, "currency": c.currency,
            "order_id": c.order_id, "occurred_at": c.occurred_at.isoformat(), "contact_id": str(c.contact_id) if c.contact_id else None,
            "attributed": {"submitted_message_id": str(c.message_id), "campaign_id": str(c.campaign_id) if c.campaign_id else None,
                           "campaign_name": self.campaign_name, "touch": c.touch} if c.message_id else None,
            "duplicate": self.duplicate,
        }


async def record_conversion(session: AsyncSession, project: Any, body: dict[str, Any]) -> Recorded:
    """Record a conversion of a contact and attribute it (links/attribution.py); a repeated
    `order_id` answers the conversion recorded first and changes nothing."""
    now = utcnow()
    goal = tracking.goal_name(body.get("goal"))
    value, currency = _value(body)
    order_id = body.get("order_id")
    if order_id is not None:
        if not isinstance(order_id, (str, int)) or isinstance(order_id, bool):
            raise WacastError("order_id must be a text", "FIELD_INVALID", {"field": "order_id"})
        order_id = text.clean("order_id", str(order_id), max_len=200)
        if not order_id:
            raise WacastError("order_id is empty", "FIELD_INVALID", {"field": "order_id"})
    occurred_at = _occurred_at(body.get("occurred_at"), now)
    contact_id = await _contact_of(session, project, body)
    if order_id is not None:
        first = await repo.conversion_by_order(session, project.id, order_id)
        if first is not None:
            return Recorded(first, await repo.campaign_name(session, first.campaign_id), duplicate=True)
    rows = await repo.touches(session, project.id, contact_id, occurred_at - LOOKBACK, occurred_at)
    touches = [Touch(r.id, r.campaign_id, r.sent_at, r.delivered_at, r.read_at, r.clicked_at, tracking.parse(r.tracking).window)
               for r in rows]
    won = attribute(touches, occurred_at)
    conversion = Conversion(
        project_id=project.id, contact_id=contact_id, message_id=won.touch.message_id if won.touch else None,
        campaign_id=won.touch.campaign_id if won.touch else None, touch=won.step, goal=goal, value=value, currency=currency,
        order_id=order_id, occurred_at=occurred_at, recorded_at=now,
    )
    try:
        async with session.begin_nested():
            await repo.add_conversion(session, conversion)
    except IntegrityError:  # the same order id, recorded by a concurrent request
        first = await repo.conversion_by_order(session, project.id, order_id) if order_id else None
        if first is None:
            raise
        return Recorded(first, await repo.campaign_name(session, first.campaign_id), duplicate=True)
    return Recorded(conversion, await repo.campaign_name(session, conversion.campaign_id), duplicate=False)
