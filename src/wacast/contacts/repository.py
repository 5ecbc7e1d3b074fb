"""SQL for contacts, tags and attribute definitions (segments: repository_segments.py, CSV
imports: repository_imports.py). Every function takes the session first and flushes at most."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository_consent
from wacast.db.dialect import insert_ignore
from wacast.kit.cache import TTLCache
from wacast.kit.clock import utcnow
from wacast.models.contacts import AttributeDefinition, Contact, ContactTag, FormerNumber, Tag
from wacast.models.projects import Project


@dataclass
class ContactFilter:
    """The filters of a contact list (all optional, combined with AND)."""

    tag: str | None = None
    source: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # name -> exact value
    opted_in: bool | None = None
    blocked: bool | None = None
    search: str | None = None  # part of the phone number, of the name or of the username, or a whole BSUID


def _for_update(session: AsyncSession, stmt: Any) -> Any:
    # SQLite has no row locks (its one writer serialises); PostgreSQL locks the rows.
    return stmt.with_for_update() if session.bind.dialect.name == "postgresql" else stmt


# --- projects (the settings a contact's data is read with) -----------------------------------


async def project(session: AsyncSession, project_id: uuid.UUID) -> Project | None:
    return await session.get(Project, project_id)


async def default_country(session: AsyncSession, project_id: uuid.UUID) -> str:
    found = await project(session, project_id)
    return found.default_country if found else "IN"


# --- contacts ----------------------------------------------------------------------------------


def _filtered(project_id: uuid.UUID, flt: ContactFilter) -> list[Any]:
    """The WHERE conditions of a contact list filter (the list and its count share them)."""
    where: list[Any] = [Contact.project_id == project_id, Contact.erased_at.is_(None)]  # an erased person is no contact
    if flt.tag:
        where.append(
            Contact.id.in_(select(ContactTag.contact_id).join(Tag, Tag.id == ContactTag.tag_id).where(Tag.project_id == project_id, Tag.name == flt.tag))
        )
    if flt.source is not None:
        where.append(Contact.source == flt.source)
    for name, value in (flt.attributes or {}).items():
        where.append(Contact.attributes[name].as_string() == str(value))
    if flt.opted_in is not None:
        where.append(Contact.opted_in.is_(flt.opted_in))
    if flt.blocked is not None:
        where.append(Contact.blocked.is_(flt.blocked))
    if flt.search and flt.search.strip():
        term = flt.search.strip()
        digits = "".join(ch for ch in term if ch.isdigit())
        conditions = [func.lower(Contact.name).contains(term.lower(), autoescape=True),
                      # a username ("@asha.v" or "asha"), and a BSUID given whole (case as Meta wrote it)
                      func.lower(Contact.username).contains(term.lower().lstrip("@"), autoescape=True),
                      Contact.user_id == term, Contact.parent_user_id == term]
        if digits and not any(ch.isalpha() for ch in term):  # a number: match part of the phone
            conditions.append(Contact.phone.contains(digits, autoescape=True))
        where.append(or_(*conditions))
    return where


async def list_page(
    session: AsyncSession, project_id: uuid.UUID, flt: ContactFilter, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Contact]:
    """Up to `limit` contacts newest first, filtered, after the keyset position `after`."""
    stmt = select(Contact).where(*_filtered(project_id, flt))
    if after is not None:
        at, last_id = after
        stmt = stmt.where(or_(Contact.created_at < at, and_(Contact.created_at == at, Contact.id < last_id)))
    return list((await session.execute(stmt.order_by(Contact.created_at.desc(), Contact.id.desc()).limit(limit))).scalars().all())


async def count_filtered(session: AsyncSession, project_id: uuid.UUID, flt: ContactFilter) -> int:
    return int((await session.execute(select(func.count()).select_from(Contact).where(*_filtered(project_id, flt)))).scalar_one())


async def tag_names_of(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Each contact's tag names, by name (every id given is a key)."""
    out: dict[uuid.UUID, list[str]] = {c: [] for c in contact_ids}
    if not contact_ids:
        return out
    rows = await session.execute(
        select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id).where(ContactTag.contact_id.in_(contact_ids)).order_by(Tag.name)
    )
    for contact_id, name in rows.all():
        out[contact_id].append(name)
    return out


