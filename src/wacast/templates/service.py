"""Templates: stored in Meta's shape; added from a file, synced from Meta, or created."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.models.projects import Project
from wacast.models.templates import Template
from wacast.templates import repository, rules, statuses, tracked

NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
LANGUAGE_MAX = 20  # the column's length


def _check_text(data: dict[str, Any]) -> None:
    """Every string of a definition passes the base text rule (kit/text.py), whichever way it
    came (REST body, CLI file, dashboard form, Meta's listing): the components are stored as
    they come, and PostgreSQL cannot store a NUL."""
    for key, value in data.items():
        if not isinstance(key, str):
            raise WacastError("A template's keys must be strings", "TEMPLATE_INVALID")
        text.check("template (a key)", key, max_len=200)
        text.check_tree(value, key if len(key) <= 100 else "template")
    if isinstance(data.get("language"), str):
        text.check("language", data["language"], max_len=LANGUAGE_MAX)


def validate_definition(data: Any) -> dict[str, Any]:
    """Check a template in Meta's format; returns its normalized fields."""
    if not isinstance(data, dict):
        raise WacastError("A template must be a JSON object", "TEMPLATE_INVALID")
    _check_text(data)
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise WacastError("Template name must be lowercase letters, digits and _", "TEMPLATE_INVALID", {"field": "name"})
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise WacastError("Template language is required (e.g. en, en_US)", "TEMPLATE_INVALID", {"field": "language"})
    category = str(data.get("category", "UTILITY")).upper()
    if category not in CATEGORIES:
        raise WacastError(f"Template category must be one of {', '.join(CATEGORIES)}", "TEMPLATE_INVALID", {"field": "category"})
    components = data.get("components")
    if not isinstance(components, list) or not all(isinstance(c, dict) and "type" in c for c in components):
        raise WacastError("Template components must be a list of Meta components", "TEMPLATE_INVALID", {"field": "components"})
    if not any(str(c["type"]).upper() == "BODY" for c in components):
        raise WacastError("A template needs a BODY component", "TEMPLATE_INVALID", {"field": "components"})
    fmt = str(data.get("parameter_format", "POSITIONAL")).upper()
    if fmt not in ("POSITIONAL", "NAMED"):
        raise WacastError("parameter_format must be POSITIONAL or NAMED", "TEMPLATE_INVALID", {"field": "parameter_format"})
    quality = data.get("quality_score")
    ttl = data.get("message_send_ttl_seconds")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or not (ttl == -1 or 30 <= ttl <= 2592000)):
        raise WacastError("message_send_ttl_seconds must be -1 or 30 to 2592000 seconds", "TEMPLATE_INVALID", {"field": "message_send_ttl_seconds"})
    return {
        "message_send_ttl_seconds": ttl,
        "name": name,
        "language": language,
        "category": category,
        "components": components,
        "parameter_format": fmt,
        "status": str(data.get("status") or "").upper() or None,
        "meta_id": str(data["id"]) if data.get("id") else None,
        "quality": quality.get("score") if isinstance(quality, dict) else quality,
        "rejected_reason": data.get("rejected_reason") if data.get("rejected_reason") not in (None, "NONE") else None,
    }


SENDS_WORDS = {
    statuses.SendRule.send: "sent", statuses.SendRule.hold: "accepted and held until Meta releases the template",
    statuses.SendRule.wait: "refused (new) and held (queued)", statuses.SendRule.refuse: "refused; queued ones fail",
}


def status_view(t: Template) -> dict[str, Any]:
    """A template's status as REST and the dashboard show it: what it means for sends, Meta's
    rejection reason and recommendation, the last event's details, a warning when at risk,
    and the previous category and quality (template_category_update, message_template_quality_update)."""
    rule = statuses.rule_of(t.status)
    info = t.rejection_info if isinstance(t.rejection_info, dict) else {}
    rejection = None
    if t.status == "REJECTED" and (t.rejected_reason or info):
        rejection = {"reason": t.rejected_reason, "details": info.get("reason"), "recommendation": info.get("recommendation")}
    return {
        "sends": rule.value if rule else None,
        "sends_words": SENDS_WORDS[rule] if rule else "not refused (a status wacast does not know)",
        "status_words": statuses.words(t.status),
        "warning": statuses.words(t.status) if t.status in statuses.WARNING else None,
        "status_event": t.status_event, "status_detail": t.status_detail,
        "status_changed_at": t.status_changed_at,
        "rejection": rejection,
        "previous_category": t.previous_category, "category_notice": t.category_notice,
        "previous_quality": t.previous_quality, "components_update": t.components_update,
    }


