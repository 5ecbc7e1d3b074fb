"""A project as a sender: changing its settings, and clearing a halt Meta caused.

Clearing a halt lives here, not in projects, because it releases the project's held sends.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.clock import utcnow
from wacast.messages import repository
from wacast.models.projects import Project
from wacast.projects import service as projects


async def update_project(session: AsyncSession, name: str, *, clear_halt: bool = False, **options) -> Project:
    """Change a project's settings; `clear_halt` resumes sending and releases its held sends."""
    project = await projects.update(session, name, **options)
    if clear_halt:
        project.halted_reason = None
        await repository.release_held_for_project(session, project.id, utcnow())  # held sends go now
        await session.flush()
    return project