async def find(
    session: AsyncSession, project_id: uuid.UUID, *, contact_id: uuid.UUID | None = None, phone: str | None = None,
    user_id: str | None = None, lock: bool = False,
) -> Contact | None:
    """A contact of the project by id, by E.164 number or by BSUID (locked for update when asked)."""
    if contact_id is not None:
        where = Contact.id == contact_id
    elif user_id is not None:
        where = Contact.user_id == user_id
    else:
        where = Contact.phone == phone
    stmt = select(Contact).where(Contact.project_id == project_id, where)
    return (await session.execute(_for_update(session, stmt) if lock else stmt)).scalar_one_or_none()


async def id_of_phone(session: AsyncSession, project_id: uuid.UUID, phone: str) -> uuid.UUID | None:
    row = (await session.execute(select(Contact.id).where(Contact.project_id == project_id, Contact.phone == phone))).first()
    return row[0] if row else None


async def insert(session: AsyncSession, contact: Contact, tag_ids: Iterable[uuid.UUID] = ()) -> None:
    session.add(contact)
    await session.flush()
    for tag_id in tag_ids:
        session.add(ContactTag(contact_id=contact.id, tag_id=tag_id))
    await session.flush()


async def tag_ids_of(session: AsyncSession, contact_id: uuid.UUID) -> set[uuid.UUID]:
    return set((await session.execute(select(ContactTag.tag_id).where(ContactTag.contact_id == contact_id))).scalars().all())


async def remove_tag(session: AsyncSession, contact_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
    """Untag; True when the contact had the tag."""
    result = await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact_id, ContactTag.tag_id == tag_id))
    return bool(result.rowcount)


