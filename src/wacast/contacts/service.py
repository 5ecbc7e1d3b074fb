"""Contacts, tags and attributes: the logic behind the REST API and the dashboard.

Every function takes an AsyncSession and the project's id, flushes and never commits, and
returns plain dataclasses. Objects of another project are "not found" (404), never visible.
Changes that customers can subscribe to (contact.created, contact.tag.updated,
contact.opted_out) write their webhook event in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.contacts import AttributeDefinition, Contact, ContactTag, Tag
from wacast.kit import phone as phones
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.models.projects import Project
from wacast.webhooks import outbox
from wacast.contacts import repository as repo

UNSET: Any = object()
MAX_ATTRIBUTE_VALUE = 1000


@dataclass
class ContactOut:
    id: uuid.UUID
    phone: str
    name: str
    source: str | None
    opted_in: bool
    blocked: bool
    attributes: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TagOut:
    id: uuid.UUID
    name: str
    contacts: int = 0
    created_at: datetime | None = None


@dataclass
class AttributeOut:
    id: uuid.UUID
    name: str
    contacts: int = 0
    created_at: datetime | None = None


@dataclass
class ContactFilter:
    """The filters of a contact list (all optional, combined with AND)."""

    tag: str | None = None
    source: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)  # name -> exact value
    opted_in: bool | None = None
    blocked: bool | None = None
    search: str | None = None  # part of the phone number or of the name


# --- cursors -------------------------------------------------------------------------------


# --- reading -------------------------------------------------------------------------------


async def _tags_of(session: AsyncSession, contact_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    out: dict[uuid.UUID, list[str]] = {c: [] for c in contact_ids}
    if not contact_ids:
        return out
    rows = await session.execute(
        select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id).where(ContactTag.contact_id.in_(contact_ids)).order_by(Tag.name)
    )
    for contact_id, name in rows.all():
        out[contact_id].append(name)
    return out


async def _out(session: AsyncSession, contacts: list[Contact]) -> list[ContactOut]:
    tags = await _tags_of(session, [c.id for c in contacts])
    return [
        ContactOut(c.id, c.phone, c.name, c.source, c.opted_in, c.blocked, dict(c.attributes or {}), tags[c.id], c.created_at, c.updated_at)
        for c in contacts
    ]


async def list_contacts(
    session: AsyncSession, project_id: uuid.UUID, flt: ContactFilter | None = None, *, cursor: str | None = None, limit: int | None = None
) -> Page:
    """Contacts newest first, filtered, `limit` per page (default 50, at most 200)."""
    flt = flt or ContactFilter()
    limit = page_limit(limit)
    stmt = select(Contact).where(Contact.project_id == project_id)
    if flt.tag:
        stmt = stmt.where(
            Contact.id.in_(select(ContactTag.contact_id).join(Tag, Tag.id == ContactTag.tag_id).where(Tag.project_id == project_id, Tag.name == flt.tag))
        )
    if flt.source is not None:
        stmt = stmt.where(Contact.source == flt.source)
    for name, value in (flt.attributes or {}).items():
        stmt = stmt.where(Contact.attributes[name].as_string() == str(value))
    if flt.opted_in is not None:
        stmt = stmt.where(Contact.opted_in.is_(flt.opted_in))
    if flt.blocked is not None:
        stmt = stmt.where(Contact.blocked.is_(flt.blocked))
    if flt.search and flt.search.strip():
        term = flt.search.strip()
        digits = "".join(ch for ch in term if ch.isdigit())
        conditions = [func.lower(Contact.name).contains(term.lower(), autoescape=True)]
        if digits and not any(ch.isalpha() for ch in term):  # a number: match part of the phone
            conditions.append(Contact.phone.contains(digits, autoescape=True))
        stmt = stmt.where(or_(*conditions))
    if cursor:
        at, last_id = decode_cursor(cursor)
        stmt = stmt.where(or_(Contact.created_at < at, and_(Contact.created_at == at, Contact.id < last_id)))
    rows = list((await session.execute(stmt.order_by(Contact.created_at.desc(), Contact.id.desc()).limit(limit + 1))).scalars().all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = await _out(session, rows)
    return Page(items, encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


async def _default_country(session: AsyncSession, project_id: uuid.UUID) -> str:
    project = await session.get(Project, project_id)
    return project.default_country if project else "IN"


async def normalize_phone(session: AsyncSession, project_id: uuid.UUID, raw: str) -> str:
    try:
        return phones.normalize(raw, await _default_country(session, project_id))
    except phones.InvalidNumber:
        raise WacastError(f"{raw!r} is not a valid phone number", "INVALID_PHONE", {"field": "phone"}) from None


async def _find(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, *, lock: bool = False) -> Contact:
    """A contact by id or by phone number (any format the campaign API accepts)."""
    contact_id: uuid.UUID | None = ref if isinstance(ref, uuid.UUID) else None
    if contact_id is None:
        try:
            contact_id = uuid.UUID(str(ref))
        except ValueError:
            contact_id = None
    if contact_id is not None:
        stmt = select(Contact).where(Contact.project_id == project_id, Contact.id == contact_id)
    else:
        try:
            phone = phones.normalize(str(ref), await _default_country(session, project_id))
        except phones.InvalidNumber:
            raise NotFound("Contact not found", "CONTACT_NOT_FOUND", {"contact": str(ref)}) from None
        stmt = select(Contact).where(Contact.project_id == project_id, Contact.phone == phone)
    if lock and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    contact = (await session.execute(stmt)).scalar_one_or_none()
    if contact is None:
        raise NotFound("Contact not found", "CONTACT_NOT_FOUND", {"contact": str(ref)})
    return contact


async def get(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> ContactOut:
    """A contact by its id or its phone number; 404 CONTACT_NOT_FOUND otherwise."""
    return (await _out(session, [await _find(session, project_id, ref)]))[0]


# --- writing -------------------------------------------------------------------------------


async def _check_attributes(session: AsyncSession, project_id: uuid.UUID, attributes: Any) -> dict[str, str]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise WacastError("attributes must be an object of name: value", "INVALID_ATTRIBUTES", {"field": "attributes"})
    defined = set(
        (await session.execute(select(AttributeDefinition.name).where(AttributeDefinition.project_id == project_id))).scalars().all()
    )
    unknown = sorted(k for k in attributes if k not in defined)
    if unknown:
        raise WacastError(
            f"Unknown attribute(s): {', '.join(unknown)}; create them first (POST /api/v1/attributes)",
            "ATTRIBUTE_UNKNOWN", {"attributes": unknown},
        )
    out = {}
    for k, v in attributes.items():
        if v is None:
            continue
        if not isinstance(v, (str, int, float, bool)) or len(str(v)) > MAX_ATTRIBUTE_VALUE:
            raise WacastError(f"Attribute {k} must be a text of at most {MAX_ATTRIBUTE_VALUE} characters", "INVALID_ATTRIBUTES", {"attribute": k})
        out[k] = str(v)
    return out


async def _tag_ids(session: AsyncSession, project_id: uuid.UUID, names: list[str]) -> dict[str, uuid.UUID]:
    names = list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))
    if not names:
        return {}
    found = dict((await session.execute(select(Tag.name, Tag.id).where(Tag.project_id == project_id, Tag.name.in_(names)))).all())
    unknown = [n for n in names if n not in found]
    if unknown:
        raise WacastError(f"Unknown tag(s): {', '.join(unknown)}; create them first (POST /api/v1/tags)", "TAG_UNKNOWN", {"tags": unknown})
    return found


def _name(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 200:
        raise WacastError("name must be a text of at most 200 characters", "INVALID_NAME", {"field": "name"})
    return value.strip()


async def create(
    session: AsyncSession,
    project_id: uuid.UUID,
    phone: str,
    *,
    name: str | None = None,
    source: str | None = None,
    attributes: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    opted_in: bool = True,
    blocked: bool = False,
) -> ContactOut:
    """Create a contact; 409 CONTACT_EXISTS when the number is already a contact."""
    if not isinstance(phone, str):
        raise WacastError("phone is required", "FIELD_REQUIRED", {"field": "phone"})
    e164 = await normalize_phone(session, project_id, phone)
    attrs = await _check_attributes(session, project_id, attributes)
    tag_ids = await _tag_ids(session, project_id, tags or [])
    existing = (await session.execute(select(Contact.id).where(Contact.project_id == project_id, Contact.phone == e164))).first()
    if existing:
        raise Conflict(f"{e164} is already a contact", "CONTACT_EXISTS", {"id": str(existing[0])})
    now = utcnow()
    contact = Contact(
        id=uuid.uuid4(), project_id=project_id, phone=e164, name=_name(name), source=(source or None) and str(source)[:200],
        opted_in=bool(opted_in), blocked=bool(blocked), attributes=attrs, created_at=now, updated_at=now,
    )
    session.add(contact)
    await session.flush()
    for tag_id in tag_ids.values():
        session.add(ContactTag(contact_id=contact.id, tag_id=tag_id))
    await session.flush()
    out = (await _out(session, [contact]))[0]
    await outbox.emit(session, project_id, "contact.created", contact_event(out))
    return out


def contact_event(c: ContactOut) -> dict[str, Any]:
    """The `data` of contact webhook events."""
    return {
        "contact": {
            "id": str(c.id), "phone_number": c.phone, "name": c.name, "source": c.source, "opted_in": c.opted_in,
            "blocked": c.blocked, "attributes": c.attributes, "tags": c.tags, "created_at": c.created_at.isoformat(),
        }
    }


async def update_contact(
    session: AsyncSession,
    project_id: uuid.UUID,
    ref: str | uuid.UUID,
    *,
    name: Any = UNSET,
    attributes: Any = UNSET,
    opted_in: Any = UNSET,
    blocked: Any = UNSET,
) -> ContactOut:
    """Change name, attributes (merged; a null value removes one), opted_in or blocked."""
    contact = await _find(session, project_id, ref, lock=True)
    was_opted_in = contact.opted_in
    if name is not UNSET:
        contact.name = _name(name)
    if attributes is not UNSET:
        if not isinstance(attributes, dict):
            raise WacastError("attributes must be an object of name: value", "INVALID_ATTRIBUTES", {"field": "attributes"})
        given = await _check_attributes(session, project_id, attributes)
        merged = {**(contact.attributes or {}), **given}
        for k, v in attributes.items():
            if v is None:
                merged.pop(k, None)
        contact.attributes = merged
    for label, value in (("opted_in", opted_in), ("blocked", blocked)):
        if value is not UNSET:
            if not isinstance(value, bool):
                raise WacastError(f"{label} must be true or false", "INVALID_FIELD", {"field": label})
            setattr(contact, label, value)
    contact.updated_at = utcnow()
    await session.flush()
    out = (await _out(session, [contact]))[0]
    if was_opted_in and not contact.opted_in:
        await outbox.emit(session, project_id, "contact.opted_out", {**contact_event(out), "reason": "api"})
    return out


async def _tag_event(session: AsyncSession, project_id: uuid.UUID, contact: Contact, added: list[str], removed: list[str]) -> ContactOut:
    out = (await _out(session, [contact]))[0]
    if added or removed:
        await outbox.emit(session, project_id, "contact.tag.updated", {**contact_event(out), "added": added, "removed": removed})
    return out


async def add_tags(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, names: list[str]) -> ContactOut:
    """Tag a contact (tags must exist); tags it already has are left as they are."""
    contact = await _find(session, project_id, ref, lock=True)
    tag_ids = await _tag_ids(session, project_id, names)
    have = set((await session.execute(select(ContactTag.tag_id).where(ContactTag.contact_id == contact.id))).scalars().all())
    added = [n for n, t in tag_ids.items() if t not in have]
    for n in added:
        session.add(ContactTag(contact_id=contact.id, tag_id=tag_ids[n]))
    contact.updated_at = utcnow()
    await session.flush()
    return await _tag_event(session, project_id, contact, added, [])


async def remove_tags(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, names: list[str]) -> ContactOut:
    """Untag a contact; tags it does not have are ignored."""
    contact = await _find(session, project_id, ref, lock=True)
    tag_ids = await _tag_ids(session, project_id, names)
    result_removed = []
    for n, t in tag_ids.items():
        res = await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id, ContactTag.tag_id == t))
        if res.rowcount:
            result_removed.append(n)
    contact.updated_at = utcnow()
    await session.flush()
    return await _tag_event(session, project_id, contact, [], result_removed)


async def delete_contact(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> None:
    """Delete a contact with its tags and its messages' history."""
    contact = await _find(session, project_id, ref)
    await session.execute(delete(Contact).where(Contact.id == contact.id, Contact.project_id == project_id))


