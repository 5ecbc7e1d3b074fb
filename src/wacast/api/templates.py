"""REST API: /api/v1/templates: list, get, create and submit to Meta, delete (full-scope keys)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from wacast.api.auth import ApiIdentity, require_full
from wacast.models.campaigns import Campaign
from wacast.api.common import answer, body_object, doc
from wacast.kit.errors import Conflict, NotFound, WacastError
from wacast.models.projects import Project
from wacast.templates import service, sync
from wacast.models.templates import Template
from wacast.templates.params import analyze
from wacast.meta.client import GraphClient

router = APIRouter(prefix="/api/v1", tags=["Templates"])

TEMPLATE = {
    "id": "3f0c2b1a-9d8e-4f7a-b6c5-d4e3f2a1b0c9", "name": "order_update", "language": "en", "category": "UTILITY",
    "status": "APPROVED", "quality": "GREEN", "rejected_reason": None, "parameter_format": "POSITIONAL", "total_parameters": 2,
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."}], "meta_id": "1234567890",
    "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:30:00Z",
}
CREATE_EXAMPLE = {
    "name": "order_update", "language": "en", "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped.", "example": {"body_text": [["Asha", "ORD-1"]]}}],
}


def template_out(t: Template) -> dict[str, Any]:
    try:
        total = analyze(t.components, t.parameter_format).total_parameters
    except Exception:  # a template Meta accepted but wacast cannot read: still listed  # noqa: BLE001
        total = None
    return {
        "id": str(t.id), "name": t.name, "language": t.language, "category": t.category, "status": t.status, "quality": t.quality,
        "rejected_reason": t.rejected_reason, "parameter_format": t.parameter_format, "total_parameters": total,
        "components": t.components, "meta_id": t.meta_id, "created_at": t.created_at, "updated_at": t.updated_at,
    }


async def _find(session: Any, project_id: uuid.UUID, ref: str, language: str | None) -> Template:
    try:
        template = (await session.execute(select(Template).where(Template.project_id == project_id, Template.id == uuid.UUID(ref)))).scalar_one_or_none()
        if template is None:
            raise NotFound("Template not found", "TEMPLATE_NOT_FOUND", {"template": ref})
        return template
    except ValueError:
        return await service.find(session, project_id, ref, language)


@router.get("/templates", summary="List templates with status and parameter count", **doc({"data": [TEMPLATE]}, 403))
async def list_templates(
    request: Request, identity: ApiIdentity = Depends(require_full),
    status: str | None = Query(None, description="APPROVED, PENDING, REJECTED, PAUSED, DISABLED..."),
    name: str | None = Query(None), category: str | None = Query(None),
) -> Any:
    stmt = select(Template).where(Template.project_id == identity.project_id)
    if status:
        stmt = stmt.where(Template.status == status.upper())
    if name:
        stmt = stmt.where(Template.name == name)
    if category:
        stmt = stmt.where(Template.category == category.upper())
    async with request.app.state.db.sessionmaker() as session:
        rows = (await session.execute(stmt.order_by(Template.name, Template.language))).scalars().all()
    return answer({"data": [template_out(t) for t in rows]})


@router.get("/templates/{template}", summary="A template by id, or by name (with ?language= when it has several)",
            **doc(TEMPLATE, 400, 403, 404))
async def get_template(template: str, request: Request, identity: ApiIdentity = Depends(require_full), language: str | None = Query(None)) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        return answer(template_out(await _find(session, identity.project_id, template, language)))


@router.post("/templates", status_code=201, summary="Create a template and submit it to Meta for review (sandbox: approved at once)",
             **doc(TEMPLATE, 400, 403, 409, 422, status=201, request_example=CREATE_EXAMPLE))
async def create_template(request: Request, identity: ApiIdentity = Depends(require_full)) -> Any:
    data = await body_object(request)
    definition = service.validate_definition(data)
    settings = request.app.state.settings
    async with request.app.state.db.transaction() as session:
        if await service.find_optional(session, identity.project_id, definition["name"], definition["language"]) is not None:
            raise Conflict(f"Template {definition['name']} ({definition['language']}) already exists", "TEMPLATE_EXISTS")
        project = await session.get(Project, identity.project_id)
        template = await sync.create_template(session, project, data, settings)
        return answer(template_out(template), 201)


@router.delete("/templates/{template}", status_code=204, response_class=Response,
               summary="Delete a template (at Meta too); refused while a campaign uses it", **doc(None, 400, 403, 404, 409, status=204, write=True))
async def delete_template(template: str, request: Request, identity: ApiIdentity = Depends(require_full), language: str | None = Query(None)) -> Response:
    settings = request.app.state.settings
    async with request.app.state.db.transaction() as session:
        found = await _find(session, identity.project_id, template, language)
        users = (await session.execute(select(Campaign.name).where(Campaign.template_id == found.id))).scalars().all()
        if users:
            raise Conflict(f"Template {found.name} is used by campaign(s) {', '.join(users)}", "TEMPLATE_IN_USE", {"campaigns": list(users)})
        project = await session.get(Project, identity.project_id)
        if project.provider == "cloud" and found.meta_id and project.waba_id:

            client = GraphClient(settings.graph_api_url, settings.graph_api_version, timeout=settings.graph_api_timeout)
            try:
                response = await client.request("DELETE", f"/{project.waba_id}/message_templates", project.access_token,
                                                params={"name": found.name, "hsm_id": found.meta_id})
            except httpx.HTTPError as error:
                raise WacastError("Meta could not be reached to delete the template; try again", "META_UNREACHABLE",
                                  {"error": str(error)[:200]}, status_code=502) from None
            finally:
                await client.close()
            if response.status_code >= 400 and response.status_code != 404:
                raise WacastError("Meta refused to delete the template", "META_ERROR", {"status": response.status_code, "body": response.text[:500]}, status_code=502)
        await session.delete(found)
    return Response(status_code=204)
