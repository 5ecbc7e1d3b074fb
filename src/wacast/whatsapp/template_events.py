"""Meta's template events for a WABA: status (approved, rejected, paused...) and quality
changes, applied to the template in every project on that WABA."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.clock import utcnow
from wacast.projects import repository as projects_repo
from wacast.templates import repository as templates_repo
from wacast.webhooks import events as hooks


async def apply_template_change(session: AsyncSession, waba_id: str, field: str, value: dict, notes: list[str]) -> None:
    projects = await projects_repo.ids_with_waba(session, waba_id)
    if not projects:
        notes.append(f"template event for unknown WABA {waba_id!r}")
        return
    values: dict[str, Any] = {"updated_at": utcnow()}
    if field == "message_template_status_update":
        event = str(value.get("event", "")).upper()
        values["status"] = "APPROVED" if event in ("REINSTATED", "UNPAUSED") else event
        if event == "REJECTED":
            values["rejected_reason"] = str(value.get("reason") or "")[:500]
    elif field == "message_template_quality_update":
        values["quality"] = value.get("new_quality_score")
    else:
        notes.append(f"field {field} ignored")
        return
    before, updated = await templates_repo.update_from_meta_event(
        session, projects, meta_id=str(value.get("message_template_id", "")),
        name=value.get("message_template_name"), language=value.get("message_template_language"), values=values,
    )
    if "status" in values and before:  # customer webhooks: template.status.updated
        changed = await templates_repo.by_ids(session, before, fresh=True)
        for template in changed.values():
            await hooks.template_status(session, template.project_id, template, before.get(template.id))
    if not updated:
        notes.append(f"template event for unknown template {value.get('message_template_name')!r}")
    elif values.get("status") == "APPROVED":
        # Messages held while the template was paused can go now.
        for project_id in projects:
            await templates_repo.release_held_sends(session, project_id, utcnow())
