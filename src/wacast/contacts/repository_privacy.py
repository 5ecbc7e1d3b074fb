"""SQL of a person's export and erasure (contacts/privacy.py): every table that holds
something of one contact. A repository may read any table (models/); what it finds about
other domains' rows it only reads or redacts, it decides nothing about them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, cast, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.broadcasts import BroadcastRecipient
from wacast.models.campaigns import Campaign
from wacast.models.consent import ContactConsent
from wacast.models.contact_imports import ContactImport
from wacast.models.contacts import Contact, ContactTag, FormerNumber
from wacast.models.idempotency import IdempotencyKey
from wacast.models.links import Conversion, LinkClick, TrackedLink
from wacast.models.media import InboundMedia
from wacast.models.messages import InboundEvent, Message, MessageEvent, MessageReaction, Reply
from wacast.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEvent

ERASED = "erased"


def _mentions(column: Any, needles: list[str]) -> Any:
    """The rows whose JSON or text `column` contains any of `needles` (as text)."""
    as_text = cast(column, Text)
    return or_(*(as_text.contains(n, autoescape=True) for n in needles))


# --- reading (the export) ----------------------------------------------------------------------


async def messages(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID) -> list[Any]:
    stmt = (select(Message, Campaign.name.label("campaign")).outerjoin(Campaign, Campaign.id == Message.campaign_id)
            .where(Message.project_id == project_id, Message.contact_id == contact_id).order_by(Message.created_at, Message.id))
    return list((await session.execute(stmt)).all())


async def message_events(session: AsyncSession, message_ids: list[uuid.UUID]) -> list[MessageEvent]:
    if not message_ids:
        return []
    out: list[MessageEvent] = []
    for start in range(0, len(message_ids), 500):
        stmt = select(MessageEvent).where(MessageEvent.message_id.in_(message_ids[start : start + 500])).order_by(MessageEvent.id)
        out += list((await session.execute(stmt)).scalars())
    return out


async def rows_of(session: AsyncSession, model: Any, contact_id: uuid.UUID, order: Any) -> list[Any]:
    return list((await session.execute(select(model).where(model.contact_id == contact_id).order_by(order))).scalars())


async def replies(session: AsyncSession, contact_id: uuid.UUID) -> list[Reply]:
    return await rows_of(session, Reply, contact_id, Reply.received_at)


async def reactions(session: AsyncSession, contact_id: uuid.UUID) -> list[MessageReaction]:
    return await rows_of(session, MessageReaction, contact_id, MessageReaction.reacted_at)


async def tracked_links(session: AsyncSession, contact_id: uuid.UUID) -> list[TrackedLink]:
    return await rows_of(session, TrackedLink, contact_id, TrackedLink.created_at)


async def clicks(session: AsyncSession, contact_id: uuid.UUID) -> list[LinkClick]:
    return await rows_of(session, LinkClick, contact_id, LinkClick.id)


async def conversions(session: AsyncSession, contact_id: uuid.UUID) -> list[Conversion]:
    return await rows_of(session, Conversion, contact_id, Conversion.occurred_at)


async def consents(session: AsyncSession, contact_id: uuid.UUID) -> list[ContactConsent]:
    return await rows_of(session, ContactConsent, contact_id, ContactConsent.id)


async def broadcast_rows(session: AsyncSession, contact_id: uuid.UUID) -> list[BroadcastRecipient]:
    return await rows_of(session, BroadcastRecipient, contact_id, BroadcastRecipient.position)


async def media(session: AsyncSession, project_id: uuid.UUID, media_ids: list[str]) -> list[Any]:
    """The metadata (not the bytes) of the media files the person sent."""
    if not media_ids:
        return []
    stmt = select(InboundMedia.media_id, InboundMedia.mime_type, InboundMedia.sha256, InboundMedia.size, InboundMedia.fetched_at).where(
        InboundMedia.project_id == project_id, InboundMedia.media_id.in_(media_ids))
    return list((await session.execute(stmt)).all())


async def webhook_events(session: AsyncSession, project_id: uuid.UUID, needles: list[str]) -> list[WebhookEvent]:
    """The customer-webhook events whose payload mentions the person (id, numbers, BSUID)."""
    stmt = select(WebhookEvent).where(WebhookEvent.project_id == project_id, _mentions(WebhookEvent.data, needles)).order_by(WebhookEvent.created_at)
    return list((await session.execute(stmt)).scalars())


async def deliveries_of(session: AsyncSession, event_ids: list[uuid.UUID]) -> list[WebhookDelivery]:
    if not event_ids:
        return []
    return list((await session.execute(select(WebhookDelivery).where(WebhookDelivery.event_id.in_(event_ids)))).scalars())


# --- erasing -------------------------------------------------------------------------------------


async def erase_contact_row(session: AsyncSession, contact_id: uuid.UUID, now: datetime) -> None:
    """The contact row stays (its messages keep counting), with nothing of the person: no
    number, BSUID, username, name, source or attributes; never sent to again."""
    await session.execute(update(Contact).where(Contact.id == contact_id).values(
        phone=None, user_id=None, parent_user_id=None, username=None, name="", source=None, attributes={}, opted_in=False, blocked=True,
        marketing_consent=False, consent_at=None, erased_at=now, updated_at=now))
    await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact_id))
    await session.execute(delete(FormerNumber).where(FormerNumber.contact_id == contact_id))
    await session.execute(delete(ContactConsent).where(ContactConsent.contact_id == contact_id))


async def erase_messages(session: AsyncSession, contact_id: uuid.UUID, now: datetime) -> int:
    """Messages stay as counts (status, times, campaign, template, category, error code): the
    destination, the parameters, Meta's ids and error details go; a queued one is not sent."""
    ids = [r for r in (await session.execute(select(Message.id).where(Message.contact_id == contact_id))).scalars()]
    await session.execute(update(Message).where(Message.contact_id == contact_id, Message.status == "queued").values(
        status="failed", failed_at=now, error_title="contact erased before sending", locked_until=None, locked_by=None, held_reason=None))
    for message_id in ids:  # payload keeps the template, language and category of the message
        payload = (await session.execute(select(Message.payload).where(Message.id == message_id))).scalar() or {}
        await session.execute(update(Message).where(Message.id == message_id).values(
            destination=ERASED, wamid=None, error_detail=None,
            payload={k: payload.get(k) for k in ("template", "language", "category") if k in payload}))
    for start in range(0, len(ids), 500):
        await session.execute(update(MessageEvent).where(MessageEvent.message_id.in_(ids[start : start + 500])).values(detail=None))
    return len(ids)