# --- tags ----------------------------------------------------------------------------------


def _label(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 100:
        raise WacastError(f"{what} name is required (at most 100 characters)", "INVALID_NAME", {"field": "name"})
    return value.strip()


async def list_tags(session: AsyncSession, project_id: uuid.UUID) -> list[TagOut]:
    """Every tag of the project with how many contacts carry it, by name."""
    counts = select(ContactTag.tag_id, func.count().label("n")).group_by(ContactTag.tag_id).subquery()
    rows = await session.execute(
        select(Tag.id, Tag.name, Tag.created_at, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.tag_id == Tag.id)
        .where(Tag.project_id == project_id)
        .order_by(Tag.name)
    )
    return [TagOut(r[0], r[1], r[3], r[2]) for r in rows.all()]


async def _tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Tag:
    try:
        cond = Tag.id == uuid.UUID(str(ref))
    except ValueError:
        cond = Tag.name == str(ref)
    tag = (await session.execute(select(Tag).where(Tag.project_id == project_id, cond))).scalar_one_or_none()
    if tag is None:
        raise NotFound("Tag not found", "TAG_NOT_FOUND", {"tag": str(ref)})
    return tag


async def get_tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> TagOut:
    tag = await _tag(session, project_id, ref)
    n = (await session.execute(select(func.count()).select_from(ContactTag).where(ContactTag.tag_id == tag.id))).scalar_one()
    return TagOut(tag.id, tag.name, n, tag.created_at)


async def create_tag(session: AsyncSession, project_id: uuid.UUID, name: Any) -> TagOut:
    name = _label(name, "Tag")
    if (await session.execute(select(Tag.id).where(Tag.project_id == project_id, Tag.name == name))).first():
        raise Conflict(f"Tag {name!r} already exists", "TAG_EXISTS")
    tag = Tag(id=uuid.uuid4(), project_id=project_id, name=name, created_at=utcnow())
    session.add(tag)
    await session.flush()
    return TagOut(tag.id, tag.name, 0, tag.created_at)


async def rename_tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, new_name: Any) -> TagOut:
    tag = await _tag(session, project_id, ref)
    new_name = _label(new_name, "Tag")
    if new_name != tag.name and (await session.execute(select(Tag.id).where(Tag.project_id == project_id, Tag.name == new_name))).first():
        raise Conflict(f"Tag {new_name!r} already exists", "TAG_EXISTS")
    tag.name = new_name
    await session.flush()
    return await get_tag(session, project_id, tag.id)


