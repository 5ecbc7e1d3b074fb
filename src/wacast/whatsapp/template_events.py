"""Meta's template events for a WABA, applied to the template in every project on that WABA:

- message_template_status_update: the status as templates/statuses.py maps Meta's event (never
  copied), Meta's reason and its rejection_info (reason and recommendation, in full), the
  event's details in words (other_info, disable_info); customer webhook template.status.updated;
  sends held for the template go out when it can be sent again;
- message_template_quality_update: the new quality, with the previous one;
- template_category_update: the new category with the previous one, or the impending change;
  a change from UTILITY to MARKETING holds the template's sends unless the project chose
  `continue` (projects/guardrails.py): queued messages wait with the reason, the campaign API
  still accepts (the dispatcher holds them), running broadcasts wait; customer webhook
  template.category_changed; a manager releases it (`release_category_hold`);
- message_template_components_update: what Meta reports is kept, and the project's template
  sync is made due so that the new components are fetched.

Meta's body is untrusted: every field may be missing, of another type, huge or hostile. The
readers below (pure; tests/unit/test_template_event_values.py) keep only what is well formed,
with text capped and control characters removed.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.clock import utcnow
from wacast.kit.errors import Conflict
from wacast.models.templates import Template
from wacast.notifications.service import notify
from wacast.projects import guardrails
from wacast.projects import repository as projects_repo
from wacast.projects import repository_guardrails as guard_repo
from wacast.templates import repository as templates_repo
from wacast.templates import statuses
from wacast.webhooks import events as hooks
from wacast.whatsapp import account_policy

log = logging.getLogger("wacast.events")
CATEGORY_TOPIC = "template.category_changed"
HOLD_RECHECK_SECONDS = 60.0  # a held message is looked at again after this (the release makes it due at once)

CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
QUALITIES = ("GREEN", "YELLOW", "RED", "UNKNOWN")
REASON_MAX = 500  # templates.rejected_reason
INFO_MAX = 2000  # each of rejection_info's texts
DETAIL_MAX = 1000  # templates.status_detail
# Statuses people are told about (docs/notifications.md, kind template.status): sends are held,
# refused, or at risk.
WARNED_STATUSES = {"PAUSED": "warning", "DISABLED": "critical", "REJECTED": "warning", "FLAGGED": "warning"}
_WORD = re.compile(r"[A-Z][A-Z0-9_]{0,29}")
# A text of Meta's as kept (whatsapp/account_policy.meta_text), its newlines kept: a rejection's
# reason and recommendation are shown as paragraphs.
meta_text = functools.partial(account_policy.meta_text, keep_newlines=True)


# --- reading Meta's values (pure) -----------------------------------------------------------


def meta_word(value: Any, allowed: tuple[str, ...] | None = None) -> str | None:
    """An enum value of Meta's (APPROVED, MARKETING, YELLOW...), upper case, or None."""
    if not isinstance(value, str):
        return None
    word = value.strip().upper()
    if not _WORD.fullmatch(word) or (allowed is not None and word not in allowed):
        return None
    return word


def meta_time(value: Any) -> datetime | None:
    """A Unix timestamp of Meta's (number or digits), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int | float) or not (0 < value < 10**11):
        return None
    return datetime.fromtimestamp(value, UTC)


def rejection_info(value: dict) -> dict[str, str] | None:
    """rejection_info's reason and recommendation, each in full (capped), or None."""
    info = value.get("rejection_info")
    if not isinstance(info, dict):
        return None
    kept = {key: meta_text(info.get(key), INFO_MAX) for key in ("reason", "recommendation")}
    kept = {k: v for k, v in kept.items() if v}
    return kept or None


def status_detail(value: dict) -> str | None:
    """The details of a status event in words: other_info's title and description, the
    disable date, a reason other than NONE on an event that is not a rejection."""
    parts: list[str] = []
    other = value.get("other_info")
    if isinstance(other, dict):
        title = meta_word(other.get("title"))
        description = meta_text(other.get("description"), DETAIL_MAX)
        if title or description:
            parts.append(": ".join(p for p in (title, description) if p))
    disable = value.get("disable_info")
    if isinstance(disable, dict):
        when = meta_time(disable.get("disable_date"))
        if when is not None:
            parts.append(f"disabled on {when:%Y-%m-%d %H:%M} UTC")
    reason = meta_text(value.get("reason"), REASON_MAX)
    if reason and reason.upper() != "NONE" and meta_word(value.get("event")) != "REJECTED":
        parts.append(f"reason {reason}")
    text = "; ".join(p for p in parts if p)
    return meta_text(text, DETAIL_MAX) if text else None


