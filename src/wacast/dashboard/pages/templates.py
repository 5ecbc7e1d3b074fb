"""Templates: the list with previews, one template with what it needs, a new template
(submitted to Meta, approved at once in the sandbox), edit, duplicate and delete, and the sync
from Meta. Creating, editing, duplicating and deleting call the same functions as REST and the
CLI (templates/sync.py); a template Meta would refuse shows the form again, as typed, with the
reason (templates/rules.py)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard import views
from wacast.dashboard.forms import Form, fields, query_text, uuid_or_404
from wacast.dashboard.web import Agent, Ctx, DashboardRoute, Manager, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.models.templates import Template
from wacast.projects import service as projects_service
from wacast.templates import repository as templates_repo
from wacast.templates import service as templates_service
from wacast.templates import sync, tracked
from wacast.templates.params import NAMED_RE, POSITIONAL_RE, analyze
from wacast.projects import repository_guardrails as guard_repo
from wacast.whatsapp import template_events

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

# The fields each form posts (template_new.html, template.html, templates.html): any other is refused.
FORM_FIELDS = (
    "name", "category", "language", "parameter_format", "header_type", "header_text", "header_sample", "header_example",
    "body", "body_samples", "footer", "quick_replies", "url_text", "url", "url_sample", "url_track",
)
MULTILINE = ("body", "body_samples", "quick_replies")
TemplateForm = fields(*FORM_FIELDS)
DuplicateForm = fields("name")
SyncForm = fields()
ButtonForm = fields()
MEDIA_HEADERS = ("IMAGE", "VIDEO", "DOCUMENT")


@router.get("/templates")
async def templates_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    items = await templates_service.list_for_project(session, ctx.project.id)
    rows = [{"t": t, "bubble": views.bubble(t.components, t.parameter_format), "sv": templates_service.status_view(t)} for t in items]
    return render(ctx, "templates.html", rows=rows)


# --- the form and Meta's shape ------------------------------------------------------------------


def typed_values(form: Form) -> dict[str, str]:
    """What was typed, every field through the text rule (a refused character is the dashboard's
    usual FIELD_INVALID, shown on the page it came from)."""
    return {name: form.text(name, multiline=name in MULTILINE) for name in FORM_FIELDS}


def split_samples(text: str) -> list[str]:
    """Sample values: one per line, or comma-separated on one line."""
    parts = text.splitlines() if "\n" in text else text.split(",")
    return [part.strip() for part in parts if part.strip()]


def _names(text: str, fmt: str) -> list[str]:
    """A text's placeholders in order of appearance, each once."""
    pattern = NAMED_RE if fmt == "NAMED" else POSITIONAL_RE
    return list(dict.fromkeys(pattern.findall(text)))


def _text_example(key: str, text: str, samples: list[str], fmt: str) -> dict[str, Any] | None:
    """Meta's example of a header or body text: positional rows, or one entry per name."""
    if not samples:
        return None
    if fmt == "NAMED":
        names = _names(text, fmt)
        pairs = [{"param_name": n, "example": v} for n, v in zip(names, samples, strict=False)]
        # Samples beyond the names are kept under no name, so Meta's rule reports the count.
        pairs += [{"param_name": "", "example": v} for v in samples[len(names):]]
        return {f"{key}_named_params": pairs}
    return {key: [samples] if key == "body_text" else samples}