async def delete_tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> None:
    """Delete a tag; contacts lose it (segments naming it stop matching it)."""
    tag = await _tag(session, project_id, ref)
    await session.execute(delete(ContactTag).where(ContactTag.tag_id == tag.id))
    await session.execute(delete(Tag).where(Tag.id == tag.id))


# --- attributes ----------------------------------------------------------------------------


async def _attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> AttributeDefinition:
    try:
        cond = AttributeDefinition.id == uuid.UUID(str(ref))
    except ValueError:
        cond = AttributeDefinition.name == str(ref)
    found = (await session.execute(select(AttributeDefinition).where(AttributeDefinition.project_id == project_id, cond))).scalar_one_or_none()
    if found is None:
        raise NotFound("Attribute not found", "ATTRIBUTE_NOT_FOUND", {"attribute": str(ref)})
    return found


async def _attribute_count(session: AsyncSession, project_id: uuid.UUID, name: str) -> int:
    return (
        await session.execute(
            select(func.count()).select_from(Contact).where(Contact.project_id == project_id, Contact.attributes[name].as_string().is_not(None))
        )
    ).scalar_one()


async def list_attributes(session: AsyncSession, project_id: uuid.UUID) -> list[AttributeOut]:
    """Every attribute definition of the project with how many contacts have a value."""
    rows = (
        await session.execute(select(AttributeDefinition).where(AttributeDefinition.project_id == project_id).order_by(AttributeDefinition.name))
    ).scalars().all()
    return [AttributeOut(a.id, a.name, await _attribute_count(session, project_id, a.name), a.created_at) for a in rows]