def components_update(value: dict, now: datetime) -> dict[str, Any]:
    """message_template_components_update as wacast keeps it: body, header, footer, buttons."""
    kept: dict[str, Any] = {"received_at": now.isoformat().replace("+00:00", "Z")}
    for key, name in (("message_template_element", "body"), ("message_template_title", "header"), ("message_template_footer", "footer")):
        text = meta_text(value.get(key), 1024)
        if text:
            kept[name] = text
    buttons: list[dict[str, str]] = []
    given = value.get("message_template_buttons")
    for button in given if isinstance(given, list) else []:
        if not isinstance(button, dict) or len(buttons) >= 10:
            continue
        kept_button = {name: meta_text(button.get(f"message_template_button_{name}"), 2000) for name in ("type", "text", "url", "phone_number")}
        buttons.append({k: v for k, v in kept_button.items() if v})
    if buttons:
        kept["buttons"] = buttons
    return kept


# --- applying them --------------------------------------------------------------------------


async def apply_template_change(session: AsyncSession, waba_id: str, field: str, value: dict, notes: list[str]) -> None:
    projects = await projects_repo.ids_with_waba(session, waba_id)
    if not projects:
        notes.append(f"template event for unknown WABA {waba_id[:64]!r}")
        return
    meta_id = value.get("message_template_id")
    name, language = meta_text(value.get("message_template_name"), 512), meta_text(value.get("message_template_language"), 20)
    meta_id = str(meta_id)[:64] if isinstance(meta_id, int | str) and not isinstance(meta_id, bool) and str(meta_id).strip() else ""
    templates = await templates_repo.for_meta_event(session, projects, meta_id=meta_id, name=name, language=language)
    if not templates:
        notes.append(f"template event for unknown template {name!r}")
        return
    now = utcnow()
    if field == "message_template_status_update":
        await _status(session, templates, value, now, notes)
    elif field == "message_template_quality_update":
        _quality(templates, value, notes)
    elif field == "template_category_update":
        await _category(session, templates, value, now, notes)
    elif field == "message_template_components_update":
        update = components_update(value, now)
        for template in templates:
            template.components_update = update
        for project_id in {t.project_id for t in templates}:  # the next sync fetches the new components
            await templates_repo.set_synced_at(session, project_id, None)
    else:
        notes.append(f"field {field} ignored")
        return
    for template in templates:
        template.updated_at = now
    await session.flush()


async def _status(session: AsyncSession, templates: list[Template], value: dict, now: datetime, notes: list[str]) -> None:
    event = meta_word(value.get("event")) or ""
    rule = statuses.for_event(event)
    detail = status_detail(value)
    category = meta_word(value.get("message_template_category"), CATEGORIES)
    released: set[uuid.UUID] = set()
    for template in templates:
        before = template.status
        template.status_event = event or None
        template.status_changed_at = now
        if rule is None:  # an event wacast does not know: the status stays, the event is noted
            template.status_detail = meta_text(
                f"Meta sent event {event or '(none)'}, which wacast does not know; the status stays {before}", DETAIL_MAX)
            notes.append(f"template event {event or '(none)'!s} not known: status kept")
            continue
        template.status = rule.stored
        template.status_detail = detail
        if rule.stored == "REJECTED":
            template.rejected_reason = meta_text(value.get("reason"), REASON_MAX)
            template.rejection_info = rejection_info(value)
        else:
            template.rejected_reason = None
            template.rejection_info = None
        if category and category != template.category:
            template.previous_category, template.category = template.category, category
        await session.flush()
        await hooks.template_status(session, template.project_id, template, before)
        if template.status in WARNED_STATUSES and template.status != before:
            await _warn_status(session, template, before)
        if statuses.can_send(template.status) and not statuses.can_send(before):
            released.add(template.project_id)
    # Messages held while the template could not be sent go now.
    for project_id in released:
        await templates_repo.release_held_sends(session, project_id, now)


def _quality(templates: list[Template], value: dict, notes: list[str]) -> None:
    new = meta_word(value.get("new_quality_score"), QUALITIES)
    if new is None:
        notes.append("template quality event without a known new_quality_score")
        return
    previous = meta_word(value.get("previous_quality_score"), QUALITIES)
    for template in templates:
        template.previous_quality = previous or template.quality
        template.quality = new


async def _warn_status(session: AsyncSession, template: Template, before: str | None) -> None:
    text = f"Template {template.name} ({template.language}) is {statuses.words(template.status)}."
    if template.status_detail:
        text += f" {template.status_detail}"
    if template.status == "REJECTED" and template.rejected_reason:
        text += f" Meta's reason: {template.rejected_reason}."
    await notify(session, template.project_id, "template.status", WARNED_STATUSES[template.status],
                 f"Template {template.name} {template.status.lower()}", text, f"/templates/{template.id}",
                 {"template_id": str(template.id), "name": template.name, "language": template.language,
                  "status": template.status, "previous_status": before})