async def delete_contact(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    await session.execute(delete(Contact).where(Contact.id == contact_id, Contact.project_id == project_id))


async def with_attribute(session: AsyncSession, project_id: uuid.UUID, name: str) -> list[Contact]:
    """The contacts that have a value of attribute `name`."""
    return list(
        (await session.execute(select(Contact).where(Contact.project_id == project_id, Contact.attributes[name].as_string().is_not(None)))).scalars().all()
    )


async def count_with_attribute(session: AsyncSession, project_id: uuid.UUID, name: str) -> int:
    return (
        await session.execute(
            select(func.count()).select_from(Contact).where(Contact.project_id == project_id, Contact.attributes[name].as_string().is_not(None))
        )
    ).scalar_one()


# --- tags --------------------------------------------------------------------------------------


async def tags_with_counts(session: AsyncSession, project_id: uuid.UUID) -> list[Any]:
    """(id, name, created_at, contacts) of every tag of the project, by name."""
    counts = select(ContactTag.tag_id, func.count().label("n")).group_by(ContactTag.tag_id).subquery()
    rows = await session.execute(
        select(Tag.id, Tag.name, Tag.created_at, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tag_id == Tag.id)
        .where(Tag.project_id == project_id)
        .order_by(Tag.name)
    )
    return list(rows.all())


async def find_tag(session: AsyncSession, project_id: uuid.UUID, *, tag_id: uuid.UUID | None = None, name: str | None = None) -> Tag | None:
    where = Tag.id == tag_id if tag_id is not None else Tag.name == name
    return (await session.execute(select(Tag).where(Tag.project_id == project_id, where))).scalar_one_or_none()


async def tag_exists(session: AsyncSession, project_id: uuid.UUID, name: str) -> bool:
    return (await session.execute(select(Tag.id).where(Tag.project_id == project_id, Tag.name == name))).first() is not None


async def count_tagged(session: AsyncSession, tag_id: uuid.UUID) -> int:
    return (await session.execute(select(func.count()).select_from(ContactTag).where(ContactTag.tag_id == tag_id))).scalar_one()


async def insert_tag(session: AsyncSession, project_id: uuid.UUID, name: str) -> Tag:
    tag = Tag(id=uuid.uuid4(), project_id=project_id, name=name, created_at=utcnow())
    session.add(tag)
    await session.flush()
    return tag


async def delete_tag(session: AsyncSession, tag_id: uuid.UUID) -> None:
    await session.execute(delete(ContactTag).where(ContactTag.tag_id == tag_id))
    await session.execute(delete(Tag).where(Tag.id == tag_id))


async def known_tag_names(session: AsyncSession, project_id: uuid.UUID, names: Iterable[str]) -> set[str]:
    return set(await tag_ids_by_name(session, project_id, names))


# --- attribute definitions -------------------------------------------------------------------


async def attribute_definitions(session: AsyncSession, project_id: uuid.UUID) -> list[AttributeDefinition]:
    """The project's attribute definitions, by name."""
    return list(
        (await session.execute(select(AttributeDefinition).where(AttributeDefinition.project_id == project_id).order_by(AttributeDefinition.name))).scalars().all()
    )


async def find_attribute(
    session: AsyncSession, project_id: uuid.UUID, *, attribute_id: uuid.UUID | None = None, name: str | None = None
) -> AttributeDefinition | None:
    where = AttributeDefinition.id == attribute_id if attribute_id is not None else AttributeDefinition.name == name
    return (await session.execute(select(AttributeDefinition).where(AttributeDefinition.project_id == project_id, where))).scalar_one_or_none()


async def attribute_exists(session: AsyncSession, project_id: uuid.UUID, name: str) -> bool:
    stmt = select(AttributeDefinition.id).where(AttributeDefinition.project_id == project_id, AttributeDefinition.name == name)
    return (await session.execute(stmt)).first() is not None


async def insert_attribute(session: AsyncSession, project_id: uuid.UUID, name: str) -> AttributeDefinition:
    found = AttributeDefinition(id=uuid.uuid4(), project_id=project_id, name=name, created_at=utcnow())
    session.add(found)
    await session.flush()
    return found


async def delete_attribute(session: AsyncSession, attribute_id: uuid.UUID) -> None:
    await session.execute(delete(AttributeDefinition).where(AttributeDefinition.id == attribute_id))


async def find_by_phone(session: AsyncSession, project_id: uuid.UUID, phone: str, *, lock: bool = False) -> Any:
    stmt = select(
        Contact.id, Contact.name, Contact.source, Contact.opted_in, Contact.blocked, Contact.attributes, Contact.marketing_consent
    ).where(Contact.project_id == project_id, Contact.phone == phone)
    return (await session.execute(_for_update(session, stmt) if lock else stmt)).first()


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
            return _Row(existing.id, values.get("name", existing.name), existing.opted_in, existing.blocked, merged, False,
                        existing.marketing_consent)
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
    __slots__ = ("id", "name", "opted_in", "blocked", "attributes", "created", "marketing_consent")

    def __init__(self, id, name, opted_in, blocked, attributes, created, marketing_consent=False) -> None:  # noqa: A002, ANN001
        self.id, self.name, self.opted_in, self.blocked, self.attributes, self.created, self.marketing_consent = (
            id, name, opted_in, blocked, attributes, created, bool(marketing_consent),
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


async def set_opted_in_by_id(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, opted_in: bool) -> None:
    await session.execute(
        update(Contact).where(Contact.project_id == project_id, Contact.id == contact_id).values(opted_in=opted_in, updated_at=utcnow())
    )


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
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    stmt = select(
        Contact.id, Contact.project_id, Contact.phone, Contact.name, Contact.source, Contact.opted_in, Contact.blocked, Contact.attributes,
        Contact.marketing_consent,
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
# Former numbers (after a number change) by project: old number -> new number. A send to one is
# refused; a change made by another process reaches this one within the TTL.
_former_numbers: TTLCache[dict[str, str]] = TTLCache(ttl=2)


def configure_cache(ttl: float) -> None:
    for cache in (_tag_ids, _attribute_names, _former_numbers, repository_consent._required):
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


# --- people known by BSUID and username as well as by phone (contacts/senders.py) -------------


_IDENTITY = (Contact.id, Contact.phone, Contact.user_id, Contact.parent_user_id, Contact.username, Contact.name)


async def holders(session: AsyncSession, project_id: uuid.UUID, *, phone: str | None, user_id: str | None) -> list[Any]:
    """The contacts holding `phone` or `user_id` (none, one, or two different ones), locked
    for update on PostgreSQL: (id, phone, user_id, parent_user_id, username, name)."""
    conditions = [c for c in ((Contact.phone == phone) if phone else None, (Contact.user_id == user_id) if user_id else None) if c is not None]
    if not conditions:
        return []
    stmt = select(*_IDENTITY).where(Contact.project_id == project_id, or_(*conditions)).order_by(Contact.id)
    return list((await session.execute(_for_update(session, stmt))).all())


async def find_by_user_id(session: AsyncSession, project_id: uuid.UUID, user_id: str) -> Contact | None:
    stmt = select(Contact).where(Contact.project_id == project_id, Contact.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_by_username(session: AsyncSession, project_id: uuid.UUID, username: str) -> Contact | None:
    """The contact last seen with this username (a username may pass from one person to
    another; the most recently updated holder wins)."""
    stmt = (select(Contact).where(Contact.project_id == project_id, func.lower(Contact.username) == username.lower().lstrip("@"))
            .order_by(Contact.updated_at.desc()).limit(1))
    return (await session.execute(stmt)).scalar_one_or_none()


async def set_identity(session: AsyncSession, contact_id: uuid.UUID, values: dict[str, Any], now: datetime) -> None:
    """Fill or change phone, user_id, parent_user_id, username or name of one contact."""
    if values:
        await session.execute(update(Contact).where(Contact.id == contact_id).values(**values, updated_at=now))


async def insert_identity(
    session: AsyncSession, project_id: uuid.UUID, *, phone: str | None, user_id: str | None, parent_user_id: str | None,
    username: str | None, name: str, source: str, now: datetime,
) -> uuid.UUID | None:
    """A new contact known by phone and/or BSUID; None when another writer took the phone or
    the user id first (ON CONFLICT DO NOTHING on either unique key: read again)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    contact_id = uuid.uuid4()
    stmt = dialect.insert(Contact).values(
        id=contact_id, project_id=project_id, phone=phone, user_id=user_id, parent_user_id=parent_user_id, username=username,
        name=name, source=source, opted_in=True, blocked=False, attributes={}, created_at=now, updated_at=now,
    ).on_conflict_do_nothing().returning(Contact.id)
    return contact_id if (await session.execute(stmt)).first() is not None else None


async def without_phone(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """Of these contacts, those with no phone number: id -> their BSUID (None when they have none)."""
    if not contact_ids:
        return {}
    rows = await session.execute(select(Contact.id, Contact.user_id).where(Contact.id.in_(contact_ids), Contact.phone.is_(None)))
    return dict(rows.all())


async def former_numbers_of_many(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Each contact's former numbers, oldest first (every id given is a key)."""
    out: dict[uuid.UUID, list[str]] = {c: [] for c in contact_ids}
    if not contact_ids:
        return out
    rows = await session.execute(
        select(FormerNumber.contact_id, FormerNumber.phone).where(FormerNumber.contact_id.in_(contact_ids)).order_by(FormerNumber.changed_at))
    for contact_id, phone in rows.all():
        out[contact_id].append(phone)
    return out


async def moved_numbers(session: AsyncSession, project_id: uuid.UUID, phones: list[str]) -> dict[str, str]:
    """Of these numbers, the former numbers of the project: old number -> the number it moved to."""
    phones = [p for p in dict.fromkeys(phones) if p]
    if not phones:
        return {}
    out: dict[str, str] = {}
    for start in range(0, len(phones), 500):
        rows = await session.execute(select(FormerNumber.phone, FormerNumber.new_phone).where(
            FormerNumber.project_id == project_id, FormerNumber.phone.in_(phones[start : start + 500])))
        out.update(dict(rows.all()))
    return out


# --- former numbers (a number change: whatsapp/inbound_identity.apply_system_message) ----------


async def cached_former_numbers(session: AsyncSession, project_id: uuid.UUID) -> dict[str, str]:
    """The project's former numbers, each with the number its contact moved to (cached: the
    campaign API reads it on every request)."""
    moved = _former_numbers.get(project_id)
    if moved is None:
        rows = await session.execute(select(FormerNumber.phone, FormerNumber.new_phone).where(FormerNumber.project_id == project_id))
        moved = dict(rows.all())
        _former_numbers.put(project_id, moved)
    return moved


async def former_number(session: AsyncSession, project_id: uuid.UUID, phone: str) -> FormerNumber | None:
    return await session.get(FormerNumber, (project_id, phone))


async def record_former_number(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, old_phone: str, new_phone: str,
                               now: datetime) -> None:
    """`old_phone` is a former number of the contact, now at `new_phone` (which, were it a
    former number itself, is nobody's any more: a move back)."""
    await session.execute(delete(FormerNumber).where(FormerNumber.project_id == project_id, FormerNumber.phone.in_([old_phone, new_phone])))
    session.add(FormerNumber(project_id=project_id, phone=old_phone, contact_id=contact_id, new_phone=new_phone, changed_at=now))
    await session.flush()
    _former_numbers.clear()


async def release_former_number(session: AsyncSession, project_id: uuid.UUID, phone: str) -> bool:
    """The number belongs to someone again (a new person wrote from it, or it was added as a
    contact): it is no former number any more. True when it was one."""
    result = await session.execute(delete(FormerNumber).where(FormerNumber.project_id == project_id, FormerNumber.phone == phone))
    if result.rowcount:
        _former_numbers.clear()
    return bool(result.rowcount)


async def change_number(session: AsyncSession, contact_id: uuid.UUID, phone: str | None, user_id: str | None,
                        parent_user_id: str | None, now: datetime) -> None:
    """The contact's number (and its BSUID, which Meta regenerates with a new number, when given)."""
    values: dict[str, Any] = {"phone": phone, "updated_at": now}
    if user_id:
        values["user_id"] = user_id
    if parent_user_id:
        values["parent_user_id"] = parent_user_id
    await session.execute(update(Contact).where(Contact.id == contact_id).values(**values))


async def merge_labels(session: AsyncSession, from_id: uuid.UUID, into_id: uuid.UUID, now: datetime) -> None:
    """Carry a contact's tags, attributes (where the other has none) and opt-out or block to
    another contact (the person's other record); its history stays where it is."""
    source = await session.get(Contact, from_id, populate_existing=True)
    target = await session.get(Contact, into_id, populate_existing=True)
    if source is None or target is None:
        return
    await add_tags(session, into_id, await tag_ids_of(session, from_id))
    target.attributes = {**(source.attributes or {}), **(target.attributes or {})}
    target.opted_in = bool(target.opted_in and source.opted_in)
    target.blocked = bool(target.blocked or source.blocked)
    if not target.name and source.name:
        target.name = source.name
    target.updated_at = now
    await session.flush()


async def clear_user_id(session: AsyncSession, contact_id: uuid.UUID) -> None:
    """Forget a contact's BSUIDs (Meta regenerates them with a new number)."""
    await session.execute(update(Contact).where(Contact.id == contact_id).values(user_id=None, parent_user_id=None))


async def fresh(session: AsyncSession, contact_id: uuid.UUID) -> Contact | None:
    """The contact as stored now (statements of this session included)."""
    return await session.get(Contact, contact_id, populate_existing=True)