async def get_attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> AttributeOut:
    a = await _attribute(session, project_id, ref)
    return AttributeOut(a.id, a.name, await _attribute_count(session, project_id, a.name), a.created_at)


async def create_attribute(session: AsyncSession, project_id: uuid.UUID, name: Any) -> AttributeOut:
    name = _label(name, "Attribute")
    if (await session.execute(select(AttributeDefinition.id).where(AttributeDefinition.project_id == project_id, AttributeDefinition.name == name))).first():
        raise Conflict(f"Attribute {name!r} already exists", "ATTRIBUTE_EXISTS")
    a = AttributeDefinition(id=uuid.uuid4(), project_id=project_id, name=name, created_at=utcnow())
    session.add(a)
    await session.flush()
    _forget_attribute_cache()
    return AttributeOut(a.id, a.name, 0, a.created_at)


async def _contacts_with(session: AsyncSession, project_id: uuid.UUID, name: str) -> list[Contact]:
    return list(
        (await session.execute(select(Contact).where(Contact.project_id == project_id, Contact.attributes[name].as_string().is_not(None)))).scalars().all()
    )


async def rename_attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, new_name: Any) -> AttributeOut:
    """Rename an attribute and move every contact's value to the new name."""
    a = await _attribute(session, project_id, ref)
    new_name = _label(new_name, "Attribute")
    if new_name != a.name:
        if (await session.execute(select(AttributeDefinition.id).where(AttributeDefinition.project_id == project_id, AttributeDefinition.name == new_name))).first():
            raise Conflict(f"Attribute {new_name!r} already exists", "ATTRIBUTE_EXISTS")
        old = a.name
        for contact in await _contacts_with(session, project_id, old):
            attrs = dict(contact.attributes or {})
            attrs[new_name] = attrs.pop(old)
            contact.attributes = attrs
        a.name = new_name
        await session.flush()
        _forget_attribute_cache()
    return await get_attribute(session, project_id, a.id)


async def delete_attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> None:
    """Delete an attribute definition and every contact's value of it."""
    a = await _attribute(session, project_id, ref)
    for contact in await _contacts_with(session, project_id, a.name):
        attrs = dict(contact.attributes or {})
        attrs.pop(a.name, None)
        contact.attributes = attrs
    await session.execute(delete(AttributeDefinition).where(AttributeDefinition.id == a.id))
    await session.flush()
    _forget_attribute_cache()


def _forget_attribute_cache() -> None:
    repo.forget_attribute_names()


__all__ = [
    "UNSET", "AttributeOut", "ContactFilter", "ContactOut", "Page", "TagOut", "add_tags", "create", "create_attribute",
    "create_tag", "delete_attribute", "delete_contact", "delete_tag", "get", "get_attribute", "get_tag", "list_attributes",
    "list_contacts", "list_tags", "remove_tags", "rename_attribute", "rename_tag", "update_contact",
]