def validate_submission(data: Any, public_url: str = "") -> dict[str, Any]:
    """A template to submit for review (created, edited or duplicated): Meta's format
    (validate_definition), its tracked buttons pointed at wacast (`tracked_buttons`,
    templates/tracked.py: needs WACAST_PUBLIC_URL) and Meta's rules (templates/rules.py:
    placeholders, samples, lengths, buttons). Meta's own listing and `wacast templates add`
    take validate_definition alone: what Meta already holds is stored as it is."""
    definition = validate_definition(data)
    definition["tracked_buttons"] = tracked.apply(definition, data.get("tracked_buttons"), public_url)
    rules.check(definition)
    return definition


async def upsert(session: AsyncSession, project: Project, definition: dict[str, Any], *, status: str) -> Template:
    template = await repository.find(session, project.id, definition["name"], definition["language"])
    if template is None:
        template = Template(id=uuid.uuid4(), project_id=project.id, name=definition["name"], language=definition["language"])
        repository.add(session, template)
    if template.category and template.category != definition["category"]:
        template.previous_category = template.category
    template.category = definition["category"]
    template.components = definition["components"]
    template.parameter_format = definition["parameter_format"]
    if template.status and template.status != status:
        # A status learnt from Meta's listing (or a new submission): the last event's words no longer apply.
        template.status_event, template.status_detail, template.status_changed_at = None, None, utcnow()
    template.status = status
    template.meta_id = definition.get("meta_id") or template.meta_id
    quality = definition.get("quality") or template.quality
    if template.quality and quality != template.quality:
        template.previous_quality = template.quality
    template.quality = quality
    template.rejected_reason = definition.get("rejected_reason")
    if status != "REJECTED":
        template.rejection_info = None  # Meta's words on a rejection stay while it is rejected
    if definition.get("message_send_ttl_seconds") is not None:
        template.message_send_ttl_seconds = definition["message_send_ttl_seconds"]
    if "tracked_buttons" in definition:  # a submission says; Meta's listing knows nothing of it
        template.tracked_buttons = definition["tracked_buttons"]
    template.updated_at = utcnow()
    await session.flush()
    return template


async def add_from_definition(session: AsyncSession, project: Project, data: Any) -> Template:
    """`wacast templates add`: a sandbox project approves at once (there is no Meta review)."""
    definition = validate_definition(data)
    status = "APPROVED" if project.provider == "sandbox" else (definition["status"] or "PENDING")
    return await upsert(session, project, definition, status=status)


async def find_optional(session: AsyncSession, project_id: uuid.UUID, name: str, language: str) -> Template | None:
    return await repository.find(session, project_id, text.check("name", name), text.check("language", language))


async def find(session: AsyncSession, project_id: uuid.UUID, name: str, language: str | None = None) -> Template:
    """A template by name; `language` chooses among several (TEMPLATE_LANGUAGE_AMBIGUOUS without it)."""
    templates = await repository.by_name(session, project_id, text.check("name", name), language and text.check("language", language))
    if not templates:
        raise NotFound(f"Template {name!r} does not exist" + (f" in language {language}" if language else ""), "TEMPLATE_NOT_FOUND")
    if len(templates) > 1:
        raise WacastError(
            f"Template {name!r} exists in several languages ({', '.join(t.language for t in templates)}); choose one with --language",
            "TEMPLATE_LANGUAGE_AMBIGUOUS",
        )
    return templates[0]


async def get(session: AsyncSession, project_id: uuid.UUID, template_id: uuid.UUID) -> Template:
    """A template of the project by id (TEMPLATE_NOT_FOUND, 404, if it is not the project's)."""
    template = await repository.get(session, project_id, template_id)
    if template is None:
        raise NotFound("Template not found", "TEMPLATE_NOT_FOUND", {"template": str(template_id)})
    return template


async def list_for_project(
    session: AsyncSession, project_id: uuid.UUID, *, status: str | None = None, name: str | None = None, category: str | None = None,
) -> list[Template]:
    """A project's templates by name and language; `status` and `category` match in any case."""
    return await repository.list_for_project(
        session, project_id,
        status=status and text.check("status", status, max_len=100).upper(),
        name=name and text.check("name", name),
        category=category and text.check("category", category, max_len=100).upper(),
    )


def _use_words(kind: str, name: str, status: str) -> str:
    return f"{'broadcast' if kind == 'broadcast' else 'campaign'} {name} ({status})"


