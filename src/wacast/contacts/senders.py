"""The contact of a person who wrote in: found by phone number or by business-scoped user id
(BSUID), made when new, its identifiers filled in as they become known (contacts/identity.py
decides; this runs it). Flushes, never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as repo
from wacast.contacts.identity import Incoming, decide
from wacast.kit.clock import utcnow


@dataclass
class Identified:
    contact_id: uuid.UUID
    phone: str | None
    name: str
    created: bool
    notes: list[str] = field(default_factory=list)


async def identify(session: AsyncSession, project_id: uuid.UUID, person: Incoming, source: str) -> Identified | None:
    """The contact of `person` (None when the person has neither a phone nor a BSUID)."""
    if not person.known:
        return None
    now = utcnow()
    for _ in range(3):
        holders = await repo.holders(session, project_id, phone=person.phone, user_id=person.user_id)
        decision = decide(person, holders)
        if decision.contact_id is not None:
            target = next(h for h in holders if h.id == decision.contact_id)
            await repo.set_identity(session, target.id, decision.changes, now)
            phone = decision.changes.get("phone", target.phone)
            return Identified(target.id, phone, decision.changes.get("name", target.name) or "", False, decision.notes)
        contact_id = await repo.insert_identity(
            session, project_id, phone=person.phone, user_id=person.user_id, parent_user_id=person.parent_user_id,
            username=person.username, name=person.name, source=source, now=now,
        )
        if contact_id is not None:
            return Identified(contact_id, person.phone, person.name, True)
        # Another writer made the contact between our read and our insert: read again.
    raise RuntimeError("contact identification did not converge")
