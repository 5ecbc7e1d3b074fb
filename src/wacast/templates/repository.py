"""The queries of templates: every read and write of the templates table for the template
service, the sync with Meta and the REST router, and the two neighbours a template touches
(the campaigns that use it, the sends held for it). Each function takes the session first;
none commits (the caller's unit of work does)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.meta.errors import MARKETING_LIMIT_HELD
from wacast.models.campaigns import Campaign
from wacast.models.messages import Message, MessageStatus
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import statuses


async def get(session: AsyncSession, project_id: uuid.UUID, template_id: uuid.UUID) -> Template | None:
    return (
        await session.execute(select(Template).where(Template.project_id == project_id, Template.id == template_id))
    ).scalar_one_or_none()


async def find(session: AsyncSession, project_id: uuid.UUID, name: str, language: str) -> Template | None:
    """The one template of `name` in `language` (name, language and project are unique together)."""
    return (
        await session.execute(
            select(Template).where(Template.project_id == project_id, Template.name == name, Template.language == language)
        )
    ).scalar_one_or_none()


async def by_name(session: AsyncSession, project_id: uuid.UUID, name: str, language: str | None = None) -> list[Template]:
    """Every language of template `name` (or only `language`), by language."""
    stmt = select(Template).where(Template.project_id == project_id, Template.name == name)
    if language:
        stmt = stmt.where(Template.language == language)
    return list((await session.execute(stmt.order_by(Template.language))).scalars().all())


async def list_for_project(
    session: AsyncSession, project_id: uuid.UUID, *, status: str | None = None, name: str | None = None, category: str | None = None,
) -> list[Template]:
    """A project's templates by name and language, optionally only those of one status, name or category."""
    stmt = select(Template).where(Template.project_id == project_id)
    if status:
        stmt = stmt.where(Template.status == status)
    if name:
        stmt = stmt.where(Template.name == name)
    if category:
        stmt = stmt.where(Template.category == category)
    return list((await session.execute(stmt.order_by(Template.name, Template.language))).scalars().all())


def add(session: AsyncSession, template: Template) -> None:
    """A new template, written at the next flush."""
    session.add(template)


async def remove(session: AsyncSession, template: Template) -> None:
    await session.delete(template)
    await session.flush()


async def campaigns_using(session: AsyncSession, template_id: uuid.UUID) -> list[str]:
    """The names of the campaigns that send this template (a template in use is not deleted)."""
    return list((await session.execute(select(Campaign.name).where(Campaign.template_id == template_id))).scalars().all())


async def campaign_uses(session: AsyncSession, template_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """(name, type, status) of each campaign and broadcast that sends this template, by name."""
    rows = await session.execute(
        select(Campaign.name, Campaign.type, Campaign.status).where(Campaign.template_id == template_id).order_by(Campaign.name)
    )
    return [(name, kind, status) for name, kind, status in rows.all()]


async def release_held_sends(session: AsyncSession, project_id: uuid.UUID, now: datetime) -> int:
    """Held sends of a project whose template can be sent again (APPROVED, FLAGGED:
    templates/statuses.SENDABLE) become due now (after a sync or Meta's event)."""
    approved = select(Template.id).where(Template.project_id == project_id, Template.status.in_(statuses.SENDABLE))
    result = await session.execute(
        update(Message)
        .where(
            Message.project_id == project_id, Message.status == MessageStatus.queued,
            Message.held_reason.is_not(None), Message.template_id.in_(approved),
            Message.held_reason != MARKETING_LIMIT_HELD,  # Meta's marketing limit keeps its own time
            Message.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )
    return result.rowcount or 0


# --- the periodic sync's bookkeeping (on the projects table: when the templates were last synced)


def _due(cutoff: datetime) -> ColumnElement[bool]:
    return or_(Project.templates_synced_at.is_(None), Project.templates_synced_at < cutoff)


async def projects_due_for_sync(session: AsyncSession, cutoff: datetime) -> list[Project]:
    """Projects with Meta credentials (Cloud API, with a WABA) not synced since `cutoff`, stalest first."""
    stmt = (
        select(Project)
        .where(Project.waba_id.is_not(None), Project.phone_number_id.is_not(None), Project.access_token.is_not(None), _due(cutoff))
        .order_by(Project.templates_synced_at.asc().nulls_first(), Project.name)
    )
    return list((await session.execute(stmt)).scalars().all())


async def claim_sync(session: AsyncSession, project_id: uuid.UUID, cutoff: datetime, now: datetime) -> bool:
    """Mark the project synced now if it is still due: of several processes, one syncs it."""
    result = await session.execute(
        update(Project).where(Project.id == project_id, _due(cutoff)).values(templates_synced_at=now)
    )
    return bool(result.rowcount)


async def set_synced_at(session: AsyncSession, project_id: uuid.UUID, value: datetime | None) -> None:
    """Put back when the templates were last synced (a claimed sync that failed)."""
    await session.execute(update(Project).where(Project.id == project_id).values(templates_synced_at=value))


# --- queries the dispatcher needs
# (and the inbound event loop, whatsapp/inbound.py)


async def by_ids(session: AsyncSession, template_ids: Iterable[uuid.UUID], *, fresh: bool = False) -> dict[uuid.UUID, Template]:
    """Templates by id; `fresh` reloads rows the session already holds (after a bulk update)."""
    ids = list(template_ids)
    if not ids:
        return {}
    stmt = select(Template).where(Template.id.in_(ids))
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return {t.id: t for t in (await session.execute(stmt)).scalars().all()}


async def set_status(session: AsyncSession, template_id: uuid.UUID, status: str, now: datetime) -> None:
    await session.execute(update(Template).where(Template.id == template_id).values(status=status, updated_at=now))


async def for_meta_event(
    session: AsyncSession, project_ids: list[uuid.UUID], *, meta_id: str, name: str | None, language: str | None,
) -> list[Template]:
    """The templates a Meta event names in these projects: by Meta's id, else (a template
    stored before it had Meta's id) by name and language."""
    if not project_ids:
        return []
    if meta_id:
        found = list((await session.execute(
            select(Template).where(Template.project_id.in_(project_ids), Template.meta_id == meta_id))).scalars().all())
        if found:
            return found
    if not name or not language:
        return []
    return list((await session.execute(select(Template).where(
        Template.project_id.in_(project_ids), Template.name == name, Template.language == language))).scalars().all())

