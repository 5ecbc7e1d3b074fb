"""SQL for saved segments and their members (the WHERE clause comes from segment_filter.py)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.contacts import Contact, ContactTag, FormerNumber, Tag
from wacast.models.segments import Segment


def has_tag(names: list[str]) -> ColumnElement[bool]:
    """Over `contacts`: the contact carries one of the tags `names`."""
    return exists(
        select(ContactTag.contact_id)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id == Contact.id, Tag.name.in_(names))
    )


async def count_members(session: AsyncSession, where: ColumnElement[bool], sendable: ColumnElement[bool]) -> tuple[int, int, int, int]:
    """(matching, sendable, opted out, blocked but opted in) of the contacts `where` selects."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((sendable, 1), else_=0)), 0),
                func.coalesce(func.sum(case((Contact.opted_in.is_(False), 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(Contact.opted_in.is_(True), Contact.blocked.is_(True)), 1), else_=0)), 0),
            ).select_from(Contact).where(where)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def count_unreachable(session: AsyncSession, where: ColumnElement[bool], sendable: ColumnElement[bool], *,
                            by_user_id: bool) -> tuple[int, int]:
    """Of the sendable contacts `where` selects: (those with no number to send to, those whose
    number is a former number). With `by_user_id`, a contact with a BSUID has one to send to."""
    no_phone = Contact.phone.is_(None) if not by_user_id else and_(Contact.phone.is_(None), Contact.user_id.is_(None))
    moved = exists(select(FormerNumber.phone).where(FormerNumber.project_id == Contact.project_id, FormerNumber.phone == Contact.phone))
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((no_phone, 1), else_=0)), 0),
                func.coalesce(func.sum(case((moved, 1), else_=0)), 0),
            ).select_from(Contact).where(where, sendable)
        )
    ).one()
    return int(row[0]), int(row[1])


async def member_page(session: AsyncSession, where: ColumnElement[bool], *, after: uuid.UUID | None, limit: int) -> list[Any]:
    """One keyset page of the contacts `where` selects, in id order."""
    stmt = select(
        Contact.id, Contact.phone, Contact.name, Contact.source, Contact.opted_in, Contact.blocked,
        Contact.attributes, Contact.created_at, Contact.user_id, Contact.username,
    ).where(where)
    if after is not None:
        stmt = stmt.where(Contact.id > after)
    return list((await session.execute(stmt.order_by(Contact.id).limit(limit))).all())


async def name_taken(session: AsyncSession, project_id: uuid.UUID, name: str) -> bool:
    return (await session.execute(select(Segment.id).where(Segment.project_id == project_id, Segment.name == name))).first() is not None


async def insert(session: AsyncSession, segment: Segment) -> None:
    session.add(segment)
    await session.flush()


async def find(session: AsyncSession, project_id: uuid.UUID, *, name: str, segment_id: uuid.UUID | None) -> Segment | None:
    """A segment by name, or by id when `segment_id` is given (a name that looks like an id too)."""
    clause = Segment.name == name if segment_id is None else or_(Segment.id == segment_id, Segment.name == name)
    return (await session.execute(select(Segment).where(Segment.project_id == project_id, clause))).scalars().first()


async def list_all(session: AsyncSession, project_id: uuid.UUID) -> list[Segment]:
    return list((await session.execute(select(Segment).where(Segment.project_id == project_id).order_by(Segment.created_at))).scalars())


async def remove(session: AsyncSession, segment: Segment) -> None:
    await session.delete(segment)
    await session.flush()
