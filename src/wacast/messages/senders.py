"""A project as a sender: changing its settings, clearing a halt Meta caused, and whether
Meta's account state holds its sends.

Clearing a halt lives here, not in projects, because it releases the project's held sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.clock import utcnow
from wacast.messages import repository
from wacast.models.projects import Project
from wacast.projects import service as projects


def account_hold(project: Any, now: datetime) -> str | None:
    """Why Meta's account state holds the project's sends now (a restriction, a disabled,
    deleted or offboarded account: whatsapp/account_events.py sets it), or None. Pure: read
    from the project as loaded (the dispatcher's lease refresh), its time against `now`, so a
    restriction lifts at its expiration with no query and no event."""
    reason = getattr(project, "account_hold", None)
    until = getattr(project, "account_hold_until", None)
    if not reason or (until is not None and until <= now):
        return None
    return reason


async def update_project(session: AsyncSession, name: str, *, clear_halt: bool = False, **options) -> Project:
    """Change a project's settings; `clear_halt` resumes sending and releases its held sends.

    Moving a project to another WABA drops the hold the old one's account state put on it (the
    new WABA's next account_update event sets its own)."""
    before = await projects.get_by_name(session, name) if options.get("waba_id") is not None else None
    moved = before is not None and before.waba_id != options["waba_id"]
    project = await projects.update(session, name, **options)
    if moved and project.account_hold:
        project.account_hold, project.account_hold_until = None, None
        await repository.release_held_for_project(session, project.id, utcnow())
        await session.flush()
    if clear_halt:
        project.halted_reason = None
        await repository.release_held_for_project(session, project.id, utcnow())  # held sends go now
        await session.flush()
    return project
