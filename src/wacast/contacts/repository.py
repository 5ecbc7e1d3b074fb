"""SQL for contacts, tags and attribute definitions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.contacts import AttributeDefinition, Contact, ContactTag, Tag
from wacast.db.dialect import insert_ignore
from wacast.kit.cache import TTLCache
from wacast.kit.clock import utcnow


async def find_by_phone(session: AsyncSession, project_id: uuid.UUID, phone: str, *, lock: bool = False) -> Any:
    stmt = select(
        Contact.id, Contact.name, Contact.source, Contact.opted_in, Contact.blocked, Contact.attributes
    ).where(Contact.project_id == project_id, Contact.phone == phone)
    if lock and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def tag_ids_by_name(session: AsyncSession, project_id: uuid.UUID, names: Iterable[str]) -> dict[str, uuid.UUID]:
    names = list(dict.fromkeys(names))
    if not names:
        return {}
    rows = await session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project_id, Tag.name.in_(names)))
    return {name: tag_id for name, tag_id in rows.all()}


async def attribute_names(session: AsyncSession, project_id: uuid.UUID, names: Iterable[str]) -> set[str]:
    names = list(dict.fromkeys(names))
    if not names:
        return set()
    rows = await session.execute(
        select(AttributeDefinition.name).where(
            AttributeDefinition.project_id == project_id, AttributeDefinition.name.in_(names)
        )
    )
    return set(rows.scalars().all())


async def upsert_for_send(
    session: AsyncSession,
    project_id: uuid.UUID,
    phone: str,
    *,
    name: str,
    source: str | None,
    attributes: dict[str, str],
    now: datetime,
) -> Any:
    """Create the contact, or update an existing one (name, given attributes, first source).

    Returns the row as it is after the write (id, name, opted_in, blocked, attributes).
    """
    for _ in range(2):
        existing = await find_by_phone(session, project_id, phone, lock=True)
        if existing is not None:
            merged = {**(existing.attributes or {}), **attributes}
            values: dict[str, Any] = {"updated_at": now}
            if name and name != existing.name:
                values["name"] = name
            if source and not existing.source:
                values["source"] = source
            if merged != (existing.attributes or {}):
                values["attributes"] = merged
            await session.execute(update(Contact).where(Contact.id == existing.id).values(**values))
            return _Row(existing.id, values.get("name", existing.name), existing.opted_in, existing.blocked, merged, False)
        contact_id = uuid.uuid4()
        stmt = insert_ignore(session, Contact, ["project_id", "phone"]).values(
            id=contact_id, project_id=project_id, phone=phone, name=name, source=source, opted_in=True,
            blocked=False, attributes=attributes, created_at=now, updated_at=now,
        ).returning(Contact.id)
        if (await session.execute(stmt)).first() is not None:
            return _Row(contact_id, name, True, False, attributes, True)
        # Another request created it between our read and insert: read it again.
    raise RuntimeError("contact upsert did not converge")


class _Row:
    __slots__ = ("id", "name", "opted_in", "blocked", "attributes", "created")

    def __init__(self, id, name, opted_in, blocked, attributes, created) -> None:  # noqa: A002, ANN001
        self.id, self.name, self.opted_in, self.blocked, self.attributes, self.created = (
            id, name, opted_in, blocked, attributes, created,
        )


async def add_tags(session: AsyncSession, contact_id: uuid.UUID, tag_ids: Iterable[uuid.UUID]) -> None:
    rows = [{"contact_id": contact_id, "tag_id": tag_id} for tag_id in tag_ids]
    if rows:
        await session.execute(insert_ignore(session, ContactTag, ["contact_id", "tag_id"]), rows)


async def create_tags(session: AsyncSession, project_id: uuid.UUID, names: Iterable[str]) -> list[str]:
    created = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        result = await session.execute(
            insert_ignore(session, Tag, ["project_id", "name"]).values(id=uuid.uuid4(), project_id=project_id, name=name, created_at=utcnow())
        )
        if result.rowcount:
            created.append(name)
    return created


async def create_attributes(session: AsyncSession, project_id: uuid.UUID, names: Iterable[str]) -> list[str]:
    created = []
    for name in dict.fromkeys(n.strip() for n in names if n.strip()):
        result = await session.execute(
            insert_ignore(session, AttributeDefinition, ["project_id", "name"]).values(
                id=uuid.uuid4(), project_id=project_id, name=name, created_at=utcnow()
            )
        )
        if result.rowcount:
            created.append(name)
    return created


async def set_opted_in(session: AsyncSession, project_id: uuid.UUID, phone: str, opted_in: bool) -> uuid.UUID | None:
    row = (
        await session.execute(
            update(Contact)
            .where(Contact.project_id == project_id, Contact.phone == phone)
            .values(opted_in=opted_in, updated_at=utcnow())
            .returning(Contact.id)
        )
    ).first()
    return row[0] if row else None


async def get_or_create_by_phone(session: AsyncSession, project_id: uuid.UUID, phone: str, name: str, source: str) -> uuid.UUID:
    row = await find_by_phone(session, project_id, phone)
    if row is not None:
        return row.id
    now = utcnow()
    contact_id = uuid.uuid4()
    await session.execute(
        insert_ignore(session, Contact, ["project_id", "phone"]).values(
            id=contact_id, project_id=project_id, phone=phone, name=name, source=source, opted_in=True,
            blocked=False, attributes={}, created_at=now, updated_at=now,
        )
    )
    row = await find_by_phone(session, project_id, phone)
    return row.id




# --- batched forms for the campaign API's group commit (campaign_api/group_commit.py) ---


async def lock_many(session: AsyncSession, keys: Iterable[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], Any]:
    """The contacts of several (project_id, phone) pairs, locked for update on PostgreSQL."""
    from sqlalchemy import tuple_

    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    stmt = select(
        Contact.id, Contact.project_id, Contact.phone, Contact.name, Contact.source, Contact.opted_in, Contact.blocked, Contact.attributes
    ).where(tuple_(Contact.project_id, Contact.phone).in_(keys))
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.order_by(Contact.id).with_for_update()
    return {(r.project_id, r.phone): r for r in (await session.execute(stmt)).all()}


async def insert_many(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert new contacts (ON CONFLICT DO NOTHING); returns the ids actually inserted."""
    if not rows:
        return set()
    conn = await session.connection()
    stmt = insert_ignore(session, Contact, ["project_id", "phone"]).returning(Contact.id)
    result = await conn.execute(stmt, rows)
    return {r[0] for r in result.all()}