def template_definition(v: dict[str, str]) -> dict[str, Any]:
    """The template the form describes, in Meta's shape (components)."""
    fmt = (v.get("parameter_format") or "POSITIONAL").upper()
    components: list[dict[str, Any]] = []
    header = (v.get("header_type") or "NONE").upper()
    if header == "TEXT":
        text = v.get("header_text", "")
        if not text:
            raise WacastError("Write the header text, or choose no header", "TEMPLATE_INVALID", {"field": "header_text"})
        component: dict[str, Any] = {"type": "HEADER", "format": "TEXT", "text": text}
        example = _text_example("header_text", text, split_samples(v.get("header_example", "")), fmt)
        if example:
            component["example"] = example
        components.append(component)
    elif header in (*MEDIA_HEADERS, "LOCATION"):
        component = {"type": "HEADER", "format": header}
        sample = v.get("header_sample") or v.get("header_text", "")
        if sample and header != "LOCATION":
            component["example"] = {"header_handle": [sample]}
        components.append(component)
    elif header != "NONE":
        raise WacastError("Choose a header: none, text, image, video, document or location", "TEMPLATE_INVALID", {"field": "header_type"})
    body = v.get("body", "")
    if not body:
        raise WacastError("The message body is required", "TEMPLATE_INVALID", {"field": "body"})
    body_component: dict[str, Any] = {"type": "BODY", "text": body}
    example = _text_example("body_text", body, split_samples(v.get("body_samples", "")), fmt)
    if example:
        body_component["example"] = example
    components.append(body_component)
    if v.get("footer"):
        components.append({"type": "FOOTER", "text": v["footer"]})
    buttons: list[dict[str, Any]] = [
        {"type": "QUICK_REPLY", "text": line.strip()} for line in v.get("quick_replies", "").splitlines() if line.strip()
    ]
    url_text, url, url_sample = v.get("url_text", ""), v.get("url", ""), v.get("url_sample", "")
    if bool(url_text) != bool(url):
        raise WacastError("A URL button needs both its text and its URL", "TEMPLATE_INVALID", {"field": "url_text" if url else "url"})
    track = bool(v.get("url_track"))
    if track and not url:
        raise WacastError("Track clicks is for a URL button: write its text and its URL", "TEMPLATE_INVALID", {"field": "url"})
    tracked_buttons = None
    if url_text and url:
        button: dict[str, Any] = {"type": "URL", "text": url_text, "url": url}
        if url_sample and "{{" in url:  # a sample only for the URL's variable
            button["example"] = [url_sample]
        if track:  # the URL typed is the real destination; Meta gets <public url>/r/{{1}} (templates/tracked.py)
            tracked_buttons = {str(len(buttons)): url}
        buttons.append(button)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    definition: dict[str, Any] = {
        "name": v.get("name", ""),
        "language": v.get("language") or "en",
        "category": (v.get("category") or "UTILITY").upper(),
        "parameter_format": fmt,
        "components": components,
    }
    if tracked_buttons:
        definition["tracked_buttons"] = tracked_buttons
    return definition


# What each component may carry for the form to show all of it (anything else: REST or CLI).
_FORM_KEYS = {"HEADER": {"type", "format", "text", "example"}, "BODY": {"type", "text", "example"},
              "FOOTER": {"type", "text"}, "BUTTONS": {"type", "buttons"}}
_BUTTON_KEYS = {"QUICK_REPLY": {"type", "text"}, "URL": {"type", "text", "url", "example"}}


def _samples_text(values: list[Any]) -> str:
    texts = [str(value) for value in values]
    return ("\n" if any("," in t for t in texts) else ", ").join(texts)


def _example_values(component: dict[str, Any], key: str) -> list[Any]:
    example = component.get("example") if isinstance(component.get("example"), dict) else {}
    if f"{key}_named_params" in example:
        return [p.get("example", "") for p in example[f"{key}_named_params"] or [] if isinstance(p, dict)]
    rows = example.get(key) or []
    return list(rows[0] if rows and isinstance(rows[0], list) else rows)


