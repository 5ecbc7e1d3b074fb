"""The customer-webhook events of wacast's changes, built and recorded in the change's transaction.

Each function first asks whether any subscription of the project wants the topic, so a
project without webhooks pays one indexed lookup and writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.messages import Message
from wacast.webhooks import outbox, repository


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


async def _wants(session: AsyncSession, project_id: uuid.UUID, topic: str) -> bool:
    return bool(await outbox._subscribers(session, project_id, topic))


async def wants(session: AsyncSession, project_id: uuid.UUID, topic: str) -> bool:
    """Whether any subscription of the project wants the topic (build the event only then)."""
    return await _wants(session, project_id, topic)


async def emit_if_wanted(session: AsyncSession, project_id: uuid.UUID, topic: str, data: dict[str, Any]) -> bool:
    """Record one event of `topic` for the project's subscriptions that want it; False (and
    nothing written) when none does."""
    if not await _wants(session, project_id, topic):
        return False
    await outbox.emit(session, project_id, topic, data)
    return True


def contact_data(row: Any) -> dict[str, Any]:
    """A contact as every customer webhook carries it. `user_id` (Meta's BSUID) and `username`
    identify a contact who writes without a phone number (docs/contacts-without-phone.md);
    a row read without those columns gives null."""
    return {
        "id": str(row.id), "phone_number": row.phone, "name": row.name, "source": row.source,
        "opted_in": row.opted_in, "blocked": row.blocked, "attributes": row.attributes or {},
        "user_id": getattr(row, "user_id", None), "username": getattr(row, "username", None),
    }


def _message_data(message: Message, campaign_name: str | None, status: str, at: datetime, error: dict | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "submitted_message_id": str(message.id),
        "status": status,
        "message": {
            "messageId": str(message.id),
            "submitted_message_id": str(message.id),
            "wamid": message.wamid,
            "status": status,
            "phone_number": message.destination,
            "contact_id": str(message.contact_id),
            "campaign_name": campaign_name,
            "template_name": (message.payload or {}).get("template"),
            f"{status}_at": _iso(at),
        },
    }
    if status == "failed":
        err = error or {}
        data["message"]["failureResponse"] = {"code": err.get("code", message.error_code), "reason": err.get("title") or message.error_title}
    return data


async def message_statuses(session: AsyncSession, changes: list[tuple[uuid.UUID, uuid.UUID, str, datetime, dict | None]]) -> None:
    """message.status.updated for a batch of applied status reports, each (project_id,
    message_id, status, at, error) in order: one read of the messages for all of them."""
    topic = "message.status.updated"
    wanting = {p for p in {c[0] for c in changes} if await _wants(session, p, topic)}
    if not wanting:
        return
    rows = {m.id: (m, name) for m, name in await repository.messages_with_campaign_names(
        session, list({c[1] for c in changes if c[0] in wanting}), wanting)}
    for project_id in wanting:
        items = [_message_data(*rows[mid], status, at, error) for p, mid, status, at, error in changes if p == project_id and mid in rows]
        await outbox.emit_many(session, project_id, topic, items)


async def messages_status_many(session: AsyncSession, message_ids: list[uuid.UUID], status: str, at: datetime, error: dict | None = None) -> None:
    """message.status.updated for a batch (the dispatcher's sent/failed): one lookup when no
    project has a subscription to the topic."""
    if not message_ids:
        return

    wanted = await repository.active_topics_by_project(session)
    projects = {p for p, topics in wanted if "message.status.updated" in (topics or []) or "*" in (topics or [])}
    if not projects:
        return
    rows = await repository.messages_with_campaign_names(session, message_ids, projects)
    for project_id in {m.project_id for m, _ in rows}:
        await outbox.emit_many(session, project_id, "message.status.updated", [
            _message_data(m, name, status, at, error) for m, name in rows if m.project_id == project_id
        ], now=at)


async def reply(
    session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, *, wamid: str, kind: str, text: str | None,
    payload: str | None, at: datetime, answered: uuid.UUID | None, content: dict | None = None, context_wamid: str | None = None,
    referral: dict | None = None,
) -> None:
    """message.sender.user (AiSensy's shape, with the typed `content` added) and
    message.received (wacast's: the typed content first): a person wrote (with the
    submitted_message_id it answers, when known)."""
    legacy = await _wants(session, project_id, "message.sender.user")
    received = await _wants(session, project_id, "message.received")
    if not (legacy or received):
        return
    contact = await repository.contact(session, contact_id=contact_id)
    answered_id = str(answered) if answered else None
    if legacy:
        await outbox.emit(session, project_id, "message.sender.user", {
            "submitted_message_id": answered_id,
            "message": {
                "messageId": wamid, "type": kind, "text": text, "payload": payload, "received_at": _iso(at),
                "phone_number": contact.phone if contact else None, "name": contact.name if contact else None,
                "context": {"submitted_message_id": answered_id}, "content": content or {},
            },
            "contact": contact_data(contact) if contact else None,
        })
    if received:
        await outbox.emit(session, project_id, "message.received", {
            "submitted_message_id": answered_id,
            "message": {
                "wamid": wamid, "type": kind, "text": text, "payload": payload, "content": content or {}, "received_at": _iso(at),
                "context": {"wamid": context_wamid, "submitted_message_id": answered_id}, "referral": referral,
            },
            "contact": contact_data(contact) if contact else None,
        })


async def opted_out(session: AsyncSession, project_id: uuid.UUID, *, contact_id: uuid.UUID | None = None, phone: str | None = None, reason: str) -> None:
    """contact.opted_out: by keyword, Meta's marketing preference, error 131050 or the API."""
    if not await _wants(session, project_id, "contact.opted_out"):
        return
    contact = await repository.contact(session, project_id=project_id, contact_id=contact_id, phone=phone)
    if contact is not None:
        await outbox.emit(session, project_id, "contact.opted_out", {"contact": contact_data(contact), "reason": reason})


async def contacts_created(session: AsyncSession, project_id: uuid.UUID, rows: list[dict[str, Any]], *, via: str) -> None:
    """contact.created for contacts the campaign API (or an inbound message) created."""
    if not rows or not await _wants(session, project_id, "contact.created"):
        return
    await outbox.emit_many(session, project_id, "contact.created", [
        {"contact": {
            "id": str(r["id"]), "phone_number": r["phone"], "name": r.get("name") or "", "source": r.get("source"),
            "opted_in": r.get("opted_in", True), "blocked": r.get("blocked", False), "attributes": r.get("attributes") or {},
        }, "via": via}
        for r in rows
    ])


async def campaign_status(session: AsyncSession, campaign: Any, previous: str | None, reason: str | None = None) -> None:
    """campaign.status.updated: the campaigns services call it where a status changes."""
    if previous == campaign.status or not await _wants(session, campaign.project_id, "campaign.status.updated"):
        return
    await outbox.emit(session, campaign.project_id, "campaign.status.updated", _campaign_data(campaign, previous, reason))


def _campaign_data(campaign: Any, previous: str | None, reason: str | None) -> dict[str, Any]:
    return {
        "campaign": {"id": str(campaign.id), "name": campaign.name, "type": campaign.type, "status": str(campaign.status),
                     "previous_status": str(previous) if previous is not None else None, "reason": reason},
    }


async def template_status(session: AsyncSession, project_id: uuid.UUID, template: Any, previous: str | None) -> None:
    """template.status.updated: Meta approved, rejected, paused, flagged or disabled a template.
    `event` is Meta's own (REINSTATED while the status is APPROVED); a rejection carries Meta's
    reason and recommendation (`rejection`), other events their details in words (`detail`)."""
    if previous == template.status or not await _wants(session, project_id, "template.status.updated"):
        return
    info = getattr(template, "rejection_info", None)
    info = info if isinstance(info, dict) else {}
    rejection = None
    if template.status == "REJECTED":
        rejection = {"reason": template.rejected_reason, "details": info.get("reason"), "recommendation": info.get("recommendation")}
    await outbox.emit(session, project_id, "template.status.updated", {
        "template": {"id": str(template.id), "name": template.name, "language": template.language, "status": template.status,
                     "previous_status": previous, "reason": template.rejected_reason, "quality": template.quality,
                     "category": template.category, "event": getattr(template, "status_event", None),
                     "detail": getattr(template, "status_detail", None), "rejection": rejection},
    })