async def update_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Update name, source, attributes and updated_at of contacts by id (one executemany)."""
    from sqlalchemy import bindparam

    if not rows:
        return
    conn = await session.connection()
    table = Contact.__table__
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(name=bindparam("b_name"), source=bindparam("b_source"), attributes=bindparam("b_attributes"), updated_at=bindparam("b_now"))
    )
    await conn.execute(stmt, rows)


async def add_tags_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn = await session.connection()
        await conn.execute(insert_ignore(session, ContactTag, ["contact_id", "tag_id"]), rows)


async def all_tag_ids(session: AsyncSession, project_id: uuid.UUID) -> dict[str, uuid.UUID]:
    rows = await session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project_id))
    return {name: tag_id for name, tag_id in rows.all()}


async def all_attribute_names(session: AsyncSession, project_id: uuid.UUID) -> set[str]:
    rows = await session.execute(select(AttributeDefinition.name).where(AttributeDefinition.project_id == project_id))
    return set(rows.scalars().all())


# Per-project caches the campaign API reads on every request: tag ids by name, and the names
# of the defined attributes. Changing an attribute definition forgets the names.
_tag_ids: TTLCache[dict[str, uuid.UUID]] = TTLCache(ttl=2)
_attribute_names: TTLCache[set[str]] = TTLCache(ttl=2)


def configure_cache(ttl: float) -> None:
    for cache in (_tag_ids, _attribute_names):
        cache.ttl = ttl
        cache.clear()


def forget_attribute_names() -> None:
    _attribute_names.clear()


async def cached_tag_ids(session: AsyncSession, project_id: uuid.UUID) -> dict[str, uuid.UUID]:
    tags = _tag_ids.get(project_id)
    if tags is None:
        tags = await all_tag_ids(session, project_id)
        _tag_ids.put(project_id, tags)
    return tags


async def cached_attribute_names(session: AsyncSession, project_id: uuid.UUID) -> set[str]:
    names = _attribute_names.get(project_id)
    if names is None:
        names = await all_attribute_names(session, project_id)
        _attribute_names.put(project_id, names)
    return names


# --- added by delivery


async def opt_out(session: AsyncSession, contact_id: uuid.UUID, now: datetime) -> bool:
    """Meta said the person stopped marketing messages (131050); True when they had opted in."""
    result = await session.execute(
        update(Contact).where(Contact.id == contact_id, Contact.opted_in.is_(True)).values(opted_in=False, updated_at=now)
    )
    return bool(result.rowcount)