def form_values(template: Template) -> tuple[dict[str, str], str | None]:
    """The form filled with a template (edit, duplicate), and why the form cannot show all of
    it (a carousel, a phone or copy-code button...), or None."""
    v = {name: "" for name in FORM_FIELDS}
    v.update(name=template.name, category=template.category, language=template.language,
             parameter_format=template.parameter_format, header_type="NONE")
    for component in template.components or []:
        kind = str(component.get("type", "")).upper()
        if kind not in _FORM_KEYS:
            return v, f"its {kind} component"
        extra = set(component) - _FORM_KEYS[kind]
        if extra:
            return v, f"the {', '.join(sorted(extra))} of its {kind} component"
        if kind == "HEADER":
            fmt = str(component.get("format", "TEXT")).upper()
            v["header_type"] = fmt
            if fmt == "TEXT":
                v["header_text"] = component.get("text", "")
                v["header_example"] = _samples_text(_example_values(component, "header_text"))
            elif fmt in MEDIA_HEADERS:
                handles = (component.get("example") or {}).get("header_handle") or []
                v["header_text"] = str(handles[0]) if handles else ""
            elif fmt != "LOCATION":
                return v, f"its {fmt} header"
        elif kind == "BODY":
            v["body"] = component.get("text", "")
            v["body_samples"] = _samples_text(_example_values(component, "body_text"))
        elif kind == "FOOTER":
            v["footer"] = component.get("text", "")
        else:
            buttons = component.get("buttons") or []
            kinds = [str(b.get("type", "")).upper() for b in buttons]
            # The form writes quick replies first, then one URL button: only that order fits.
            if kinds != ["QUICK_REPLY"] * kinds.count("QUICK_REPLY") + ["URL"] * min(1, kinds.count("URL")):
                return v, "its buttons (" + ", ".join(kinds) + ")"
            for button, button_kind in zip(buttons, kinds, strict=True):
                if set(button) - _BUTTON_KEYS[button_kind]:
                    return v, f"the {', '.join(sorted(set(button) - _BUTTON_KEYS[button_kind]))} of a {button_kind} button"
            v["quick_replies"] = "\n".join(b.get("text", "") for b, k in zip(buttons, kinds, strict=True) if k == "QUICK_REPLY")
            destinations = tracked.patterns(template.tracked_buttons)
            for index, (button, button_kind) in enumerate(zip(buttons, kinds, strict=True)):
                if button_kind == "URL":
                    example = button.get("example")
                    v.update(url_text=button.get("text", ""), url=button.get("url", ""),
                             url_sample=str((example[0] if isinstance(example, list) and example else example) or ""))
                    if index in destinations:  # tracked: the form shows the real destination
                        v.update(url=destinations[index], url_sample="", url_track="on")
    return v, None


def _form(ctx: Ctx, v: dict[str, str], *, mode: str = "new", status_code: int = 200, error: WacastError | None = None,
          template: Template | None = None, source: Template | None = None, unsupported: str | None = None) -> Response:
    words = None
    if error is not None:
        words = f"{error.message} ({error.code})"
    public_url = ctx.request.app.state.settings.public_url
    return render(ctx, "template_new.html", status_code=status_code, page="templates", v=v, mode=mode, error=words,
                  tracked_url=tracked.tracked_url(public_url) if public_url else None,
                  error_field=(error.details or {}).get("field") if error is not None else None,
                  t=template, source=source, unsupported=unsupported)


async def _template(session: Any, ctx: Ctx, template_id: str) -> Template:
    return await templates_service.get(session, ctx.project.id, uuid_or_404(template_id))


# --- pages --------------------------------------------------------------------------------


@router.get("/templates/new")
async def template_new(request: Request, ctx: Manager, session: ReadSession) -> Response:
    """The new-template form; `?from=<id>` (Duplicate) fills it with that template under a new name."""
    source_id = query_text(request, "from")
    if not source_id:
        return _form(ctx, {**{name: "" for name in FORM_FIELDS}, "language": "en", "parameter_format": "POSITIONAL"})
    source = await _template(session, ctx, source_id)
    v, unsupported = form_values(source)
    v["name"] = await templates_service.copy_name(session, ctx.project.id, source.name, source.language)
    return _form(ctx, v, source=source, unsupported=unsupported)


@router.post("/templates")
async def template_create(request: Request, ctx: Manager, form: TemplateForm, session: WriteSession) -> Response:
    v = typed_values(form)
    try:
        definition = template_definition(v)
        project = await projects_service.get(session, ctx.project.id)
        template = await sync.create_template(session, project, definition, request.app.state.settings)
    except WacastError as error:
        # Shown with what was typed; nothing was written (every check runs before the write).
        return _form(ctx, v, status_code=error.status_code, error=error)
    text = "approved at once (sandbox)" if template.status == "APPROVED" else f"submitted to Meta for review ({template.status})"
    return redirect(ctx, f"/templates/{template.id}", f"Template {template.name} {text}.")


