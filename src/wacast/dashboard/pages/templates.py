"""Templates: the list with previews, one template with what it needs, a new template
(submitted to Meta, approved at once in the sandbox) and the sync from Meta."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.dashboard.forms import Form, fields, uuid_or_404
from wacast.dashboard.web import Agent, DashboardRoute, Manager, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import NotFound, WacastError
from wacast.projects import service as projects_service
from wacast.templates import repository as templates_repo
from wacast.templates import service as templates_service
from wacast.templates import sync
from wacast.templates.params import analyze

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

# The fields each form posts (template_new.html, templates.html): any other is refused.
TemplateForm = fields(
    "name", "category", "language", "header_type", "header_text", "header_sample", "body", "body_samples", "footer",
    "quick_replies", "url_text", "url", "url_sample",
)
SyncForm = fields()


@router.get("/templates")
async def templates_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    items = await templates_service.list_for_project(session, ctx.project.id)
    rows = [{"t": t, "bubble": views.bubble(t.components, t.parameter_format)} for t in items]
    return render(ctx, "templates.html", rows=rows)


@router.get("/templates/new")
async def template_new(request: Request, ctx: Manager) -> Response:
    return render(ctx, "template_new.html", page="templates")


def template_definition(form: Form) -> dict[str, Any]:
    """The template the form describes, in Meta's shape (components)."""
    components: list[dict[str, Any]] = []
    header = form.text("header_type", "NONE").upper()
    if header == "TEXT":
        text = form.text("header_text")
        if not text:
            raise WacastError("Write the header text, or choose no header", "TEMPLATE_INVALID", {"field": "header_text"})
        components.append({"type": "HEADER", "format": "TEXT", "text": text})
    elif header in ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION"):
        component: dict[str, Any] = {"type": "HEADER", "format": header}
        sample = form.text("header_sample")
        if sample and header != "LOCATION":
            component["example"] = {"header_handle": [sample]}
        components.append(component)
    body = form.text("body", multiline=True)
    if not body:
        raise WacastError("The message body is required", "TEMPLATE_INVALID", {"field": "body"})
    body_component: dict[str, Any] = {"type": "BODY", "text": body}
    samples = [s.strip() for s in form.text("body_samples").split(",") if s.strip()]
    if samples:
        body_component["example"] = {"body_text": [samples]}
    components.append(body_component)
    footer = form.text("footer")
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    buttons: list[dict[str, Any]] = [
        {"type": "QUICK_REPLY", "text": line.strip()[:25]} for line in form.text("quick_replies", multiline=True).splitlines() if line.strip()
    ]
    url_text, url, url_sample = form.text("url_text"), form.text("url"), form.text("url_sample")
    if url_text and url:
        button: dict[str, Any] = {"type": "URL", "text": url_text[:25], "url": url}
        if "{{" in url and url_sample:
            button["example"] = [url_sample]
        buttons.append(button)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "name": form.text("name"),
        "language": form.text("language", "en") or "en",
        "category": form.text("category", "UTILITY").upper(),
        "components": components,
    }


@router.post("/templates")
async def template_create(request: Request, ctx: Manager, form: TemplateForm, session: WriteSession) -> Response:
    definition = template_definition(form)
    project = await projects_service.get(session, ctx.project.id)
    template = await sync.create_template(session, project, definition, request.app.state.settings)
    status = template.status
    text = "approved at once (sandbox)" if status == "APPROVED" else f"submitted to Meta for review ({status})"
    return redirect(ctx, f"/templates/{template.id}", f"Template {definition['name']} {text}.")


@router.post("/templates/sync")
async def template_sync(request: Request, ctx: Manager, _: SyncForm, session: WriteSession) -> Response:
    project = await projects_service.get(session, ctx.project.id)
    result = await sync.sync_project(session, project, request.app.state.settings)
    skipped = f", {len(result['skipped'])} skipped" if result["skipped"] else ""
    return redirect(ctx, "/templates", f"Synced {result['synced']} templates from Meta{skipped}.")


@router.get("/templates/{template_id}")
async def template_page(request: Request, template_id: str, ctx: Agent, session: ReadSession) -> Response:
    t = await templates_repo.get(session, ctx.project.id, uuid_or_404(template_id))
    if t is None:
        raise NotFound("Template not found", "TEMPLATE_NOT_FOUND")
    used_by = await repo.campaigns_using(session, t.id)
    return render(ctx, "template.html", page="templates", t=t, preview=views.bubble(t.components, t.parameter_format),
                  needs=analyze(t.components, t.parameter_format), used_by=used_by,
                  definition=json.dumps({"name": t.name, "language": t.language, "category": t.category, "components": t.components}, indent=2))
