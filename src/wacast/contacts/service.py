"""Contacts: the logic behind the REST API and the dashboard (tags and attributes:
contacts/labels.py, re-exported here so that `contacts.service` stays the one entry).

Every function takes an AsyncSession and the project's id, flushes and never commits, and
returns plain dataclasses. Objects of another project are "not found" (404), never visible.
Changes that customers can subscribe to (contact.created, contact.tag.updated,
contact.opted_out) write their webhook event in the same transaction. Text passes the base
rule (kit/text.py) before anything is read or written.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import consent_policy
from wacast.contacts import repository as repo
from wacast.contacts import repository_consent as consent_repo
from wacast.contacts.labels import (
    MAX_LABEL,
    AttributeOut,
    TagOut,
    create_attribute,
    create_attributes,
    create_tag,
    create_tags,
    delete_attribute,
    delete_tag,
    forget_attribute_cache,
    get_attribute,
    get_tag,
    list_attributes,
    list_tags,
    rename_attribute,
    rename_tag,
)
from wacast.contacts.repository import ContactFilter
from wacast.kit import phone as phones
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.kit.pagination import Page, decode_cursor, encode_cursor, page_limit
from wacast.models.contacts import Contact
from wacast.webhooks import outbox

UNSET: Any = object()
MAX_NAME = 200
MAX_SOURCE = 200
MAX_ATTRIBUTE_VALUE = 1000
MAX_PHONE = 40  # the campaign API's limit for `destination`


@dataclass
class ContactOut:
    id: uuid.UUID
    phone: str | None  # None for a person known only by BSUID (a WhatsApp username, no number)
    name: str
    source: str | None
    opted_in: bool
    blocked: bool
    attributes: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    user_id: str | None = None  # Meta's business-scoped user id (BSUID)
    parent_user_id: str | None = None
    username: str | None = None  # the WhatsApp username, as last seen
    former_numbers: list[str] = field(default_factory=list)  # numbers it had before a number change, oldest first
    marketing_consent: bool = False  # a marketing opt-in is recorded (its evidence: GET /api/v1/contacts/{id}/consent)
    consent_at: datetime | None = None  # when the current consent state was given or withdrawn

    @property
    def label(self) -> str:
        """How the contact is named where a number would be: phone, else @username, else BSUID."""
        return self.phone or (f"@{self.username}" if self.username else "") or self.user_id or str(self.id)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- reading -------------------------------------------------------------------------------


async def _out(session: AsyncSession, contacts: list[Contact]) -> list[ContactOut]:
    tags = await repo.tag_names_of(session, [c.id for c in contacts])
    former = await repo.former_numbers_of_many(session, [c.id for c in contacts])
    return [
        ContactOut(c.id, c.phone, c.name, c.source, c.opted_in, c.blocked, dict(c.attributes or {}), tags[c.id], c.created_at, c.updated_at,
                   c.user_id, c.parent_user_id, c.username, former[c.id], bool(c.marketing_consent), c.consent_at)
        for c in contacts
    ]


async def list_contacts(
    session: AsyncSession, project_id: uuid.UUID, flt: ContactFilter | None = None, *, cursor: str | None = None, limit: int | None = None
) -> Page:
    """Contacts newest first, filtered, `limit` per page (default 50, at most 200)."""
    limit = page_limit(limit)
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.list_page(session, project_id, flt or ContactFilter(), after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = await _out(session, rows)
    return Page(items, encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


async def count_contacts(session: AsyncSession, project_id: uuid.UUID, flt: ContactFilter | None = None) -> int:
    """How many contacts the filter matches (the list's total)."""
    return await repo.count_filtered(session, project_id, flt or ContactFilter())


async def normalize_phone(session: AsyncSession, project_id: uuid.UUID, raw: str) -> str:
    text.check("phone", raw, max_len=MAX_PHONE)
    try:
        return phones.normalize(raw, await repo.default_country(session, project_id))
    except phones.InvalidNumber:
        raise WacastError(f"{raw!r} is not a valid phone number", "INVALID_PHONE", {"field": "phone"}) from None


async def _find(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, *, lock: bool = False, former: bool = False) -> Contact:
    """A contact by id, by phone number (any format the campaign API accepts; with `former`, a
    former number finds the contact that moved from it) or by BSUID."""
    not_found = NotFound("Contact not found", "CONTACT_NOT_FOUND", {"contact": str(ref)[:200]})
    contact_id: uuid.UUID | None = ref if isinstance(ref, uuid.UUID) else None
    if contact_id is None:
        try:
            contact_id = uuid.UUID(str(ref))
        except ValueError:
            contact_id = None
    if contact_id is not None:
        contact = await repo.find(session, project_id, contact_id=contact_id, lock=lock)
    elif phones.is_bsuid(str(ref)):  # a person known by business-scoped user id
        contact = await repo.find(session, project_id, user_id=str(ref), lock=lock)
    else:
        if text.problem(str(ref), max_len=MAX_PHONE) is not None:
            raise not_found  # no contact has such a number (and a path is no place for NUL)
        try:
            phone = phones.normalize(str(ref), await repo.default_country(session, project_id))
        except phones.InvalidNumber:
            raise not_found from None
        contact = await repo.find(session, project_id, phone=phone, lock=lock)
        if contact is None and former:  # reading: a former number finds the contact that moved away from it
            moved = await repo.former_number(session, project_id, phone)
            if moved is not None:
                contact = await repo.find(session, project_id, contact_id=moved.contact_id, lock=lock)
    if contact is None or contact.erased_at is not None:
        raise not_found
    return contact


async def get(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> ContactOut:
    """A contact by its id, its phone number (or a former one) or its BSUID; 404 CONTACT_NOT_FOUND otherwise."""
    return (await _out(session, [await _find(session, project_id, ref, former=True)]))[0]


# --- writing -------------------------------------------------------------------------------


def check_attribute_value(name: str, value: Any) -> str:
    """An attribute's value as stored: a text (numbers and booleans as text) under the base
    rule, at most MAX_ATTRIBUTE_VALUE characters (the campaign API and CSV import alike)."""
    if not isinstance(value, (str, int, float, bool)) or len(str(value)) > MAX_ATTRIBUTE_VALUE:
        raise WacastError(f"Attribute {name} must be a text of at most {MAX_ATTRIBUTE_VALUE} characters", "INVALID_ATTRIBUTES", {"attribute": name})
    return text.check(f"attributes.{name}", str(value), max_len=MAX_ATTRIBUTE_VALUE, multiline=True)


async def _check_attributes(session: AsyncSession, project_id: uuid.UUID, attributes: Any) -> dict[str, str]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise WacastError("attributes must be an object of name: value", "INVALID_ATTRIBUTES", {"field": "attributes"})
    for key in attributes:
        text.check("attributes (a name)", key, max_len=MAX_LABEL)
    defined = await repo.all_attribute_names(session, project_id)
    unknown = sorted(k for k in attributes if k not in defined)
    if unknown:
        raise WacastError(
            f"Unknown attribute(s): {', '.join(unknown)}; create them first (POST /api/v1/attributes)",
            "ATTRIBUTE_UNKNOWN", {"attributes": unknown},
        )
    return {k: check_attribute_value(k, v) for k, v in attributes.items() if v is not None}


async def _tag_ids(session: AsyncSession, project_id: uuid.UUID, names: list[str]) -> dict[str, uuid.UUID]:
    for i, name in enumerate(names):
        if isinstance(name, str):
            text.check(f"tags[{i}]", name, max_len=MAX_LABEL)
    names = list(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))
    if not names:
        return {}
    found = await repo.tag_ids_by_name(session, project_id, names)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise WacastError(f"Unknown tag(s): {', '.join(unknown)}; create them first (POST /api/v1/tags)", "TAG_UNKNOWN", {"tags": unknown})
    return {n: found[n] for n in names}


def _name(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise WacastError(f"name must be a text of at most {MAX_NAME} characters", "INVALID_NAME", {"field": "name"})
    return text.check("name", value, max_len=MAX_NAME, multiline=True).strip()


def _source(value: Any) -> str | None:
    if not value:
        return None
    # At most MAX_SOURCE, as through the campaign API (it used to be cut here silently).
    return text.check("source", str(value), max_len=MAX_SOURCE, multiline=True)


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
    marketing_consent: Any = None,
    consent_method: str = "rest",
) -> ContactOut:
    """Create a contact; 409 CONTACT_EXISTS when the number is already a contact. A
    `marketing_consent` value (consent_policy.parse) is recorded with its evidence."""
    if not isinstance(phone, str):
        raise WacastError("phone is required", "FIELD_REQUIRED", {"field": "phone"})
    contact_name, contact_source = _name(name), _source(source)
    given = consent_policy.parse(marketing_consent, "marketing_consent", utcnow())
    e164 = await normalize_phone(session, project_id, phone)
    attrs = await _check_attributes(session, project_id, attributes)
    tag_ids = await _tag_ids(session, project_id, tags or [])
    existing = await repo.id_of_phone(session, project_id, e164)
    if existing:
        raise Conflict(f"{e164} is already a contact", "CONTACT_EXISTS", {"id": str(existing)})
    # Adding a former number (after a number change) as a contact says it is someone's again.
    await repo.release_former_number(session, project_id, e164)
    now = utcnow()
    contact = Contact(
        id=uuid.uuid4(), project_id=project_id, phone=e164, name=contact_name, source=contact_source,
        opted_in=bool(opted_in), blocked=bool(blocked), attributes=attrs, created_at=now, updated_at=now,
    )
    await repo.insert(session, contact, tag_ids.values())
    if given is not None:
        await consent_repo.record_one(session, contact, consent_row(project_id, contact.id, given, consent_method, now))
    out = (await _out(session, [contact]))[0]
    await outbox.emit(session, project_id, "contact.created", contact_event(out))
    return out


def consent_row(project_id: uuid.UUID, contact_id: uuid.UUID, given: consent_policy.ConsentGiven, method: str,
                now: datetime) -> dict[str, Any]:
    """A contact_consents row of what was given, recorded now."""
    return {"project_id": project_id, "contact_id": contact_id, "granted": given.granted, "method": method, "source": given.source,
            "evidence": given.evidence, "given_at": given.at or now, "recorded_at": now}


async def withdraw_consent(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, *, source: str, evidence: str | None = None,
                           now: datetime | None = None) -> bool:
    """An opt-out withdraws a recorded consent (history: method opt_out); True when there was one."""
    if not await consent_repo.consent_of(session, contact_id):
        return False
    now = now or utcnow()
    await consent_repo.record_many(session, [consent_row(project_id, contact_id, consent_policy.ConsentGiven(False, source, evidence), "opt_out", now)])
    return True


def contact_event(c: ContactOut) -> dict[str, Any]:
    """The `data` of contact webhook events."""
    return {
        "contact": {
            "id": str(c.id), "phone_number": c.phone, "name": c.name, "source": c.source, "opted_in": c.opted_in,
            "blocked": c.blocked, "attributes": c.attributes, "tags": c.tags, "created_at": c.created_at.isoformat(),
            "user_id": c.user_id, "username": c.username,
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
    marketing_consent: Any = UNSET,
    consent_method: str = "rest",
) -> ContactOut:
    """Change name, attributes (merged; a null value removes one), opted_in, blocked or the
    marketing consent (recorded with its evidence; opting out withdraws it)."""
    new_name = _name(name) if name is not UNSET else UNSET  # checked before the row is locked
    now = utcnow()
    consent_given = consent_policy.parse(marketing_consent, "marketing_consent", now) if marketing_consent is not UNSET else None
    contact = await _find(session, project_id, ref, lock=True)
    was_opted_in = contact.opted_in
    if new_name is not UNSET:
        contact.name = new_name
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
    contact.updated_at = now
    if consent_given is not None:
        await consent_repo.record_one(session, contact, consent_row(project_id, contact.id, consent_given, consent_method, now))
    if was_opted_in and not contact.opted_in and contact.marketing_consent:
        await consent_repo.record_one(session, contact, consent_row(
            project_id, contact.id, consent_policy.ConsentGiven(False, "opted_in set to false"), "opt_out", now))
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
    have = await repo.tag_ids_of(session, contact.id)
    added = [n for n, t in tag_ids.items() if t not in have]
    await repo.add_tags(session, contact.id, [tag_ids[n] for n in added])
    contact.updated_at = utcnow()
    await session.flush()
    return await _tag_event(session, project_id, contact, added, [])


async def remove_tags(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, names: list[str]) -> ContactOut:
    """Untag a contact; tags it does not have are ignored."""
    contact = await _find(session, project_id, ref, lock=True)
    tag_ids = await _tag_ids(session, project_id, names)
    removed = [n for n, t in tag_ids.items() if await repo.remove_tag(session, contact.id, t)]
    contact.updated_at = utcnow()
    await session.flush()
    return await _tag_event(session, project_id, contact, [], removed)


async def delete_contact(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> None:
    """Delete a contact with its tags and its messages' history."""
    contact = await _find(session, project_id, ref)
    await repo.delete_contact(session, project_id, contact.id)


__all__ = [
    "UNSET", "AttributeOut", "ContactFilter", "ContactOut", "Page", "TagOut", "add_tags", "check_attribute_value", "create",
    "create_attribute", "create_attributes", "create_tag", "create_tags", "decode_cursor", "delete_attribute", "delete_contact",
    "delete_tag", "encode_cursor", "forget_attribute_cache", "get", "get_attribute", "get_tag", "list_attributes", "list_contacts",
    "list_tags", "normalize_phone", "page_limit", "remove_tags", "rename_attribute", "rename_tag", "update_contact",
]


BULK_ACTIONS = ("tag", "untag", "delete")
MAX_BULK = 200  # one page of contacts at most


async def bulk(session: AsyncSession, project_id: uuid.UUID, ids: list[str], action: str, tag: str | None = None) -> int:
    """Tag, untag or delete several contacts at once (all of them or none: one transaction).
    Each goes through the one-contact use case, so webhooks and rules are the same."""
    if action not in BULK_ACTIONS:
        raise WacastError("action must be tag, untag or delete", "FIELD_INVALID", {"field": "action", "allowed": list(BULK_ACTIONS)})
    if not ids:
        raise WacastError("Choose contacts first", "FIELD_REQUIRED", {"field": "ids"})
    if len(ids) > MAX_BULK:
        raise WacastError(f"At most {MAX_BULK} contacts at once", "FIELD_INVALID", {"field": "ids", "max": MAX_BULK})
    if action != "delete" and not tag:
        raise WacastError("Choose a tag", "FIELD_REQUIRED", {"field": "tag"})
    for ref in dict.fromkeys(ids):
        if action == "tag":
            await add_tags(session, project_id, ref, [tag])
        elif action == "untag":
            await remove_tags(session, project_id, ref, [tag])
        else:
            await delete_contact(session, project_id, ref)
    return len(dict.fromkeys(ids))
