"""REST API: /api/v1/templates: list, get, create and submit to Meta, edit, duplicate, delete (full-scope keys)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from wacast.api.auth import ApiIdentity, require_full
from wacast.api.common import NoBody, allow_fields, answer, body_object, doc
from wacast.db.requests import ReadSession
from wacast.kit.errors import Conflict, WacastError
from wacast.models.templates import Template
from wacast.projects import service as projects
from wacast.templates import service, sync
from wacast.templates.params import analyze

router = APIRouter(prefix="/api/v1", tags=["Templates"])
FULL_KEY = Depends(require_full)

TEMPLATE = {
    "id": "3f0c2b1a-9d8e-4f7a-b6c5-d4e3f2a1b0c9", "name": "order_update", "language": "en", "category": "UTILITY",
    "status": "APPROVED", "quality": "GREEN", "rejected_reason": None, "parameter_format": "POSITIONAL", "total_parameters": 2,
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}], "meta_id": "1234567890",
    "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:30:00Z",
    # What the status means for sends (templates/statuses.py; docs/meta-events.md) and Meta's words.
    "sends": "send", "sends_words": "sent", "status_words": "approved by Meta", "warning": None,
    "status_event": "APPROVED", "status_detail": None, "status_changed_at": "2026-11-01T09:30:00Z",
    "rejection": None, "previous_category": None, "category_notice": None, "previous_quality": None, "components_update": None,
    "tracked_buttons": {},
}
# What a create request may carry (Meta's template fields wacast submits); any other field is
# refused (422 naming it), never dropped on the way to Meta.
# `tracked_buttons` ({"<button index>": "<destination pattern>"}) is wacast's own: those URL
# buttons are pointed at <WACAST_PUBLIC_URL>/r/{{1}} and each send carries a token (docs/links.md).
TEMPLATE_FIELDS = ("name", "language", "category", "components", "parameter_format", "message_send_ttl_seconds", "tracked_buttons")
CREATE_EXAMPLE = {
    "name": "order_update", "language": "en", "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Asha", "ORD-1"]]}}],
}
# An edit replaces the components (and may change the category of a template not approved, or
# its time-to-live); name, language and parameter_format, if given, must be the template's.
EDIT_FIELDS = service.EDIT_FIELDS
EDIT_EXAMPLE = {
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} is on its way.", "example": {"body_text": [["Asha", "ORD-1"]]}}],
}
DUPLICATE_FIELDS = ("name", "language")
DUPLICATE_EXAMPLE = {"name": "order_update_v2"}


def template_out(t: Template) -> dict[str, Any]:
    try:
        total = analyze(t.components, t.parameter_format).total_parameters
    except Exception:  # a template Meta accepted but wacast cannot read: still listed  # noqa: BLE001
        total = None
    return {
        "id": str(t.id), "name": t.name, "language": t.language, "category": t.category, "status": t.status, "quality": t.quality,
        "rejected_reason": t.rejected_reason, "parameter_format": t.parameter_format, "total_parameters": total,
        "components": t.components, "meta_id": t.meta_id, "created_at": t.created_at, "updated_at": t.updated_at,
        "tracked_buttons": t.tracked_buttons or {},
        **service.status_view(t),
    }


async def _find(session: Any, project_id: uuid.UUID, ref: str, language: str | None) -> Template:
    try:
        template_id = uuid.UUID(ref)
    except ValueError:
        return await service.find(session, project_id, ref, language)
    return await service.get(session, project_id, template_id)


@router.get("/templates", summary="List templates with status and parameter count", **doc({"data": [TEMPLATE]}, 403))
async def list_templates(
    session: ReadSession, identity: ApiIdentity = FULL_KEY,
    status: str | None = Query(None, description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED..."),
    name: str | None = Query(None), category: str | None = Query(None),
) -> Any:
    rows = await service.list_for_project(session, identity.project_id, status=status, name=name, category=category)
    return answer({"data": [template_out(t) for t in rows]})


@router.get("/templates/{template}", summary="A template by id, or by name (with ?language= when it has several)",
            **doc(TEMPLATE, 400, 403, 404))
async def get_template(template: str, session: ReadSession, identity: ApiIdentity = FULL_KEY,
                       language: str | None = Query(None)) -> Any:
    return answer(template_out(await _find(session, identity.project_id, template, language)))


async def _create(request: Request, session: Any, identity: ApiIdentity, data: Any) -> Any:
    definition = service.validate_submission(data, request.app.state.settings.public_url)
    if await service.find_optional(session, identity.project_id, definition["name"], definition["language"]) is not None:
        raise Conflict(f"Template {definition['name']} ({definition['language']}) already exists", "TEMPLATE_EXISTS")
    project = await projects.get(session, identity.project_id)
    await sync.check_creatable(session, project, definition)
    # Meta's POST sits between the checks and the write: the checks read, the write opens its
    # own transaction once Meta answered (no write lock is held while Meta reviews the call).
    status = await sync.submit(project, definition, request.app.state.settings)
    async with request.app.state.db.transaction() as write:
        template = await service.upsert(write, project, definition, status=status)
        return answer(template_out(template), 201)


@router.post("/templates", status_code=201, summary="Create a template and submit it to Meta for review (sandbox: approved at once)",
             **doc(TEMPLATE, 400, 403, 409, 422, status=201, request_example=CREATE_EXAMPLE, fields=TEMPLATE_FIELDS))
async def create_template(request: Request, session: ReadSession, identity: ApiIdentity = FULL_KEY) -> Any:
    data = await body_object(request)
    allow_fields(data, TEMPLATE_FIELDS)
    return await _create(request, session, identity, data)


@router.put("/templates/{template}", summary="Edit a template: new components, submitted to Meta for review (an approved template goes back to PENDING; sandbox: approved at once)",
            **doc(TEMPLATE, 400, 403, 404, 409, 422, request_example=EDIT_EXAMPLE, fields=EDIT_FIELDS))
async def edit_template(template: str, request: Request, session: ReadSession, identity: ApiIdentity = FULL_KEY,
                        language: str | None = Query(None)) -> Any:
    data = await body_object(request)
    allow_fields(data, EDIT_FIELDS)
    found = await _find(session, identity.project_id, template, language)
    definition = service.prepare_edit(found, data, request.app.state.settings.public_url)
    project = await projects.get(session, identity.project_id)
    # Meta's POST /{template-id} sits between the checks and the write, as for a creation.
    status = await sync.submit_edit(project, found, definition, request.app.state.settings)
    async with request.app.state.db.transaction() as write:
        edited = await service.apply_edit(write, await service.get(write, identity.project_id, found.id), definition, status)
        return answer(template_out(edited))


@router.post("/templates/{template}/duplicate", status_code=201,
             summary="Copy a template under a new name (or language), created and submitted like a new one",
             **doc(TEMPLATE, 400, 403, 404, 409, 422, status=201, request_example=DUPLICATE_EXAMPLE, fields=DUPLICATE_FIELDS))
async def duplicate_template(template: str, request: Request, session: ReadSession, identity: ApiIdentity = FULL_KEY,
                             language: str | None = Query(None)) -> Any:
    data = await body_object(request)
    allow_fields(data, DUPLICATE_FIELDS)
    found = await _find(session, identity.project_id, template, language)
    name, new_language = data.get("name"), data.get("language")
    if not isinstance(name, str) or not name:
        raise WacastError("name (the copy's name) is required", "FIELD_REQUIRED", {"field": "name"})
    if new_language is not None and not isinstance(new_language, str):
        raise WacastError("language must be a string", "FIELD_INVALID", {"field": "language"})
    return await _create(request, session, identity, service.duplicate_definition(found, name, new_language or None))


@router.delete("/templates/{template}", status_code=204, response_class=Response,
               summary="Delete a template (at Meta too); refused while a campaign or broadcast uses it, naming them", **doc(None, 400, 403, 404, 409, status=204, write=True))
async def delete_template(template: str, request: Request, _: NoBody, session: ReadSession, identity: ApiIdentity = FULL_KEY,
                          language: str | None = Query(None)) -> Response:
    found = await _find(session, identity.project_id, template, language)
    await service.ensure_unused(session, found)
    project = await projects.get(session, identity.project_id)
    # Meta's DELETE sits between the checks and the write: the write opens its own transaction
    # once Meta deleted it there (and checks again that no campaign took the template meanwhile).
    await sync.delete_on_meta(project, found, request.app.state.settings)
    async with request.app.state.db.transaction() as write:
        await service.remove(write, await service.get(write, identity.project_id, found.id))
    return Response(status_code=204)