async def ensure_unused(session: AsyncSession, template: Template) -> None:
    """409 TEMPLATE_IN_USE while a campaign or a broadcast uses the template (live, paused,
    scheduled or finished: each keeps its template), naming each with its status."""
    uses = await repository.campaign_uses(session, template.id)
    if uses:
        words = ", ".join(_use_words(kind, name, status) for name, kind, status in uses)
        raise Conflict(
            f"Template {template.name} ({template.language}) cannot be deleted: it is used by {words}. "
            "Delete those first, or give them another template.",
            "TEMPLATE_IN_USE",
            {"campaigns": [name for name, _, _ in uses],
             "uses": [{"name": name, "type": kind, "status": status} for name, kind, status in uses]},
        )


async def remove(session: AsyncSession, template: Template) -> None:
    """Delete a template; refused while a campaign uses it."""
    await ensure_unused(session, template)
    await repository.remove(session, template)


# --- edit and duplicate ----------------------------------------------------------------------

# Meta edits only templates in these states (an approved template goes back to review).
EDITABLE = ("APPROVED", "REJECTED", "PAUSED")
EDIT_FIELDS = ("name", "language", "category", "components", "parameter_format", "message_send_ttl_seconds", "tracked_buttons")


def prepare_edit(template: Template, data: Any, public_url: str = "") -> dict[str, Any]:
    """The edited definition of `template`: new components (and category, time-to-live), with
    Meta's rules. Name and language never change (duplicate the template for another one),
    nor does the parameter format; Meta edits only APPROVED, REJECTED and PAUSED templates,
    and never the category of an approved one."""
    if not isinstance(data, dict):
        raise WacastError("A template edit must be a JSON object", "TEMPLATE_INVALID")
    if template.status not in EDITABLE:
        raise Conflict(
            f"Template {template.name} is {template.status}: Meta edits only {', '.join(EDITABLE)} templates",
            "TEMPLATE_NOT_EDITABLE", {"status": template.status},
        )
    for key, current in (("name", template.name), ("language", template.language)):
        if key in data and data[key] != current:
            raise WacastError(
                f"A template's {key} cannot be changed (it is {current!r}); duplicate it under a new name instead",
                "TEMPLATE_INVALID", {"field": key},
            )
    fmt = str(data.get("parameter_format") or template.parameter_format).upper()
    if fmt != template.parameter_format:
        raise WacastError(
            f"A template's parameter_format cannot be changed (it is {template.parameter_format}); create a new template instead",
            "TEMPLATE_INVALID", {"field": "parameter_format"},
        )
    definition = validate_submission({
        "name": template.name, "language": template.language, "category": data.get("category", template.category),
        "components": data.get("components"), "parameter_format": fmt,
        "message_send_ttl_seconds": data.get("message_send_ttl_seconds", template.message_send_ttl_seconds),
        **({"tracked_buttons": data["tracked_buttons"]} if "tracked_buttons" in data else {}),
    }, public_url)
    if "tracked_buttons" not in data:  # not named: those still pointing at wacast stay tracked
        definition["tracked_buttons"] = tracked.kept_on_edit(template.tracked_buttons, definition["components"])
    if template.status == "APPROVED" and definition["category"] != template.category:
        raise WacastError(
            f"The category of an approved template cannot be changed (it is {template.category})",
            "TEMPLATE_INVALID", {"field": "category"},
        )
    return definition


async def apply_edit(session: AsyncSession, template: Template, definition: dict[str, Any], status: str) -> Template:
    """Store an edit Meta accepted for review (`status` PENDING; APPROVED in the sandbox)."""
    template.category = definition["category"]
    template.components = definition["components"]
    template.message_send_ttl_seconds = definition.get("message_send_ttl_seconds")
    template.tracked_buttons = definition.get("tracked_buttons")
    template.status = status
    template.rejected_reason = None
    template.rejection_info = None
    template.status_event, template.status_detail, template.status_changed_at = None, None, utcnow()
    template.updated_at = utcnow()
    await session.flush()
    return template


def duplicate_definition(template: Template, name: str, language: str | None = None) -> dict[str, Any]:
    """A template's definition under another name (and language): what a copy submits."""
    data: dict[str, Any] = {
        "name": name, "language": language or template.language, "category": template.category,
        "components": template.components, "parameter_format": template.parameter_format,
    }
    if template.message_send_ttl_seconds is not None:
        data["message_send_ttl_seconds"] = template.message_send_ttl_seconds
    if template.tracked_buttons:
        data["tracked_buttons"] = dict(template.tracked_buttons)
    return data


async def copy_name(session: AsyncSession, project_id: uuid.UUID, name: str, language: str) -> str:
    """The first free name for a copy of `name` in `language`: name_copy, name_copy_2, ..."""
    base = f"{name}_copy"[:500]
    candidate, n = base, 1
    while await repository.find(session, project_id, candidate, language) is not None:
        n += 1
        candidate = f"{base}_{n}"
    return candidate
