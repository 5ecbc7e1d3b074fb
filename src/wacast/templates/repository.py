"""SQL for templates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.templates import Template

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


async def update_from_meta_event(
    session: AsyncSession,
    project_ids: list[uuid.UUID],
    *,
    meta_id: str,
    name: Any,
    language: Any,
    values: dict[str, Any],
) -> tuple[dict[uuid.UUID, str], int]:
    """Apply Meta's template event to the template it names (by Meta's id, else by name and
    language) in these projects; the statuses before, by template id, and the rows updated."""
    conditions = [Template.project_id.in_(project_ids)]
    if meta_id:
        conditions.append(Template.meta_id == meta_id)
    else:
        conditions += [Template.name == name, Template.language == language]
    before = dict((await session.execute(select(Template.id, Template.status).where(*conditions))).all())
    result = await session.execute(update(Template).where(*conditions).values(**values))
    return before, result.rowcount or 0