@router.post("/templates/sync")
async def template_sync(request: Request, ctx: Manager, _: SyncForm, session: WriteSession) -> Response:
    project = await projects_service.get(session, ctx.project.id)
    result = await sync.sync_project(session, project, request.app.state.settings)
    skipped = f", {len(result['skipped'])} skipped" if result["skipped"] else ""
    return redirect(ctx, "/templates", f"Synced {result['synced']} templates from Meta{skipped}.")


@router.get("/templates/{template_id}")
async def template_page(request: Request, template_id: str, ctx: Agent, session: ReadSession) -> Response:
    t = await _template(session, ctx, template_id)
    uses = await templates_repo.campaign_uses(session, t.id)
    _, unsupported = form_values(t)
    return render(ctx, "template.html", page="templates", t=t, preview=views.bubble(t.components, t.parameter_format),
                  needs=analyze(t.components, t.parameter_format), uses=uses, editable=t.status in templates_service.EDITABLE,
                  unsupported=unsupported, sv=templates_service.status_view(t),
                  category_held=await guard_repo.held_template_messages(session, t.id) if t.category_hold else 0,
                  definition=json.dumps({"name": t.name, "language": t.language, "category": t.category,
                                         "parameter_format": t.parameter_format, "components": t.components}, indent=2))


@router.get("/templates/{template_id}/edit")
async def template_edit(request: Request, template_id: str, ctx: Manager, session: ReadSession) -> Response:
    t = await _template(session, ctx, template_id)
    v, unsupported = form_values(t)
    return _form(ctx, v, mode="edit", template=t, unsupported=unsupported)


@router.post("/templates/{template_id}/edit")
async def template_edit_save(request: Request, template_id: str, ctx: Manager, form: TemplateForm, session: WriteSession) -> Response:
    t = await _template(session, ctx, template_id)
    v = typed_values(form)
    try:
        _, unsupported = form_values(t)
        if unsupported:
            raise WacastError(f"The form cannot show {unsupported}: edit this template with the REST API or `wacast templates edit`",
                              "TEMPLATE_NOT_EDITABLE_HERE", status_code=409)
        definition = template_definition(v)
        project = await projects_service.get(session, ctx.project.id)
        edited = await sync.edit_template(session, project, t, definition, request.app.state.settings)
    except WacastError as error:
        return _form(ctx, v, mode="edit", template=t, status_code=error.status_code, error=error)
    text = "approved at once (sandbox)" if edited.status == "APPROVED" else f"submitted to Meta for review ({edited.status})"
    return redirect(ctx, f"/templates/{edited.id}", f"Template {edited.name} edited and {text}.")


@router.post("/templates/{template_id}/duplicate")
async def template_duplicate(request: Request, template_id: str, ctx: Manager, form: DuplicateForm, session: WriteSession) -> Response:
    """A copy of a template the form cannot show (carousel, other buttons...), under a new name."""
    t = await _template(session, ctx, template_id)
    project = await projects_service.get(session, ctx.project.id)
    copy = await sync.duplicate_template(session, project, t, form.text("name"), request.app.state.settings)
    return redirect(ctx, f"/templates/{copy.id}", f"Template {copy.name} created from {t.name} ({copy.status}).")


@router.post("/templates/{template_id}/accept-category")
async def template_accept_category(request: Request, template_id: str, ctx: Manager, _: ButtonForm, session: WriteSession) -> Response:
    """A manager accepts Meta's new category: the sends its change held go out."""
    t = await _template(session, ctx, template_id)
    released = await template_events.release_category_hold(session, ctx.project.id, t.id, by=ctx.user.email)
    return redirect(ctx, f"/templates/{t.id}", f"Category {t.category} accepted: {released} held message(s) sent now; broadcasts of it go on.")


@router.post("/templates/{template_id}/delete")
async def template_delete(request: Request, template_id: str, ctx: Manager, _: ButtonForm, session: WriteSession) -> Response:
    t = await _template(session, ctx, template_id)
    project = await projects_service.get(session, ctx.project.id)
    name, language = t.name, t.language
    await sync.delete_template(session, project, t, request.app.state.settings)
    return redirect(ctx, "/templates", f"Template {name} ({language}) deleted.")