async def erase_inbound(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID) -> tuple[int, int, int]:
    """Replies (text, media, content), their cached media files, and reactions: deleted (a
    message's replied_at stays, so the replied counts stay)."""
    media_ids = [m for m in (await session.execute(select(Reply.media_id).where(Reply.contact_id == contact_id, Reply.media_id.is_not(None)))).scalars()]
    files = 0
    if media_ids:
        files = (await session.execute(delete(InboundMedia).where(InboundMedia.project_id == project_id, InboundMedia.media_id.in_(media_ids)))).rowcount
    replies_gone = (await session.execute(delete(Reply).where(Reply.contact_id == contact_id))).rowcount
    reactions_gone = (await session.execute(delete(MessageReaction).where(MessageReaction.contact_id == contact_id))).rowcount
    return int(replies_gone or 0), int(reactions_gone or 0), int(files or 0)


async def erase_links(session: AsyncSession, contact_id: uuid.UUID) -> None:
    """Tracked links lose their destination (it may carry the person's values); clicks and
    conversions stay as counts, with no order id."""
    await session.execute(update(TrackedLink).where(TrackedLink.contact_id == contact_id).values(destination=""))
    await session.execute(update(Conversion).where(Conversion.contact_id == contact_id).values(order_id=None))


async def erase_broadcast_rows(session: AsyncSession, contact_id: uuid.UUID) -> None:
    await session.execute(update(BroadcastRecipient).where(BroadcastRecipient.contact_id == contact_id).values(values={}))


async def redact_webhook_events(session: AsyncSession, project_id: uuid.UUID, needles: list[str], contact_id: uuid.UUID) -> int:
    """Customer-webhook events about the person: payload replaced, pending deliveries
    cancelled, the receivers' response excerpts dropped."""
    ids = [e for e in (await session.execute(select(WebhookEvent.id).where(
        WebhookEvent.project_id == project_id, _mentions(WebhookEvent.data, needles)))).scalars()]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        await session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(chunk)).values(data={"erased": True, "contact_id": str(contact_id)}))
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.event_id.in_(chunk), WebhookDelivery.status == "pending").values(
            status="cancelled", last_error="contact erased"))
        deliveries = select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(chunk))
        await session.execute(update(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)).values(response_excerpt=None))
    return len(ids)


async def redact_inbound_events(session: AsyncSession, needles: list[str], now: datetime) -> int:
    """Meta's stored webhook bodies that carry the person (number, BSUID, profile name, text)."""
    stmt = update(InboundEvent).where(_mentions(InboundEvent.body, needles)).values(
        body={"erased": True}, note=None, processed_at=now)
    return int((await session.execute(stmt)).rowcount or 0)


async def forget_idempotent_responses(session: AsyncSession, needles: list[str]) -> int:
    """Stored responses (replayed for 24 h) that contain the person: forgotten."""
    stmt = delete(IdempotencyKey).where(IdempotencyKey.response_body.is_not(None), _mentions(IdempotencyKey.response_body, needles))
    return int((await session.execute(stmt)).rowcount or 0)


async def imports_mentioning(session: AsyncSession, project_id: uuid.UUID, needles: list[str]) -> list[ContactImport]:
    conditions = [cast(ContactImport.content, String).contains(n, autoescape=True) for n in needles]
    conditions += [cast(ContactImport.errors, Text).contains(n, autoescape=True) for n in needles]
    stmt = select(ContactImport).where(ContactImport.project_id == project_id, or_(*conditions))
    return list((await session.execute(stmt)).scalars())
