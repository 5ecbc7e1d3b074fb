"""What people send to the business number: the `messages` and `user_preferences` of a
webhook's `messages` value (its `statuses` are whatsapp/statuses.py's).

Each inbound message is parsed into its typed content (meta/inbound.py) and stored on its
contact's timeline as a reply with that content (and Meta's media id for a file). A reply
answers the message it quotes (or the contact's latest) and marks it replied; it may opt the
contact out (a keyword typed or tapped, a template button's payload, a reply button's or list
row's id in the project's opt-out payloads); it is passed on as the customer webhooks
`message.received` (wacast's shape: the typed content) and `message.sender.user` (AiSensy's
shape, with the content added).

Not every inbound message is a reply:
- a reaction is kept on the message it reacts to (one per person and message: a later emoji
  replaces it, an empty one takes it back) and passed on as `message.reaction`; it marks
  nothing replied and puts nobody in the REPLIED audience;
- a `system` notice that inbound_identity.py does not apply, and `request_welcome` (the chat
  opened), are kept on the timeline and passed on, but answer no message.
An `unsupported` message (131051) is a reply: the person did write, WhatsApp did not pass it on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import consent as consents
from wacast.contacts import repository as contacts_repo
from wacast.contacts import service as contacts_service
from wacast.messages import repository as messages_repo
from wacast.messages import repository_replies as replies_repo
from wacast.meta.inbound import Inbound, parse_message
from wacast.models.projects import Project
from wacast.webhooks import events as hooks
from wacast.webhooks import repository as hooks_repo
from wacast.whatsapp.inbound_identity import Sender, apply_system_message, sender_contact
from wacast.whatsapp.statuses import timestamp

# A keyword counts when it is written or tapped, not when it is in a caption, a file name or a card.
KEYWORD_KINDS = ("text", "button", "interactive")


async def apply_messages_value(session: AsyncSession, project: Project, value: dict, notes: list[str]) -> None:
    """The inbound messages and marketing preferences of one `messages` value."""
    messages = value.get("messages") if isinstance(value, dict) else None
    for message in messages if isinstance(messages, list) else []:
        await apply_inbound_message(session, project, message, value, notes)
    preferences = value.get("user_preferences") if isinstance(value, dict) else None
    for preference in preferences if isinstance(preferences, list) else []:
        await apply_preference(session, project, preference, notes)


async def apply_inbound_message(session: AsyncSession, project: Project, message: dict, value: dict, notes: list[str]) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("id"), str) or not message["id"].strip():
        notes.append("inbound message without id")
        return
    sender = await sender_contact(session, project, message, value, notes)
    if sender is None:
        return
    inbound = parse_message(message)
    wamid = message["id"][:200]
    at = timestamp(message.get("timestamp"))
    if inbound.is_reaction:
        await _reaction(session, project, sender, inbound, wamid, at, notes)
        return
    if inbound.kind == "system" and await apply_system_message(session, project, sender, message, notes):
        return
    # What it answers: the quoted message, else the contact's latest. A notice (a system message
    # wacast did not apply, the chat opened) is kept on the timeline but answers nothing.
    answered = None
    if inbound.is_reply:
        answered = await replies_repo.answered_message(session, project.id, sender.contact_id, inbound.context_wamid)
    content = inbound.stored_content()
    inserted = await messages_repo.insert_reply(
        session, project_id=project.id, contact_id=sender.contact_id, wamid=wamid, message_id=answered,
        kind=inbound.stored_type, text=inbound.text, payload=inbound.payload, at=at, content=content, media_id=inbound.media_id,
    )
    if not inserted:
        return  # a duplicate delivery of the same inbound message
    if answered:
        await messages_repo.mark_replied(session, answered, at)
    await hooks.reply(session, project.id, sender.contact_id, wamid=wamid, kind=inbound.stored_type, text=inbound.text,
                      payload=inbound.payload, at=at, answered=answered, content=content, context_wamid=inbound.context_wamid,
                      referral=inbound.referral.content() if inbound.referral else None)
    if _opts_out(project, inbound):
        await contacts_repo.set_opted_in_by_id(session, project.id, sender.contact_id, False)
        await contacts_service.withdraw_consent(session, project.id, sender.contact_id, source="whatsapp opt-out",
                                                evidence=f"opt-out reply {(inbound.payload or inbound.text or '')[:200]!r}, message {wamid}")
        await hooks.opted_out(session, project.id, contact_id=sender.contact_id, reason="keyword")
        notes.append(f"{sender.phone or sender.contact_id} opted out")
    elif _opts_in(project, inbound):  # the double opt-in: the project's consent button
        if await consents.double_opt_in(session, project.id, sender.contact_id, payload=(inbound.payload or inbound.text or "")[:256],
                                        wamid=wamid, at=at):
            notes.append(f"{sender.phone or sender.contact_id} gave marketing consent")


def _opts_in(project: Project, inbound: Inbound) -> bool:
    """A quick reply (a template button's payload, a reply button's or list row's id, or the
    tapped button's text) among the project's consent payloads."""
    payloads = [p for p in project.consent_payloads or [] if isinstance(p, str) and p]
    if not payloads:
        return False
    if inbound.payload and inbound.payload in payloads:
        return True
    return inbound.kind in ("button", "interactive") and bool(inbound.text) and inbound.text.strip() in payloads


def _opts_out(project: Project, inbound: Inbound) -> bool:
    """A keyword typed or tapped (a text, a button's or a choice's title), or a payload (a
    template button's, a reply button's or a list row's id) among the project's opt-out payloads."""
    keywords = {k.strip().upper() for k in project.opt_out_keywords or [] if isinstance(k, str)}
    text, payload = inbound.text, inbound.payload
    if inbound.kind in KEYWORD_KINDS and text and text.strip().upper() in keywords:
        return True
    return bool(payload) and payload in (project.opt_out_payloads or [])


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
    if not changed:
        return  # Meta's retry, or older than the reaction kept
    if not await hooks.wants(session, project.id, "message.reaction"):
        return
    contact = await hooks_repo.contact(session, contact_id=sender.contact_id)
    await hooks.emit_if_wanted(session, project.id, "message.reaction", {
        "submitted_message_id": str(message_id) if message_id else None,
        "reaction": {"wamid": wamid, "message_wamid": inbound.reacted_wamid, "emoji": inbound.emoji,
                     "removed": inbound.emoji is None, "reacted_at": at.isoformat().replace("+00:00", "Z")},
        "contact": hooks.contact_data(contact) if contact else {"id": str(sender.contact_id), "phone_number": sender.phone, "name": sender.name},
    })


async def apply_preference(session: AsyncSession, project: Project, preference: dict, notes: list[str]) -> None:
    """Meta's marketing preference of a person ("stop" / "resume" marketing messages)."""
    if not isinstance(preference, dict) or preference.get("category") != "marketing_messages":
        return
    value = preference.get("value")
    wa_id = preference.get("wa_id")
    if value not in ("stop", "resume") or not isinstance(wa_id, (str, int)) or isinstance(wa_id, bool):
        return
    digits = str(wa_id).lstrip("+")
    if not (digits.isascii() and digits.isdigit()) or not 6 <= len(digits) <= 15:
        notes.append("marketing preference without a valid wa_id")
        return
    phone = "+" + digits
    contact_id = await contacts_repo.set_opted_in(session, project.id, phone, value == "resume")
    if contact_id is None:
        notes.append(f"marketing preference for unknown contact {phone}")
    elif value == "stop":
        await contacts_service.withdraw_consent(session, project.id, contact_id, source="whatsapp marketing preference",
                                                evidence="user_preferences: marketing_messages stop")
        await hooks.opted_out(session, project.id, contact_id=contact_id, reason="marketing_preference")
