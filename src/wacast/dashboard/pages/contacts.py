"""Contacts: the filtered list and its CSV export, one contact with its message timeline
(edit, tag, delete), and CSV imports with their progress and error report."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from wacast.contacts import consent, csv_export, csv_import, privacy
from wacast.contacts import service as contacts
from wacast.dashboard import repository as repo
from wacast.dashboard import repository_inbound as inbound_repo
from wacast.dashboard import views
from wacast.dashboard.forms import Posted, fields, query_text, uuid_or_404
from wacast.dashboard.web import (
    Agent,
    DashboardRoute,
    back_url,
    Manager,
    Owner,
    finish,
    redirect,
    render,
)
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

FILTERS = ("q", "tag", "source", "status", "attr", "value")


def _contact_filter(request: Request) -> tuple[contacts.ContactFilter, dict[str, str]]:
    given = {k: query_text(request, k) for k in FILTERS}
    flt = contacts.ContactFilter(
        tag=given["tag"] or None,
        source=given["source"] or None,
        search=given["q"] or None,
        opted_in={"opted_in": True, "opted_out": False}.get(given["status"]),
        attributes={given["attr"]: given["value"]} if given["attr"] and given["value"] else {},
    )
    return flt, given


@router.get("/contacts")
async def contacts_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    return await _contacts_list(request, ctx, session)


async def _contacts_list(request: Request, ctx: Agent, session: ReadSession, new_contact: dict | None = None, error: str | None = None) -> Response:
    flt, given = _contact_filter(request)
    page = await contacts.list_contacts(session, ctx.project.id, flt, cursor=query_text(request, "cursor") or None, limit=50)
    tags = await contacts.list_tags(session, ctx.project.id)
    attributes = await contacts.list_attributes(session, ctx.project.id)
    sources = await repo.sources(session, ctx.project.id)
    query = urlencode({k: v for k, v in given.items() if v})
    total = await contacts.count_contacts(session, ctx.project.id, flt)
    return render(ctx, "contacts.html", status_code=400 if error else 200, page_data=page, tags=tags, attributes=attributes, sources=sources,
                  given=given, query=query, filtered=any(given.values()), total=total, new=new_contact or {}, error=error)


NewContactForm = fields("phone", "name", "source", "tag")
BulkForm = fields("ids", "action", "tag")


@router.post("/contacts/new")
async def contact_create(request: Request, ctx: Manager, form: NewContactForm, session: WriteSession) -> Response:
    typed = {name: form.text(name) for name in ("phone", "name", "source", "tag")}
    try:
        made = await contacts.create(session, ctx.project.id, typed["phone"], name=typed["name"] or None, source=typed["source"] or None,
                                     tags=[typed["tag"]] if typed["tag"] else [])
    except WacastError as error:
        # The list again with the form open and as typed (nothing was written).
        return await _contacts_list(request, ctx, session, new_contact=typed, error=f"{error.message} ({error.code})")
    return redirect(ctx, f"/contacts/{made.id}", f"Contact {made.label} added.")


@router.post("/contacts/bulk")
async def contacts_bulk(request: Request, ctx: Manager, form: BulkForm, session: WriteSession) -> Response:
    ids = [str(uuid_or_404(i)) for i in form.values("ids", max_values=contacts.MAX_BULK)]
    action, tag = form.text("action"), form.text("tag", strip=False)
    done = await contacts.bulk(session, ctx.project.id, ids, action, tag or None)
    words = {"tag": f"Tagged {tag}", "untag": f"Tag {tag} removed from", "delete": "Deleted"}[action]
    return redirect(ctx, back_url(request), f"{words}: {done} contact(s).")


@router.get("/contacts/export.csv")
async def contacts_export(request: Request, ctx: Agent) -> Response:
    flt, _ = _contact_filter(request)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        csv_export.export_rows(request.app.state.db, ctx.project.id, flt), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="contacts-{ctx.project.name}-{stamp}.csv"'},
    )


# --- imports ---------------------------------------------------------------------------------


@router.get("/contacts/import")
async def import_page(request: Request, ctx: Manager, session: ReadSession) -> Response:
    recent = await csv_import.recent_imports(session, ctx.project.id)
    return render(ctx, "import.html", page="contacts", recent=recent)


async def _start_import_task(request: Request, import_id: uuid.UUID) -> None:
    """Runs the import beside the requests (async: a background task must not run on a thread)."""
    tasks: set = request.app.state.dashboard_tasks
    task = asyncio.create_task(csv_import.run_import(request.app.state.db, import_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@router.post("/contacts/import")
async def import_upload(request: Request, ctx: Manager, form: Posted, session: WriteSession) -> Response:
    upload = form.upload("file")
    if upload is None:
        raise WacastError("Choose a CSV file to import", "CSV_EMPTY")
    filename = text.clean("file", upload.filename or "") or "contacts.csv"
    data = await upload.read(csv_import.MAX_BYTES + 1)
    job = await csv_import.start_import(session, ctx.project.id, ctx.user.id, filename, data)
    # The import runs in its own sessions: it starts once this request's write is committed.
    start = BackgroundTask(_start_import_task, request, job.id)
    if request.headers.get("accept", "").startswith("application/json"):
        response = JSONResponse({"id": str(job.id), "total_rows": job.total_rows, "url": f"/contacts/imports/{job.id}"}, status_code=201)
        response.background = start
        return finish(ctx, response)
    response = redirect(ctx, f"/contacts/imports/{job.id}")
    response.background = start
    return response


@router.get("/contacts/imports/{import_id}.json")
async def import_status(request: Request, import_id: str, ctx: Manager, session: ReadSession) -> Response:
    iid = uuid_or_404(import_id)
    job = await csv_import.get_import(session, ctx.project.id, iid)
    stale = await csv_import.needs_resume(session, iid)
    if stale:  # the server that ran it stopped: carry on here
        await _start_import_task(request, iid)
    return JSONResponse(csv_import.progress(job))


@router.get("/contacts/imports/{import_id}/errors.csv")
async def import_errors(request: Request, import_id: str, ctx: Manager, session: ReadSession) -> Response:
    job = await csv_import.get_import(session, ctx.project.id, uuid_or_404(import_id))
    return PlainTextResponse(csv_import.errors_csv(job), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="import-errors-{job.id}.csv"'})


@router.get("/contacts/imports/{import_id}")
async def import_progress_page(request: Request, import_id: str, ctx: Manager, session: ReadSession) -> Response:
    job = await csv_import.get_import(session, ctx.project.id, uuid_or_404(import_id))
    return render(ctx, "import_progress.html", page="contacts", job=job, progress=csv_import.progress(job))


# --- one contact -----------------------------------------------------------------------------


@router.get("/contacts/{contact_id}")
async def contact_page(request: Request, contact_id: str, ctx: Agent, session: ReadSession) -> Response:
    contact = await contacts.get(session, ctx.project.id, uuid_or_404(contact_id))
    timeline = await repo.contact_timeline(session, ctx.project.id, contact.id)
    replies = await inbound_repo.contact_replies(session, ctx.project.id, contact.id)
    reactions = await inbound_repo.contact_reactions(session, ctx.project.id, contact.id)
    tags = await contacts.list_tags(session, ctx.project.id)
    attributes = await contacts.list_attributes(session, ctx.project.id)
    on_message = inbound_repo.reactions_by_message(reactions)
    for item in timeline:
        item["bubble"] = views.bubble(item["components"], item["parameter_format"], item["message"].payload.get("components") or [])
        reaction = on_message.pop(item["message"].id, None)  # a reaction sits on its message (it is not a reply)
        item["reaction"] = reaction.emoji if reaction else None
    shown = {item["message"].id for item in timeline}
    # Reactions to messages the timeline does not show (older, or not sent by wacast).
    other_reactions = [r for r in reactions if r.message_id is None or r.message_id not in shown]
    consent_history = await consent.history(session, ctx.project.id, contact.id)
    return render(ctx, "contact.html", page="contacts", contact=contact, timeline=timeline, replies=replies, tags=tags,
                  attributes=attributes, other_reactions=other_reactions, consent_history=consent_history)


@router.post("/contacts/{contact_id}")
async def contact_update(request: Request, contact_id: str, ctx: Manager, form: Posted, session: WriteSession) -> Response:
    cid = uuid_or_404(contact_id)
    name, opted_in, blocked = form.text("name", strip=False), form.checked("opted_in"), form.checked("blocked")
    defined = [a.name for a in await contacts.list_attributes(session, ctx.project.id)]
    attributes = {n: (form.text(f"attr:{n}") or None) for n in defined if f"attr:{n}" in form}
    await contacts.update_contact(session, ctx.project.id, cid, name=name, attributes=attributes, opted_in=opted_in, blocked=blocked)
    return redirect(ctx, f"/contacts/{contact_id}", "Contact saved.")


@router.post("/contacts/{contact_id}/tags")
async def contact_tags(request: Request, contact_id: str, ctx: Manager, form: Posted, session: WriteSession) -> Response:
    tag = form.text("tag", strip=False)
    if form.text("action") == "remove":
        await contacts.remove_tags(session, ctx.project.id, uuid_or_404(contact_id), [tag])
        done = f"Tag {tag} removed."
    else:
        await contacts.add_tags(session, ctx.project.id, uuid_or_404(contact_id), [tag])
        done = f"Tagged {tag}."
    return redirect(ctx, f"/contacts/{contact_id}", done)


@router.post("/contacts/{contact_id}/delete")
async def contact_delete(request: Request, contact_id: str, ctx: Manager, session: WriteSession) -> Response:
    await contacts.delete_contact(session, ctx.project.id, uuid_or_404(contact_id))
    return redirect(ctx, "/contacts", "Contact deleted.")


# --- marketing consent, export and erasure (docs/consent.md) -------------------------------


ConsentForm = fields("granted", "source", "evidence")
EraseForm = fields("confirm")
ConsentSettingsForm = fields("require_marketing_consent", "consent_payloads")


@router.post("/contacts/{contact_id}/consent")
async def contact_consent(request: Request, contact_id: str, ctx: Manager, form: ConsentForm, session: WriteSession) -> Response:
    granted = form.text("granted")
    if granted not in ("yes", "no"):
        raise WacastError("Choose whether consent is granted or withdrawn", "FIELD_INVALID", {"field": "granted"})
    evidence = form.text("evidence", multiline=True, max_len=2000) or f"recorded in the dashboard by {ctx.user.email}"
    await consent.set_consent(session, ctx.project.id, uuid_or_404(contact_id), {
        "granted": granted == "yes", "source": form.text("source", max_len=200) or "dashboard", "evidence": evidence}, method="dashboard")
    return redirect(ctx, f"/contacts/{contact_id}", "Marketing consent recorded." if granted == "yes" else "Marketing consent withdrawn.")


@router.get("/contacts/{contact_id}/export.json")
async def contact_export(request: Request, contact_id: str, ctx: Manager, session: ReadSession) -> Response:
    data = await privacy.export_person(session, ctx.project.id, uuid_or_404(contact_id))
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'})


@router.post("/contacts/{contact_id}/erase")
async def contact_erase(request: Request, contact_id: str, ctx: Manager, form: EraseForm, session: WriteSession) -> Response:
    if form.text("confirm") != "ERASE":
        raise WacastError("Type ERASE to confirm: the person's data cannot be brought back", "FIELD_REQUIRED", {"field": "confirm"})
    done = await privacy.erase_person(session, ctx.project.id, uuid_or_404(contact_id))
    return redirect(ctx, "/contacts", f"Contact erased: {done['messages_kept']} message(s) kept as anonymous counts.")


@router.post("/settings/consent")
async def consent_settings_save(request: Request, ctx: Owner, form: ConsentSettingsForm, session: WriteSession) -> Response:
    payloads = [p.strip() for p in form.text("consent_payloads", max_len=6000).split(",") if p.strip()]
    await consent.update_settings(session, ctx.project.id, {
        "require_marketing_consent": form.checked("require_marketing_consent"), "consent_payloads": payloads})
    return redirect(ctx, "/settings#consent", "Consent settings saved.")
