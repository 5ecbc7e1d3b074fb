"""What people send to the business number: the `messages` and `user_preferences` of a
webhook's `messages` value (its `statuses` are whatsapp/statuses.py's).

Each inbound message is stored on its contact's timeline as a reply, answers the message it
quotes (or the contact's latest), may opt the contact out (a keyword, a button payload), and
is passed on as a customer webhook.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as contacts_repo
from wacast.messages import repository as messages_repo
from wacast.models.projects import Project
from wacast.webhooks import events as hooks
from wacast.whatsapp.inbound_identity import apply_system_message, sender_contact
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
    kind = str(message.get("type", "unknown"))
    if kind == "system" and await apply_system_message(session, project, sender, message, notes):
        return
    text = payload = None
    if kind == "text":
        text = (message.get("text") or {}).get("body")
    elif kind == "button":
        payload = (message.get("button") or {}).get("payload")
        text = (message.get("button") or {}).get("text")
    elif kind == "interactive":
        reply = (message.get("interactive") or {}).get("button_reply") or {}
        payload, text = reply.get("id"), reply.get("title")
    context_wamid = (message.get("context") or {}).get("id")
    answered = await messages_repo.latest_for_contact(session, sender.contact_id, context_wamid)
    at = timestamp(message.get("timestamp"))
    inserted = await messages_repo.insert_reply(
        session, project_id=project.id, contact_id=sender.contact_id, wamid=str(message["id"]), message_id=answered,
        kind=kind, text=text, payload=payload, at=at,
    )
    if not inserted:
        return  # a duplicate delivery of the same inbound message
    if answered:
        await messages_repo.mark_replied(session, answered, at)
    await hooks.reply(session, project.id, sender.contact_id, wamid=str(message["id"]), kind=kind, text=text, payload=payload, at=at, answered=answered)
    keywords = {k.strip().upper() for k in project.opt_out_keywords or []}
    if (text and text.strip().upper() in keywords) or (payload and payload in (project.opt_out_payloads or [])):
        await contacts_repo.set_opted_in_by_id(session, project.id, sender.contact_id, False)
        await hooks.opted_out(session, project.id, contact_id=sender.contact_id, reason="keyword")
        notes.append(f"{sender.phone or sender.contact_id} opted out")


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
