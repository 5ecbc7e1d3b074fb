"""Projects: a business's WhatsApp sender with its settings."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.kit.phone import is_valid_region
from wacast.models.projects import Project
from wacast.projects import guardrails, marketing_rules, repository

MAX_MESSAGES_PER_SECOND = 1000
NAME_MAX = 100  # the column's length
# The settings kept as text, with their columns' lengths (None: no limit but the base rule's).
TEXT_SETTINGS = {"waba_id": 64, "phone_number_id": 64, "access_token": None, "sender_number": 20, "timezone": 64}


async def get_by_name(session: AsyncSession, name: str) -> Project:
    project = await repository.by_name(session, text.check("project", name))
    if project is None:
        raise NotFound(f"Project {name!r} does not exist", "PROJECT_NOT_FOUND")
    return project


async def get(session: AsyncSession, project_id: uuid.UUID) -> Project:
    project = await repository.get(session, project_id)
    if project is None:
        raise NotFound("Project not found", "PROJECT_NOT_FOUND")
    return project


async def list_all(session: AsyncSession) -> list[Project]:
    """Every project, by name (`wacast projects list`)."""
    return await repository.list_all(session)


def _apply(project: Project, *, default_country=None, waba_id=None, phone_number_id=None, access_token=None,
           messages_per_second=None, sender_number=None, timezone=None, opt_out_keywords=None,
           opt_out_payloads=None, on_category_change=None, on_quality_drop=None) -> None:
    if default_country is not None:
        if not is_valid_region(default_country):
            raise WacastError(f"Unknown country code {default_country!r} (use ISO codes like IN, US, GB)", "INVALID_COUNTRY")
        project.default_country = default_country.upper()
    if messages_per_second is not None:
        if not 1 <= messages_per_second <= MAX_MESSAGES_PER_SECOND:
            raise WacastError(f"messages per second must be between 1 and {MAX_MESSAGES_PER_SECOND}", "INVALID_RATE")
        project.messages_per_second = messages_per_second
    if opt_out_keywords is not None:
        project.opt_out_keywords = [text.check("opt_out_keywords", k, max_len=100).upper() for k in opt_out_keywords]
    if opt_out_payloads is not None:
        project.opt_out_payloads = [text.check("opt_out_payloads", p, max_len=256) for p in opt_out_payloads]
    if on_category_change is not None:
        choice = guardrails.category_choice(on_category_change)
        if choice is None:
            raise WacastError(f"on_category_change must be one of: {', '.join(guardrails.CATEGORY_CHOICES)}", "FIELD_INVALID",
                              {"field": "on_category_change", "allowed": list(guardrails.CATEGORY_CHOICES)})
        project.on_category_change = choice
    if on_quality_drop is not None:
        choice = guardrails.quality_choice(on_quality_drop)
        if choice is None:
            raise WacastError(f"on_quality_drop must be one of: {', '.join(guardrails.QUALITY_CHOICES)}", "FIELD_INVALID",
                              {"field": "on_quality_drop", "allowed": list(guardrails.QUALITY_CHOICES)})
        project.on_quality_drop = choice
    values = {"waba_id": waba_id, "phone_number_id": phone_number_id, "access_token": access_token,
              "sender_number": sender_number, "timezone": timezone}
    for attr, value in values.items():
        if value is not None:
            limit = TEXT_SETTINGS[attr]
            text.check(attr, value, **({"max_len": limit} if limit else {}))
            setattr(project, attr, value or None)


async def create(session: AsyncSession, name: str, **options) -> Project:
    name = text.clean("name", name, max_len=NAME_MAX)
    if not name:
        raise WacastError("Project name is required", "FIELD_REQUIRED")
    if await repository.name_taken(session, name):
        raise Conflict(f"Project {name!r} already exists", "PROJECT_EXISTS")
    project = Project(name=name, default_country="IN", messages_per_second=80, on_category_change=guardrails.DEFAULT_CATEGORY_CHOICE,
                      on_quality_drop=guardrails.DEFAULT_QUALITY_CHOICE)
    _apply(project, **options)
    await repository.add(session, project)
    return project


async def update(session: AsyncSession, name: str, **options) -> Project:
    """Change a project's settings (clearing a sender halt is messages/senders.py's: it also
    releases the held sends)."""
    project = await get_by_name(session, name)
    _apply(project, **options)
    await session.flush()
    return project


async def set_consent_settings(session: AsyncSession, project_id: uuid.UUID, *, require_marketing_consent: bool | None = None,
                               consent_payloads: list[str] | None = None) -> Project:
    """The marketing-consent settings (checked by contacts/consent.parse_settings)."""
    project = await get(session, project_id)
    if require_marketing_consent is not None:
        project.require_marketing_consent = bool(require_marketing_consent)
    if consent_payloads is not None:
        project.consent_payloads = [text.check("consent_payloads", p, max_len=256) for p in consent_payloads]
    await session.flush()
    return project


def guardrail_settings(project: Project) -> dict[str, str]:
    """The project's guardrail choices (REST `GET /api/v1/settings/guardrails`, the dashboard):
    the two of parts 4-5 and the marketing region policy of part 3 (projects/marketing_rules.py)."""
    return {"on_category_change": project.on_category_change or guardrails.DEFAULT_CATEGORY_CHOICE,
            "on_quality_drop": project.on_quality_drop or guardrails.DEFAULT_QUALITY_CHOICE,
            "marketing_region_policy": project.marketing_region_policy or marketing_rules.DEFAULT_POLICY}


async def set_guardrails(session: AsyncSession, project_id: uuid.UUID, *, on_category_change: str | None = None,
                         on_quality_drop: str | None = None, marketing_region_policy: str | None = None) -> Project:
    """Change the guardrail choices (only those given; all checked before any changes)."""
    project = await get(session, project_id)
    choices = {"on_category_change": (guardrails.category_choice, guardrails.CATEGORY_CHOICES),
               "on_quality_drop": (guardrails.quality_choice, guardrails.QUALITY_CHOICES),
               "marketing_region_policy": (marketing_rules.policy_choice, marketing_rules.POLICIES)}
    given = {"on_category_change": on_category_change, "on_quality_drop": on_quality_drop, "marketing_region_policy": marketing_region_policy}
    for name, value in given.items():
        if value is not None:
            check, allowed = choices[name]
            if isinstance(value, str):
                text.check(name, value, max_len=20)
            if check(value) is None:
                raise WacastError(f"{name} must be one of: {', '.join(allowed)}", "FIELD_INVALID", {"field": name, "allowed": list(allowed)})
    _apply(project, on_category_change=on_category_change, on_quality_drop=on_quality_drop)
    if marketing_region_policy is not None:
        project.marketing_region_policy = marketing_rules.policy_choice(marketing_region_policy)
    await session.flush()
    return project
