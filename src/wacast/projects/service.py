"""Projects: a business's WhatsApp sender with its settings."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.kit.phone import is_valid_region
from wacast.models.projects import Project

MAX_MESSAGES_PER_SECOND = 1000


async def get_by_name(session: AsyncSession, name: str) -> Project:
    project = (await session.execute(select(Project).where(Project.name == name))).scalar_one_or_none()
    if project is None:
        raise NotFound(f"Project {name!r} does not exist", "PROJECT_NOT_FOUND")
    return project


def _apply(project: Project, *, default_country=None, waba_id=None, phone_number_id=None, access_token=None,
           messages_per_second=None, sender_number=None, timezone=None, opt_out_keywords=None,
           opt_out_payloads=None) -> None:  # noqa: ANN001
    if default_country is not None:
        if not is_valid_region(default_country):
            raise WacastError(f"Unknown country code {default_country!r} (use ISO codes like IN, US, GB)", "INVALID_COUNTRY")
        project.default_country = default_country.upper()
    if messages_per_second is not None:
        if not 1 <= messages_per_second <= MAX_MESSAGES_PER_SECOND:
            raise WacastError(f"messages per second must be between 1 and {MAX_MESSAGES_PER_SECOND}", "INVALID_RATE")
        project.messages_per_second = messages_per_second
    if opt_out_keywords is not None:
        project.opt_out_keywords = [k.upper() for k in opt_out_keywords]
    if opt_out_payloads is not None:
        project.opt_out_payloads = list(opt_out_payloads)
    for attr, value in (("waba_id", waba_id), ("phone_number_id", phone_number_id), ("access_token", access_token),
                        ("sender_number", sender_number), ("timezone", timezone)):
        if value is not None:
            setattr(project, attr, value or None)


async def create(session: AsyncSession, name: str, **options) -> Project:  # noqa: ANN003
    name = name.strip()
    if not name:
        raise WacastError("Project name is required", "FIELD_REQUIRED")
    if (await session.execute(select(Project.id).where(Project.name == name))).first():
        raise Conflict(f"Project {name!r} already exists", "PROJECT_EXISTS")
    project = Project(name=name, default_country="IN", messages_per_second=80)
    _apply(project, **options)
    session.add(project)
    await session.flush()
    return project


async def update(session: AsyncSession, name: str, **options) -> Project:  # noqa: ANN003
    """Change a project's settings (clearing a sender halt is messages/senders.py's: it also
    releases the held sends)."""
    project = await get_by_name(session, name)
    _apply(project, **options)
    await session.flush()
    return project
