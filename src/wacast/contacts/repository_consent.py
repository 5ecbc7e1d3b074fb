"""SQL of marketing consent (contacts/consent.py): the history, the contacts' current state,
the projects' consent settings and the counts of the audience estimate."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from wacast.kit.cache import TTLCache
from wacast.models.consent import ContactConsent
from wacast.models.contacts import Contact
from wacast.models.projects import Project

# The campaign API reads a project's requirement on every request (a change is seen within the TTL).
_required: TTLCache[bool] = TTLCache(ttl=2)


def forget_required() -> None:
    _required.clear()


async def cached_required(session: AsyncSession, project_id: uuid.UUID) -> bool:
    found = _required.get(project_id)
    if found is None:
        found = bool((await session.execute(select(Project.require_marketing_consent).where(Project.id == project_id))).scalar())
        _required.put(project_id, found)
    return found


async def record_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """History rows {project_id, contact_id, granted, method, source, evidence, given_at,
    recorded_at}, and each contact's current state (the last row of a contact wins)."""
    if not rows:
        return
    conn = await session.connection()
    await conn.execute(insert(ContactConsent), rows)
    last = {r["contact_id"]: r for r in rows}
    table = Contact.__table__
    await conn.execute(
        update(table).where(table.c.id == bindparam("b_id")).values(marketing_consent=bindparam("b_granted"), consent_at=bindparam("b_at")),
        [{"b_id": cid, "b_granted": r["granted"], "b_at": r["given_at"]} for cid, r in last.items()],
    )


async def record_one(session: AsyncSession, contact: Contact, row: dict[str, Any]) -> None:
    """One history row, and the loaded contact's current state (the ORM form of record_many)."""
    session.add(ContactConsent(**row))
    contact.marketing_consent = row["granted"]
    contact.consent_at = row["given_at"]
    await session.flush()


async def history(session: AsyncSession, contact_id: uuid.UUID) -> list[ContactConsent]:
    stmt = select(ContactConsent).where(ContactConsent.contact_id == contact_id).order_by(ContactConsent.id)
    return list((await session.execute(stmt)).scalars().all())


async def consent_of(session: AsyncSession, contact_id: uuid.UUID) -> bool:
    return bool((await session.execute(select(Contact.marketing_consent).where(Contact.id == contact_id))).scalar())


async def with_consent(session: AsyncSession, contact_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Of these contacts, those with a marketing consent."""
    if not contact_ids:
        return set()
    out: set[uuid.UUID] = set()
    for start in range(0, len(contact_ids), 500):
        stmt = select(Contact.id).where(Contact.id.in_(contact_ids[start : start + 500]), Contact.marketing_consent.is_(True))
        out.update((await session.execute(stmt)).scalars())
    return out


async def count_without_consent(session: AsyncSession, where: ColumnElement[bool], sendable: ColumnElement[bool]) -> int:
    """Of the sendable contacts `where` selects, those without a marketing consent."""
    stmt = select(func.count()).select_from(Contact).where(and_(where, sendable, Contact.marketing_consent.is_(False)))
    return int((await session.execute(stmt)).scalar_one())


async def project_settings(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def consent_at(session: AsyncSession, contact_id: uuid.UUID) -> datetime | None:
    return (await session.execute(select(Contact.consent_at).where(Contact.id == contact_id))).scalar()
