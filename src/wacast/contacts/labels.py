"""Tags and attribute definitions: the labels a project puts on its contacts.

One function per use case, called by REST, the dashboard, the CLI and the CSV import alike.
Names are single-line texts under the base rule (kit/text.py), at most MAX_LABEL characters,
and not blank (kit/text.is_blank: not only whitespace and invisible characters).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import repository as repo
from wacast.kit import text
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.models.contacts import AttributeDefinition, Tag

MAX_LABEL = 100


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


def _label(value: Any, what: str) -> str:
    # A blank name (only whitespace or invisible characters such as ZERO WIDTH SPACE) is no name.
    if not isinstance(value, str) or text.is_blank(value) or len(value.strip()) > MAX_LABEL:
        raise WacastError(f"{what} name is required (at most {MAX_LABEL} characters)", "INVALID_NAME", {"field": "name"})
    return text.check("name", value, max_len=len(value)).strip()


def _ref(ref: str | uuid.UUID) -> tuple[uuid.UUID | None, str]:
    """A reference by id or by name: (id or None, name)."""
    try:
        return uuid.UUID(str(ref)), str(ref)
    except ValueError:
        return None, str(ref)


def _findable(name: str) -> bool:
    """Whether a label could have this name (one that breaks the base rule never does, and
    PostgreSQL refuses NUL even in a query)."""
    return text.problem(name, max_len=MAX_LABEL) is None


def _names(names: Iterable[Any], field: str) -> list[str]:
    """Names from a CLI or a file: each checked, stripped, empty ones left out, duplicates once."""
    out = []
    for i, name in enumerate(names):
        checked = text.clean(f"{field}[{i}]", name, max_len=MAX_LABEL)
        if checked and not text.is_blank(checked):
            out.append(checked)
    return list(dict.fromkeys(out))


# --- tags ----------------------------------------------------------------------------------


async def list_tags(session: AsyncSession, project_id: uuid.UUID) -> list[TagOut]:
    """Every tag of the project with how many contacts carry it, by name."""
    return [TagOut(r[0], r[1], r[3], r[2]) for r in await repo.tags_with_counts(session, project_id)]


async def _tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> Tag:
    tag_id, name = _ref(ref)
    tag = await repo.find_tag(session, project_id, tag_id=tag_id, name=name) if _findable(name) else None
    if tag is None:
        raise NotFound("Tag not found", "TAG_NOT_FOUND", {"tag": name[:200]})
    return tag


async def get_tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> TagOut:
    tag = await _tag(session, project_id, ref)
    return TagOut(tag.id, tag.name, await repo.count_tagged(session, tag.id), tag.created_at)


async def create_tag(session: AsyncSession, project_id: uuid.UUID, name: Any) -> TagOut:
    name = _label(name, "Tag")
    if await repo.tag_exists(session, project_id, name):
        raise Conflict(f"Tag {name!r} already exists", "TAG_EXISTS")
    tag = await repo.insert_tag(session, project_id, name)
    return TagOut(tag.id, tag.name, 0, tag.created_at)


async def create_tags(session: AsyncSession, project_id: uuid.UUID, names: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Define several tags at once (the CLI, CSV imports): (created, already existing)."""
    wanted = _names(names, "tags")
    created = await repo.create_tags(session, project_id, wanted)
    return created, [n for n in wanted if n not in created]


async def rename_tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, new_name: Any) -> TagOut:
    tag = await _tag(session, project_id, ref)
    new_name = _label(new_name, "Tag")
    if new_name != tag.name and await repo.tag_exists(session, project_id, new_name):
        raise Conflict(f"Tag {new_name!r} already exists", "TAG_EXISTS")
    tag.name = new_name
    await session.flush()
    return await get_tag(session, project_id, tag.id)


async def delete_tag(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> None:
    """Delete a tag; contacts lose it (segments naming it stop matching it)."""
    tag = await _tag(session, project_id, ref)
    await repo.delete_tag(session, tag.id)


# --- attributes ----------------------------------------------------------------------------


async def _attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> AttributeDefinition:
    attribute_id, name = _ref(ref)
    found = await repo.find_attribute(session, project_id, attribute_id=attribute_id, name=name) if _findable(name) else None
    if found is None:
        raise NotFound("Attribute not found", "ATTRIBUTE_NOT_FOUND", {"attribute": name[:200]})
    return found


async def _out(session: AsyncSession, project_id: uuid.UUID, a: AttributeDefinition) -> AttributeOut:
    return AttributeOut(a.id, a.name, await repo.count_with_attribute(session, project_id, a.name), a.created_at)


async def list_attributes(session: AsyncSession, project_id: uuid.UUID) -> list[AttributeOut]:
    """Every attribute definition of the project with how many contacts have a value."""
    return [await _out(session, project_id, a) for a in await repo.attribute_definitions(session, project_id)]


async def get_attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> AttributeOut:
    return await _out(session, project_id, await _attribute(session, project_id, ref))


async def create_attribute(session: AsyncSession, project_id: uuid.UUID, name: Any) -> AttributeOut:
    name = _label(name, "Attribute")
    if await repo.attribute_exists(session, project_id, name):
        raise Conflict(f"Attribute {name!r} already exists", "ATTRIBUTE_EXISTS")
    a = await repo.insert_attribute(session, project_id, name)
    forget_attribute_cache()
    return AttributeOut(a.id, a.name, 0, a.created_at)


async def create_attributes(session: AsyncSession, project_id: uuid.UUID, names: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Define several attributes at once (the CLI, CSV imports): (created, already existing)."""
    wanted = _names(names, "attributes")
    created = await repo.create_attributes(session, project_id, wanted)
    if created:
        forget_attribute_cache()
    return created, [n for n in wanted if n not in created]


async def rename_attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, new_name: Any) -> AttributeOut:
    """Rename an attribute and move every contact's value to the new name."""
    a = await _attribute(session, project_id, ref)
    new_name = _label(new_name, "Attribute")
    if new_name != a.name:
        if await repo.attribute_exists(session, project_id, new_name):
            raise Conflict(f"Attribute {new_name!r} already exists", "ATTRIBUTE_EXISTS")
        old = a.name
        for contact in await repo.with_attribute(session, project_id, old):
            attrs = dict(contact.attributes or {})
            attrs[new_name] = attrs.pop(old)
            contact.attributes = attrs
        a.name = new_name
        await session.flush()
        forget_attribute_cache()
    return await get_attribute(session, project_id, a.id)


async def delete_attribute(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> None:
    """Delete an attribute definition and every contact's value of it."""
    a = await _attribute(session, project_id, ref)
    for contact in await repo.with_attribute(session, project_id, a.name):
        attrs = dict(contact.attributes or {})
        attrs.pop(a.name, None)
        contact.attributes = attrs
    await repo.delete_attribute(session, a.id)
    await session.flush()
    forget_attribute_cache()


def forget_attribute_cache() -> None:
    """The campaign API caches the defined attribute names; a change of definitions forgets them."""
    repo.forget_attribute_names()
