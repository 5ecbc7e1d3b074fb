"""What people send to the business number: the `messages` and `user_preferences` of a
webhook's `messages` value (its `statuses` are whatsapp/statuses.py's).

Each inbound message is parsed into its typed content (meta/inbound.py), stored on its
contact's timeline as a reply, answers the message it quotes (or the contact's latest), may opt
the contact out (a keyword, a button payload, a reply button's or list row's id), and is passed
on as the customer webhooks `message.received` and `message.sender.user`. A reaction is not a
reply: it is kept on the message it reacts to and passed on as `message.reaction`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as contacts_repo
from wacast.messages import repository as messages_repo
from wacast.messages import repository_replies as replies_repo
from wacast.meta.inbound import Inbound, parse_message
from wacast.models.projects import Project
from wacast.webhooks import events as hooks
from wacast.whatsapp.inbound_identity import Sender, apply_system_message, sender_contact
from wacast.whatsapp.statuses import timestamp


async def apply_messages_value(session: AsyncSession, project: Project, value: dict, notes: list[str]) -> None:
    """The inbound messages and marketing preferences of one `messages` value."""
    for message in value.get("messages") or []:
        await apply_inbound_message(session, project, message, value, notes)
    for preference in value.get("user_preferences") or []:
        await apply_preference(session, project, preference, notes)


async def apply_inbound_message(session: AsyncSession, project: Project, message: dict, value: dict, notes: list[str]) -> None:
    if not isinstance(message, dict) or not message.get("id"):
        notes.append("inbound message without id")
        return
    sender = await sender_contact(session, project, message, value, notes)
    if sender is None:
        return
    inbound = parse_message(message)
    wamid = str(message["id"])[:200]
    at = timestamp(message.get("timestamp"))
    if inbound.is_reaction:
        await _reaction(session, project, sender, inbound, wamid, at, notes)
        return
    if inbound.kind == "system" and await apply_system_message(session, project, sender, message, notes):
        return
    # What it answers: the quoted message, else the contact's latest. A system message (a
    # number change wacast did not apply) is kept on the timeline but answers nothing.
    answered = None
    if inbound.kind != "system":
        answered = await messages_repo.latest_for_contact(session, sender.contact_id, inbound.context_wamid)
    content = {**inbound.content, **({"referral": inbound.referral} if inbound.referral else {})}
    inserted = await messages_repo.insert_reply(
        session, project_id=project.id, contact_id=sender.contact_id, wamid=wamid, message_id=answered,
        kind=inbound.kind if inbound.kind != "unknown" else inbound.meta_type, text=inbound.text, payload=inbound.payload, at=at,
        content=content, media_id=inbound.media_id,
    )
    if not inserted:
        return  # a duplicate delivery of the same inbound message
    if answered:
        await messages_repo.mark_replied(session, answered, at)
    await hooks.reply(session, project.id, sender.contact_id, wamid=wamid, kind=inbound.kind, text=inbound.text, payload=inbound.payload,
                      at=at, answered=answered, content=inbound.content, context_wamid=inbound.context_wamid, referral=inbound.referral)
    keywords = {k.strip().upper() for k in project.opt_out_keywords or []}
    text, payload = inbound.text, inbound.payload
    # A keyword counts as written or tapped (a text, a button's or a choice's title), not in a caption or a shared card.
    by_keyword = inbound.kind in ("text", "button", "interactive") and bool(text) and text.strip().upper() in keywords
    if by_keyword or (payload and payload in (project.opt_out_payloads or [])):  # a STOP button, a reply button or list row
        await contacts_repo.set_opted_in_by_id(session, project.id, sender.contact_id, False)
        await hooks.opted_out(session, project.id, contact_id=sender.contact_id, reason="keyword")
        notes.append(f"{sender.phone or sender.contact_id} opted out")


async def _reaction(session: AsyncSession, project: Project, sender: Sender, inbound: Inbound, wamid: str, at: datetime,
                    notes: list[str]) -> None:
    """A reaction is not a reply: it marks nothing replied and stays out of the REPLIED
    audience; it is kept on the message it reacts to (the latest emoji, or none when removed)."""
    if not inbound.reacted_wamid:
        notes.append("reaction without the message it reacts to")
        return
    message_id = await replies_repo.message_by_wamid(session, project.id, inbound.reacted_wamid)
    changed = await replies_repo.set_reaction(session, project_id=project.id, contact_id=sender.contact_id, message_id=message_id,
                                              reacted_wamid=inbound.reacted_wamid, emoji=inbound.emoji, wamid=wamid, at=at)
    if changed:
        await hooks.emit_if_wanted(session, project.id, "message.reaction", {
            "submitted_message_id": str(message_id) if message_id else None,
            "reaction": {"wamid": wamid, "message_wamid": inbound.reacted_wamid, "emoji": inbound.emoji,
                         "removed": inbound.emoji is None, "reacted_at": at.isoformat().replace("+00:00", "Z")},
            "contact": {"id": str(sender.contact_id), "phone_number": sender.phone, "name": sender.name},
        })


async def apply_preference(session: AsyncSession, project: Project, preference: dict, notes: list[str]) -> None:
    """Meta's marketing preference of a person ("stop" / "resume" marketing messages)."""
    if not isinstance(preference, dict) or preference.get("category") != "marketing_messages":
        return
    value = preference.get("value")
    if value not in ("stop", "resume") or not preference.get("wa_id"):
        return
    phone = "+" + str(preference["wa_id"]).lstrip("+")
    contact_id = await contacts_repo.set_opted_in(session, project.id, phone, value == "resume")
    if contact_id is None:
        notes.append(f"marketing preference for unknown contact {phone}")
    elif value == "stop":
        await hooks.opted_out(session, project.id, contact_id=contact_id, reason="marketing_preference")
