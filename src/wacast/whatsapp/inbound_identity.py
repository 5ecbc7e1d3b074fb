"""Who wrote: the contact an inbound message comes from, and what a system message about the
person (a changed number) does to that contact.

A sender is known by the phone number in `from` (Meta's `wa_id`), by Meta's business-scoped
user id (BSUID: `from_user_id`, `contacts[].user_id`), or both; people who adopt a WhatsApp
username may write with no phone number at all. contacts/identity.py reads the sender from
Meta's (untrusted) body and decides; contacts/senders.py finds or makes the contact.

A number change (`system.type == "user_changed_number"`) moves the contact to its new number
with everything it has; its old number becomes a former number, refused by the campaign API
(PHONE_NUMBER_CHANGED) and skipped by broadcasts (`number_changed`). When the new number is
already another contact, both are kept: the old record keeps its history, gives up its number
(and its BSUID, which Meta regenerates with a new number), and its tags, attributes (where the
other has none) and opt-out or block pass to the contact at the new number. Nothing else is
merged on a notice alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import identity
from wacast.contacts import repository as contacts_repo
from wacast.contacts import senders
from wacast.kit.clock import utcnow
from wacast.models.projects import Project
from wacast.webhooks import events as hooks
from wacast.whatsapp.statuses import timestamp

SOURCE = "WhatsApp inbound"
MAX_NOTICE = 500


@dataclass(frozen=True)
class Sender:
    """The contact an inbound message belongs to."""

    contact_id: uuid.UUID
    phone: str | None  # E.164, or None for a person known only by BSUID / username
    name: str
    created: bool  # the message made the contact


async def _from_former_number(session: AsyncSession, project: Project, person: identity.Incoming, at: datetime,
                              notes: list[str]) -> Sender | None:
    """A message from a number that changed: the moved contact's when Meta dated it no later
    than the change (a late delivery, Meta's retry of the notice), else None, and the number is
    released: someone new has it now."""
    former = await contacts_repo.former_number(session, project.id, person.phone) if person.phone else None
    if former is None:
        return None
    if at <= former.changed_at:
        moved = await contacts_repo.fresh(session, former.contact_id)
        if moved is not None:
            return Sender(moved.id, moved.phone, moved.name, False)
    await contacts_repo.release_former_number(session, project.id, former.phone)
    notes.append(f"{former.phone} (a former number, changed to {former.new_phone}) writes again: someone new has it")
    return None


async def sender_contact(session: AsyncSession, project: Project, message: dict, value: dict, notes: list[str]) -> Sender | None:
    """The contact of an inbound message, made when the person is new (with a
    `contact.created` customer webhook); None, with a note, when the sender cannot be told
    (neither a phone number nor a BSUID)."""
    person = identity.incoming(message, value if isinstance(value, dict) else {})
    if not person.known:
        notes.append("inbound message without sender")
        return None
    moved = await _from_former_number(session, project, person, timestamp(message.get("timestamp")), notes)
    if moved is not None:
        return moved
    found = await senders.identify(session, project.id, person, SOURCE)
    if found is None:  # not reached: a known person always has a contact
        notes.append("inbound message without sender")
        return None
    notes.extend(found.notes)
    if found.created:  # customer webhooks: a stranger wrote in and became a contact
        await hooks.contacts_created(session, project.id, [{
            "id": found.contact_id, "phone": found.phone, "name": found.name, "source": SOURCE,
        }], via="inbound")
    return Sender(found.contact_id, found.phone, found.name, found.created)


def _new_identity(system: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The new number (and the new BSUIDs, in newer payloads) of a number change notice."""
    return (identity.phone_of(system.get("wa_id")) or identity.phone_of(system.get("new_wa_id")),
            identity.user_id_of(system.get("user_id")), identity.user_id_of(system.get("parent_user_id")))


async def apply_system_message(session: AsyncSession, project: Project, sender: Sender, message: dict, notes: list[str]) -> bool:
    """Apply a `system` message about the person. `user_changed_number`: the contact moves to
    its new number with its history, tags, attributes and consent; the old number becomes a
    former number; `contact.number_changed` goes to the customer. True when applied (also when
    there was nothing to change): a notice is no reply and answers no message."""
    system = message.get("system") if isinstance(message.get("system"), dict) else {}
    if system.get("type") != "user_changed_number":
        return False
    new_phone, new_user_id, new_parent = _new_identity(system)
    if new_phone is None:
        notes.append(f"number change of {sender.phone or sender.contact_id} without a valid new number: nothing changed")
        return True
    old_phone = sender.phone
    if new_phone == old_phone:
        return True  # told again: nothing changes
    at = timestamp(message.get("timestamp"))  # when Meta says the number changed
    now = utcnow()
    holder = await contacts_repo.find(session, project.id, phone=new_phone)
    live = sender.contact_id
    if holder is None or holder.id == sender.contact_id:
        await contacts_repo.change_number(session, sender.contact_id, new_phone, new_user_id, new_parent, now)
    else:  # the new number is already a contact: both kept, the old one's labels pass to it
        live = holder.id
        await contacts_repo.change_number(session, sender.contact_id, None, None, None, now)
        await contacts_repo.clear_user_id(session, sender.contact_id)
        await contacts_repo.merge_labels(session, sender.contact_id, holder.id, now)
        if new_user_id or new_parent:
            await contacts_repo.change_number(session, holder.id, new_phone, new_user_id, new_parent, now)
        notes.append(f"{new_phone} was already contact {holder.id}: both kept, tags, attributes and consent carried to it")
    if old_phone:
        await contacts_repo.record_former_number(session, project.id, live, old_phone, new_phone, at)
    notes.append(f"{old_phone or sender.contact_id} changed number to {new_phone}")
    contact = await contacts_repo.fresh(session, live)
    await hooks.emit_if_wanted(session, project.id, "contact.number_changed", {
        "contact": hooks.contact_data(contact) if contact else None,
        "contact_id": str(live),
        "previous_contact_id": str(sender.contact_id) if live != sender.contact_id else None,
        "old_phone_number": old_phone,
        "new_phone_number": new_phone,
        "changed_at": at.isoformat().replace("+00:00", "Z"),
        "notice": identity.notice_text(system.get("body"), MAX_NOTICE),
    })
    return True