async def _warn_category(session: AsyncSession, template: Template, previous: str | None, new: str, *, impending: bool = False,
                        held: bool = False) -> None:
    up = new == "MARKETING" and previous != "MARKETING"  # now billed and limited as marketing
    if impending:
        title = f"Template {template.name} will become {new}"
        text = f"Meta will recategorise template {template.name} ({template.language}) from {previous or 'its category'} to {new}."
    else:
        title = f"Template {template.name} is now {new}"
        text = f"Meta recategorised template {template.name} ({template.language}) from {previous or 'another category'} to {new}."
    if up:
        text += " Marketing messages are priced and limited as marketing (per-user limits, regions where Meta does not deliver them)."
    if held:
        text += " Its sends are held until a manager accepts the new category (the template's page)."
    await notify(session, template.project_id, "template.category", "warning" if up or held else "info", title, text,
                 f"/templates/{template.id}", {"template_id": str(template.id), "name": template.name,
                                               "previous_category": previous, "category": new, "impending": impending, "held": held})


async def _category(session: AsyncSession, templates: list[Template], value: dict, now: datetime, notes: list[str]) -> None:
    new = meta_word(value.get("new_category"), CATEGORIES)
    correct = meta_word(value.get("correct_category"), CATEGORIES)
    previous = meta_word(value.get("previous_category"), CATEGORIES)
    if correct is not None:  # impending: Meta will recategorise it (in 24 hours)
        at = meta_time(value.get("category_update_timestamp"))
        notice = {"correct_category": correct, "current_category": new,
                  "at": at.isoformat().replace("+00:00", "Z") if at else None}
        for template in templates:
            told = template.category_notice != notice
            template.category_notice = notice
            await announce_category_change(session, template, new or template.category, correct, held=False, impending=notice, tell=told)
        return
    if new is None:
        notes.append("template category event without a known new_category")
        return
    for template in templates:
        before = previous or template.category
        if new != template.category or previous:
            template.previous_category = before
        template.category = new
        template.category_notice = None
        if before == new:
            continue
        project = await projects_repo.get(session, template.project_id)
        held = guardrails.holds_category_change(before, new, getattr(project, "on_category_change", None))
        if held and not template.category_hold:
            await hold_for_category(session, template, before, new, now)
        await announce_category_change(session, template, before, new, held=held)


async def hold_for_category(session: AsyncSession, template: Template, previous: str, new: str, now: datetime) -> int:
    """Hold the template's sends for its new category: its queued messages wait with the reason
    (the dispatcher holds those it claims, and the campaign API's new ones, with the same words);
    running broadcasts of it wait at their next batch. Returns the messages held now."""
    reason = guardrails.category_hold_reason(template.name, previous, new, now)
    template.category_hold, template.category_hold_at = reason, now
    await session.flush()
    held = await guard_repo.hold_template_sends(session, template.id, reason, now + timedelta(seconds=HOLD_RECHECK_SECONDS))
    log.warning("template %s recategorised %s -> %s: sends held (%d queued) until a manager accepts it", template.name, previous, new, held)
    return held


async def announce_category_change(session: AsyncSession, template: Template, previous: str | None, new: str | None, *,
                                   held: bool, impending: dict | None = None, tell: bool = True) -> None:
    """The one place a category change is told to the owner: the customer webhook
    template.category_changed (the dashboard reads the template's columns; /metrics counts the
    holds) and the notifications panel (with the owners' emails)."""
    data = {"template": {"id": str(template.id), "name": template.name, "language": template.language,
                         "category": template.category, "previous_category": previous, "new_category": new,
                         "held": held, "hold_reason": template.category_hold if held else None},
            "impending": impending is not None, "notice": impending}
    await hooks.emit_if_wanted(session, template.project_id, CATEGORY_TOPIC, data)
    if tell and new and new != previous:  # a repeated announcement is not told again
        await _warn_category(session, template, previous, new, impending=impending is not None, held=held)


async def release_category_hold(session: AsyncSession, project_id: uuid.UUID, template_id: uuid.UUID, by: str | None = None) -> int:
    """A manager accepts the template's new category: its held sends go now (running broadcasts
    go on at their next batch). Returns the messages released. Conflict when nothing is held."""
    template = await templates_repo.get(session, project_id, template_id)
    if template is None or not template.category_hold:
        raise Conflict("This template's sends are not held by a category change", "TEMPLATE_NOT_HELD")
    reason, now = template.category_hold, utcnow()
    template.category_hold, template.category_hold_at = None, None
    template.updated_at = now
    released = await guard_repo.release_template_sends(session, template.id, reason, now)
    await session.flush()
    log.info("template %s: category %s accepted by %s; %d held message(s) released", template.name, template.category, by or "a manager", released)
    return released
