"""A person's data: everything wacast holds about one contact, exported as JSON, and its
erasure (docs/consent.md). One use case each, called by REST, the dashboard and the CLI.

Erasure removes every piece of personal data and keeps the messages as anonymous counts: the
contact row stays as an empty record (no number, BSUID, username, name, source, attributes,
tags, consent history or former numbers; `erased_at` set; never listed, found or sent to
again), so that campaign totals and analytics stay the same. Its messages keep status, times,
campaign, template and category, and lose the destination, the parameters, Meta's ids and
error details (a message still queued is failed, "contact erased before sending"). Replies,
reactions and the media files the person sent are deleted (a message's replied time stays);
tracked links lose their destination, conversions their order id; CSV audience rows their
values. Outside the contact's own rows: customer-webhook events that mention the person are
replaced by `{"erased": true}` (pending deliveries cancelled, response excerpts dropped),
Meta's stored webhook bodies that carry them are emptied, stored idempotent responses that
contain them are forgotten, and their rows are taken out of finished CSV imports.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as contacts_repo
from wacast.contacts import repository_privacy as repo
from wacast.contacts import service
from wacast.kit import phone as phones
from wacast.kit.clock import utcnow
from wacast.kit.csv import records

FINISHED_IMPORTS = ("done", "failed")


def _when(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _numbers(contact: service.ContactOut) -> list[str]:
    return [n for n in [contact.phone, *contact.former_numbers] if n]


def needles(contact: service.ContactOut) -> list[str]:
    """The texts that identify the person in stored payloads: the contact's id, each of its
    numbers as digits (as Meta writes them: no +) and national (as a CSV may), its BSUIDs."""
    out = [str(contact.id)]
    for number in _numbers(contact):
        out.append(number.lstrip("+"))
        try:
            out.append(str(phonenumbers.parse(number).national_number))
        except phonenumbers.NumberParseException:
            pass
    out += [u for u in (contact.user_id, contact.parent_user_id) if u]
    return list(dict.fromkeys(n for n in out if len(n) >= 6))


async def export_person(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> dict[str, Any]:
    """Everything wacast holds about one contact (GET /api/v1/contacts/{id}/export)."""
    contact = await service.get(session, project_id, ref)
    messages = await repo.messages(session, project_id, contact.id)
    events: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for ev in await repo.message_events(session, [m.Message.id for m in messages]):
        events.setdefault(ev.message_id, []).append({"kind": ev.kind, "at": _when(ev.occurred_at), "detail": ev.detail})
    replies = await repo.replies(session, contact.id)
    hooks = await repo.webhook_events(session, project_id, needles(contact))
    deliveries: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for d in await repo.deliveries_of(session, [e.id for e in hooks]):
        deliveries.setdefault(d.event_id, []).append({"status": d.status, "attempts": d.attempts, "delivered_at": _when(d.delivered_at)})
    return {
        "exported_at": _when(utcnow()),
        "contact": {**service.contact_event(contact)["contact"], "parent_user_id": contact.parent_user_id, "updated_at": _when(contact.updated_at),
                    "marketing_consent": contact.marketing_consent, "consent_at": _when(contact.consent_at)},
        "attributes": contact.attributes,
        "tags": contact.tags,
        "former_numbers": contact.former_numbers,
        "consent_history": [{"granted": c.granted, "method": c.method, "source": c.source, "evidence": c.evidence,
                             "given_at": _when(c.given_at), "recorded_at": _when(c.recorded_at)} for c in await repo.consents(session, contact.id)],
        "messages": [{
            "submitted_message_id": str(m.Message.id), "campaign": m.campaign, "destination": m.Message.destination, "status": m.Message.status,
            "wamid": m.Message.wamid, "payload": m.Message.payload, "error_code": m.Message.error_code, "error_title": m.Message.error_title,
            "error_detail": m.Message.error_detail, "pricing_category": m.Message.pricing_category, "created_at": _when(m.Message.created_at),
            "sent_at": _when(m.Message.sent_at), "delivered_at": _when(m.Message.delivered_at), "read_at": _when(m.Message.read_at),
            "failed_at": _when(m.Message.failed_at), "replied_at": _when(m.Message.replied_at), "events": events.get(m.Message.id, []),
        } for m in messages],
        "replies": [{"wamid": r.wamid, "type": r.type, "text": r.text, "payload": r.payload, "content": r.content, "media_id": r.media_id,
                     "submitted_message_id": str(r.message_id) if r.message_id else None, "received_at": _when(r.received_at)} for r in replies],
        "reactions": [{"emoji": r.emoji, "message_wamid": r.reacted_wamid, "submitted_message_id": str(r.message_id) if r.message_id else None,
                       "wamid": r.wamid, "reacted_at": _when(r.reacted_at)} for r in await repo.reactions(session, contact.id)],
        "media": [{"media_id": m.media_id, "mime_type": m.mime_type, "sha256": m.sha256, "size": m.size, "fetched_at": _when(m.fetched_at)}
                  for m in await repo.media(session, project_id, [r.media_id for r in replies if r.media_id])],
        "links": [{"token": t.token, "destination": t.destination, "submitted_message_id": str(t.message_id) if t.message_id else None,
                   "button_index": t.button_index, "created_at": _when(t.created_at)} for t in await repo.tracked_links(session, contact.id)],
        "clicks": [{"token": c.token, "clicked_at": _when(c.clicked_at), "client_class": c.client_class, "counted": c.counted,
                    "submitted_message_id": str(c.message_id) if c.message_id else None} for c in await repo.clicks(session, contact.id)],
        "conversions": [{"goal": c.goal, "value": str(c.value) if c.value is not None else None, "currency": c.currency, "order_id": c.order_id,
                         "touch": c.touch, "submitted_message_id": str(c.message_id) if c.message_id else None,
                         "occurred_at": _when(c.occurred_at)} for c in await repo.conversions(session, contact.id)],
        "broadcast_audiences": [{"campaign_id": str(b.campaign_id), "values": b.values} for b in await repo.broadcast_rows(session, contact.id)],
        "webhooks": [{"id": str(e.id), "topic": e.topic, "created_at": _when(e.created_at), "data": e.data,
                      "deliveries": deliveries.get(e.id, [])} for e in hooks],
    }


def _without_rows(content: str, numbers: set[str], country: str) -> tuple[str, int]:
    """A CSV import's file without the rows whose phone cell is one of `numbers`."""
    found = list(records(content))
    if not found:
        return content, 0
    header = [h.strip().lower().replace(" ", "_") for h in found[0].cells]
    from_import = ("phone", "phone_number", "phonenumber", "mobile", "number", "whatsapp", "whatsapp_number", "destination")
    column = next((i for i, h in enumerate(header) if h in from_import), None)
    kept, dropped = [found[0].cells], 0
    for record in found[1:]:
        cell = record.cells[column] if column is not None and column < len(record.cells) else ""
        try:
            match = phones.normalize(cell, country) in numbers
        except phones.InvalidNumber:
            match = False
        if match or any(n.lstrip("+") in "".join(ch for ch in " ".join(record.cells) if ch.isdigit()) for n in numbers):
            dropped += 1
        else:
            kept.append(record.cells)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    return out.getvalue(), dropped


