"""Marketing consent: each contact's evidence of its opt-in (docs/consent.md).

The current state is `contacts.marketing_consent`; every grant and withdrawal is a row of
`contact_consents` with how it came (method), from where (source), when, and the raw
evidence. Set by the campaign API's `marketing_consent` field (campaign_api/group_commit.py),
the REST API, the CSV import's `marketing_consent` column, the dashboard's contact page, the
CLI, and a double opt-in: a quick reply whose payload is one of the project's
`consent_payloads` (whatsapp/inbound_messages.py). An opt-out withdraws it.

A project with `require_marketing_consent` sends MARKETING templates only to contacts with a
consent: the campaign API refuses the others (CONSENT_REQUIRED), broadcasts skip them
(`no_consent`), the audience estimate counts them. The pure rules: consent_policy.py.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.contacts import consent_policy
from wacast.contacts import repository_consent as repo
from wacast.contacts import service
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.projects import service as projects

SETTINGS_FIELDS = ("require_marketing_consent", "consent_payloads")
MAX_PAYLOADS = 20


@dataclass
class ConsentEntry:
    granted: bool
    method: str
    source: str | None
    evidence: str | None
    given_at: datetime
    recorded_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def set_consent(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID, value: Any, *, method: str) -> service.ContactOut:
    """Grant or withdraw a contact's marketing consent (`value`: true, false or
    {granted, source, evidence, at}), recorded with its evidence."""
    if value is None:
        raise WacastError("marketing_consent is required", "FIELD_REQUIRED", {"field": "marketing_consent"})
    return await service.update_contact(session, project_id, ref, marketing_consent=value, consent_method=method)


async def history(session: AsyncSession, project_id: uuid.UUID, ref: str | uuid.UUID) -> list[ConsentEntry]:
    """Every grant and withdrawal of a contact, oldest first."""
    contact = await service._find(session, project_id, ref, former=True)
    return [ConsentEntry(r.granted, r.method, r.source, r.evidence, r.given_at, r.recorded_at) for r in await repo.history(session, contact.id)]


async def double_opt_in(session: AsyncSession, project_id: uuid.UUID, contact_id: uuid.UUID, *, payload: str, wamid: str,
                        at: datetime) -> bool:
    """A quick reply of the project's consent button: consent granted (True when it was not yet)."""
    if await repo.consent_of(session, contact_id):
        return False
    given = consent_policy.ConsentGiven(True, "whatsapp quick reply", f"quick reply payload {payload!r}, message {wamid}", at)
    await repo.record_many(session, [service.consent_row(project_id, contact_id, given, "double_opt_in", utcnow())])
    return True


def settings_view(project: Any) -> dict[str, Any]:
    return {"require_marketing_consent": bool(project.require_marketing_consent), "consent_payloads": list(project.consent_payloads or [])}


async def get_settings(session: AsyncSession, project_id: uuid.UUID) -> dict[str, Any]:
    return settings_view(await projects.get(session, project_id))


def parse_settings(body: Any) -> dict[str, Any]:
    """The consent settings a body changes (fields not given stay as they are)."""
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    changes: dict[str, Any] = {}
    if "require_marketing_consent" in body:
        if not isinstance(body["require_marketing_consent"], bool):
            raise WacastError("require_marketing_consent must be true or false", "INVALID_FIELD", {"field": "require_marketing_consent"})
        changes["require_marketing_consent"] = body["require_marketing_consent"]
    if "consent_payloads" in body:
        payloads = body["consent_payloads"]
        if not isinstance(payloads, list) or len(payloads) > MAX_PAYLOADS or not all(isinstance(p, str) for p in payloads):
            raise WacastError(f"consent_payloads must be a list of at most {MAX_PAYLOADS} texts", "FIELD_INVALID", {"field": "consent_payloads"})
        changes["consent_payloads"] = [text.check(f"consent_payloads[{i}]", p, max_len=256) for i, p in enumerate(payloads) if p.strip()]
    return changes


async def update_settings(session: AsyncSession, project_id: uuid.UUID, body: Any) -> dict[str, Any]:
    """Change require_marketing_consent and/or consent_payloads (REST, dashboard, CLI)."""
    project = await projects.set_consent_settings(session, project_id, **parse_settings(body))
    repo.forget_required()
    return settings_view(project)
