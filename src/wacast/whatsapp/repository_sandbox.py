"""SQL of the sandbox: a project's failure rule (projects.sandbox_failures). The session is the
first argument; nothing commits."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.projects import Project


async def stored_failures(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Any] | None:
    return (await session.execute(select(Project.sandbox_failures).where(Project.id == project_id))).scalar_one_or_none()


async def store_failures(session: AsyncSession, project_id: uuid.UUID, rule: dict[str, Any] | None) -> None:
    """Write the rule (None: back to the settings' default)."""
    await session.execute(
        update(Project).where(Project.id == project_id).values(sandbox_failures=rule if rule is not None else null()).execution_options(synchronize_session=False)
    )