async def erase_person(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> dict[str, Any]:
    """Erase a contact's personal data, keeping its messages as anonymous counts
    (POST /api/v1/contacts/{id}/erase). Returns what was done, in counts."""
    contact = await service.get(session, project_id, ref)
    now = utcnow()
    found = needles(contact)
    numbers = set(_numbers(contact))
    country = await contacts_repo.default_country(session, project_id)
    imports = 0
    for job in await repo.imports_mentioning(session, project_id, found):
        if job.status not in FINISHED_IMPORTS:
            continue  # a running import reads its file by position (docs/consent.md)
        job.content, dropped = _without_rows(job.content or "", numbers, country)
        job.errors = [e for e in job.errors or [] if not any(n in str(e.get("phone", "")) for n in found)]
        imports += 1
    replies, reactions, media = await repo.erase_inbound(session, project_id, contact.id)
    messages = await repo.erase_messages(session, contact.id, now)
    await repo.erase_links(session, contact.id)
    await repo.erase_broadcast_rows(session, contact.id)
    webhooks = await repo.redact_webhook_events(session, project_id, found, contact.id)
    inbound = await repo.redact_inbound_events(session, found, now)
    idempotency = await repo.forget_idempotent_responses(session, found)
    await repo.erase_contact_row(session, contact.id, now)
    await session.flush()
    return {"id": str(contact.id), "erased_at": _when(now), "messages_kept": messages, "replies_deleted": replies,
            "reactions_deleted": reactions, "media_deleted": media, "webhook_events_redacted": webhooks,
            "meta_events_redacted": inbound, "idempotent_responses_forgotten": idempotency, "imports_cleaned": imports}
