"""The dashboard: server-rendered pages for people, at / (sign-in, overview, templates,
campaigns with their exact request and analytics, contacts, tags and attributes, API keys,
users, settings and the sandbox inbox).

Roles are checked on the server for every page and action (`need(...)`): agents read
contacts, campaigns and analytics; managers also change templates, campaigns, contacts, tags
and attributes; owners also API keys, users and settings. A refused request gets a 403 page.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import secrets
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from wacast.api_keys import service as api_keys_service
from wacast.campaign_api.service import example_request
from wacast.campaigns import analytics
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns import service as campaigns_service
from wacast.models.campaigns import CampaignStatus
from wacast.contacts import csv_io
from wacast.contacts import service as contacts
from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.dashboard.throttle import SignInThrottle
from wacast.dashboard.web import (
    ROLE_WORDS, CsrfFailed, Ctx, DashboardRoute, NoAccess, NotSignedIn, finish, load_ctx, login_redirect, need, password_fingerprint,
    redirect, render, safe_next, templates,
)
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.kit.http import JSONResponse
from wacast.models.messages import InboundEvent
from wacast.users import service as users_service
from wacast.models.users import Membership, User
from wacast.meta.types import dedupe_key
from wacast.models.projects import Project
from wacast.projects import service as projects
from wacast.templates import sync
from wacast.templates.params import analyze
from wacast.whatsapp.sandbox import sandbox_phone_number_id

STATIC_DIR = Path(__file__).with_name("static")
router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
views.install_filters(templates.env)

AGENT, MANAGER, OWNER = need("agent"), need("manager"), need("owner")


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("Not found", "NOT_FOUND") from None


def _zone(ctx: Ctx) -> ZoneInfo:
    try:
        return ZoneInfo(ctx.project.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _db(request: Request):  # noqa: ANN202
    return request.app.state.db


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {k: v for k, v in form.multi_items()}


# --- sign-in -------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request, next: str = "/", ctx: Ctx = Depends(need(None))) -> Response:  # noqa: A002
    if ctx.user is not None:
        return redirect(ctx, safe_next(next))
    return render(ctx, "login.html", next=safe_next(next), email="")


@router.post("/login")
async def login(request: Request, ctx: Ctx = Depends(need(None))) -> Response:
    form = await _form(request)
    email = str(form.get("email", "")).strip().lower()[:254]
    password = str(form.get("password", ""))
    next_url = safe_next(str(form.get("next", "/")))
    address = request.client.host if request.client else "?"
    throttle: SignInThrottle = request.app.state.dashboard_throttle
    wait = throttle.retry_after(email, address)
    if wait:
        response = render(ctx, "login.html", status_code=429, next=next_url, email=email,
                          error=f"Too many failed sign-ins. Try again in {wait} seconds.")
        response.headers["Retry-After"] = str(wait)
        return response
    async with _db(request).sessionmaker() as session:
        user = await repo.user_by_email(session, email) if email else None
        ok = users_service.verify_password(user.password_hash, password) if user else False
        if not user:
            users_service.verify_password(_dummy_hash(), password)  # same work for unknown emails
        member = await session.get(User, user.id) if ok else None
        has_project = bool(member) and await _first_project(session, member.id) is not None
    if not ok:
        throttle.failed(email, address)
        await asyncio.sleep(0.2 * min(throttle_failures(throttle, email), 5))
        return render(ctx, "login.html", status_code=401, next=next_url, email=email, error="Wrong email or password.")
    if not has_project:
        return render(ctx, "login.html", status_code=403, next=next_url, email=email,
                      error="Your account has no project yet. Ask a project owner to add you.")
    throttle.succeeded(email)
    ctx.data.clear()
    ctx.data.update({"u": str(user.id), "h": password_fingerprint(user.password_hash), "c": secrets.token_urlsafe(24)})
    ctx.dirty = True
    return redirect(ctx, next_url)


_dummy: list[str] = []


def _dummy_hash() -> str:
    if not _dummy:  # made on first use, not at import (keeps start-up fast)
        _dummy.append(users_service.hash_password(secrets.token_urlsafe(12)))
    return _dummy[0]


def throttle_failures(throttle: SignInThrottle, email: str) -> int:
    record = throttle._records.get("e:" + email)
    return record.failures if record else 0


async def _first_project(session, user_id: uuid.UUID):  # noqa: ANN001, ANN202
    from sqlalchemy import select

    return (await session.execute(select(Membership.project_id).where(Membership.user_id == user_id).limit(1))).first()


@router.post("/logout")
async def logout(request: Request, ctx: Ctx = Depends(need(None))) -> Response:
    ctx.data.clear()
    ctx.dirty = True
    ctx.flash("You are signed out.")
    return redirect(ctx, "/login")


@router.post("/switch-project")
async def switch_project(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    form = await _form(request)
    wanted = str(form.get("project_id", ""))
    match = next((m for m in ctx.memberships if str(m.project_id) == wanted), None)
    if match is None:
        raise NoAccess("member", ctx.role)
    ctx.data["p"] = wanted
    ctx.dirty = True
    return redirect(ctx, "/", f"Switched to {match.project_name} ({match.role}).")


# --- overview ------------------------------------------------------------------------------


@router.get("/")
async def overview(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    zone = _zone(ctx)
    now_local = datetime.now(zone)
    today = datetime.combine(now_local.date(), datetime.min.time(), zone)
    week = today - timedelta(days=6)
    async with _db(request).sessionmaker() as session:
        pid = ctx.project.id
        data = {
            "today": await repo.count_since(session, pid, today),
            "week": await repo.count_since(session, pid, week),
            "funnel": await repo.funnel(session, pid, week),
            "failures": await repo.recent_failures(session, pid),
            "campaigns": (await repo.campaigns_with_counts(session, pid))[:6],
            "keys": len([k for k in await repo.api_keys(session, pid) if k.revoked_at is None]),
        }
        first = now_local.date() - timedelta(days=13)
        bounds = [datetime.combine(first + timedelta(days=i), datetime.min.time(), zone) for i in range(15)]
        series = await repo.daily_by_status(session, pid, bounds)
    steps = [(s, data["funnel"][s]) for s in ("submitted", "sent", "delivered", "read", "failed", "replied")]
    chart = views.stacked_bars([b.date().isoformat() for b in bounds[:-1]], series, width=1100, height=200) if any(map(any, series.values())) else None
    return render(ctx, "overview.html", steps=steps, chart=chart, **data)


# --- templates -----------------------------------------------------------------------------


@router.get("/templates")
async def templates_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        items = await repo.templates_of(session, ctx.project.id)
    rows = [{"t": t, "bubble": views.bubble(t.components, t.parameter_format)} for t in items]
    return render(ctx, "templates.html", rows=rows)


@router.get("/templates/new")
async def template_new(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    return render(ctx, "template_new.html", page="templates")


def _template_definition(form: dict[str, Any]) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    header = str(form.get("header_type", "NONE")).upper()
    if header == "TEXT":
        text = str(form.get("header_text", "")).strip()
        if not text:
            raise WacastError("Write the header text, or choose no header", "TEMPLATE_INVALID", {"field": "header_text"})
        components.append({"type": "HEADER", "format": "TEXT", "text": text})
    elif header in ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION"):
        component: dict[str, Any] = {"type": "HEADER", "format": header}
        sample = str(form.get("header_sample", "")).strip()
        if sample and header != "LOCATION":
            component["example"] = {"header_handle": [sample]}
        components.append(component)
    body = str(form.get("body", "")).strip()
    if not body:
        raise WacastError("The message body is required", "TEMPLATE_INVALID", {"field": "body"})
    body_component: dict[str, Any] = {"type": "BODY", "text": body}
    samples = [s.strip() for s in str(form.get("body_samples", "")).split(",") if s.strip()]
    if samples:
        body_component["example"] = {"body_text": [samples]}
    components.append(body_component)
    footer = str(form.get("footer", "")).strip()
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    buttons: list[dict[str, Any]] = [
        {"type": "QUICK_REPLY", "text": line.strip()[:25]} for line in str(form.get("quick_replies", "")).splitlines() if line.strip()
    ]
    if str(form.get("url_text", "")).strip() and str(form.get("url", "")).strip():
        button: dict[str, Any] = {"type": "URL", "text": str(form["url_text"]).strip()[:25], "url": str(form["url"]).strip()}
        if "{{" in button["url"] and str(form.get("url_sample", "")).strip():
            button["example"] = [str(form["url_sample"]).strip()]
        buttons.append(button)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "name": str(form.get("name", "")).strip(),
        "language": str(form.get("language", "en")).strip() or "en",
        "category": str(form.get("category", "UTILITY")).upper(),
        "components": components,
    }


@router.post("/templates")
async def template_create(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:

    definition = _template_definition(await _form(request))
    async with _db(request).transaction() as session:

        project = await session.get(Project, ctx.project.id)
        template = await sync.create_template(session, project, definition, request.app.state.settings)
        status = template.status
        template_id = template.id
    text = "approved at once (sandbox)" if status == "APPROVED" else f"submitted to Meta for review ({status})"
    return redirect(ctx, f"/templates/{template_id}", f"Template {definition['name']} {text}.")


@router.post("/templates/sync")
async def template_sync(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:

    async with _db(request).transaction() as session:
        project = await session.get(Project, ctx.project.id)
        result = await sync.sync_project(session, project, request.app.state.settings)
    skipped = f", {len(result['skipped'])} skipped" if result["skipped"] else ""
    return redirect(ctx, "/templates", f"Synced {result['synced']} templates from Meta{skipped}.")


@router.get("/templates/{template_id}")
async def template_page(request: Request, template_id: str, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        t = await repo.template(session, ctx.project.id, _uuid(template_id))
        if t is None:
            raise NotFound("Template not found", "TEMPLATE_NOT_FOUND")
        used_by = await repo.campaigns_using(session, t.id)

    return render(ctx, "template.html", page="templates", t=t, preview=views.bubble(t.components, t.parameter_format),
                  needs=analyze(t.components, t.parameter_format), used_by=used_by,
                  definition=json.dumps({"name": t.name, "language": t.language, "category": t.category, "components": t.components}, indent=2))


# --- campaigns -----------------------------------------------------------------------------


@router.get("/campaigns")
async def campaigns_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        rows = await repo.campaigns_with_counts(session, ctx.project.id)
    return render(ctx, "campaigns.html", rows=rows)


@router.get("/campaigns/new")
async def campaign_new(request: Request, ctx: Ctx = Depends(MANAGER), template: str = "") -> Response:
    async with _db(request).sessionmaker() as session:
        approved = await repo.templates_of(session, ctx.project.id, approved_only=True)
    return render(ctx, "campaign_new.html", page="campaigns", approved=approved, chosen=template)


@router.post("/campaigns")
async def campaign_create(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    name = str(form.get("name", "")).strip()
    template_id = _uuid(str(form.get("template_id", "")))
    async with _db(request).transaction() as session:
        t = await repo.template(session, ctx.project.id, template_id)
        if t is None or t.status != "APPROVED":
            raise WacastError("Choose an approved template", "TEMPLATE_NOT_APPROVED", {"field": "template_id"})
        campaign = await campaigns_service.create(session, ctx.project.id, name, t.name, t.language, live=form.get("live") == "on")
        cid, status = campaign.id, campaign.status
    note = "It is live: requests are accepted now." if status == "live" else "Set it Live to accept requests."
    return redirect(ctx, f"/campaigns/{cid}", f"Campaign {name} created. {note}")


@router.post("/campaigns/{campaign_id}/status")
async def campaign_status(request: Request, campaign_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    wanted = str(form.get("status", ""))
    if wanted not in (CampaignStatus.live, CampaignStatus.paused):
        raise WacastError("status must be live or paused", "FIELD_INVALID", {"field": "status"})
    async with _db(request).transaction() as session:
        campaign = await campaigns_repo.get(session, ctx.project.id, _uuid(campaign_id))
        if campaign is None:
            raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND")
        if campaign.type != "api":
            raise WacastError("Broadcasts are paused and resumed from their own controls (REST API)", "NOT_AN_API_CAMPAIGN")
        await campaigns_service.set_status(session, ctx.project.id, campaign.name, CampaignStatus(wanted))
        name = campaign.name
    text = "is live: requests are accepted" if wanted == "live" else "is paused: requests are refused with CAMPAIGN_NOT_LIVE"
    return redirect(ctx, f"/campaigns/{campaign_id}", f"{name} {text}.")


def _days_window(ctx: Ctx, days: int) -> tuple[date, date]:
    end = datetime.now(_zone(ctx)).date()
    return end - timedelta(days=days - 1), end


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, campaign_id: str, ctx: Ctx = Depends(AGENT), days: int = 14, outcome: str = "") -> Response:
    days = min(max(days, 1), 90)
    cid = _uuid(campaign_id)
    async with _db(request).sessionmaker() as session:
        campaign = await campaigns_repo.get(session, ctx.project.id, cid)
        if campaign is None:
            raise NotFound("Campaign not found", "CAMPAIGN_NOT_FOUND")
        snapshot = await campaigns_repo.snapshot_by_name(session, ctx.project.id, campaign.name)
        described = await campaigns_service.describe(session, ctx.project, campaign.name)
        summary = await analytics.summary(session, ctx.project.id, cid)
        start, end = _days_window(ctx, days)
        series = await analytics.daily(session, ctx.project.id, cid, start, end)
        failures = await analytics.failures(session, ctx.project.id, cid)
        chosen = outcome.upper() if outcome.upper() in analytics.OUTCOMES else ""
        audience = await analytics.audience(session, ctx.project.id, cid, chosen or "SENT", limit=50) if chosen else None
        t = await repo.template(session, ctx.project.id, campaign.template_id)
    body = example_request(snapshot, api_key="YOUR_API_KEY")
    base = str(request.base_url).rstrip("/")
    chart = views.grouped_bars(
        [d.date.isoformat() for d in series],
        {k: [getattr(d, k) for d in series] for k in ("sent", "delivered", "read", "failed", "replied")},
    )
    return render(
        ctx, "campaign.html", page="campaigns", campaign=campaign, described=described, summary=summary, chart=chart, days=days,
        failures=failures, outcome=chosen, audience=audience, template=t,
        bubble=views.bubble(t.components, t.parameter_format) if t else None,
        body_json=json.dumps(body, indent=2), curl=views.curl_command(base, body), base=base, needs=snapshot.needs,
        replied_series=sum(d.replied for d in series),
    )


@router.get("/campaigns/{campaign_id}/audience.csv")
async def campaign_audience_csv(request: Request, campaign_id: str, outcome: str = "SENT", ctx: Ctx = Depends(AGENT)) -> Response:
    cid = _uuid(campaign_id)
    outcome = outcome.upper()
    async with _db(request).sessionmaker() as session:
        campaign = await analytics.find_campaign(session, ctx.project.id, cid)
        analytics._outcome_condition(outcome)  # 400 for an unknown outcome, before streaming starts
    db, project_id, zone = _db(request), ctx.project.id, ctx.project.timezone

    async def rows():  # noqa: ANN202
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["submitted_message_id", "phone", "name", "status", "error_code", "error_meaning", "created_at", "sent_at",
                         "delivered_at", "read_at", "failed_at", "replied_at"])
        yield out.getvalue()
        cursor = None
        while True:
            async with db.sessionmaker() as session:
                page = await analytics.audience(session, project_id, cid, outcome, cursor=cursor, limit=200)
            out = io.StringIO()
            writer = csv.writer(out)
            for m in page.items:
                writer.writerow([
                    m.submitted_message_id, m.phone, csv_io._safe(m.name), m.status, m.error_code or "",
                    views.failure_words(m.error_code)["meaning"] if m.error_code is not None or m.status == "failed" else "",
                    *[(t.isoformat(timespec="seconds") if t else "") for t in (m.created_at, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.replied_at)],
                ])
            yield out.getvalue()
            cursor = page.next_cursor
            if not cursor:
                return

    filename = f"{campaign.name}-{outcome.lower()}.csv".replace('"', "")
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- contacts ------------------------------------------------------------------------------


def _contact_filter(request: Request) -> tuple[contacts.ContactFilter, dict[str, str]]:
    q = request.query_params
    given = {k: q.get(k, "") for k in ("q", "tag", "source", "status", "attr", "value")}
    flt = contacts.ContactFilter(
        tag=given["tag"] or None,
        source=given["source"] or None,
        search=given["q"] or None,
        opted_in={"opted_in": True, "opted_out": False}.get(given["status"]),
        attributes={given["attr"]: given["value"]} if given["attr"] and given["value"] else {},
    )
    return flt, given


@router.get("/contacts")
async def contacts_page(request: Request, ctx: Ctx = Depends(AGENT), cursor: str = "") -> Response:
    flt, given = _contact_filter(request)
    async with _db(request).sessionmaker() as session:
        page = await contacts.list_contacts(session, ctx.project.id, flt, cursor=cursor or None, limit=50)
        tags = await contacts.list_tags(session, ctx.project.id)
        attributes = await contacts.list_attributes(session, ctx.project.id)
        sources = await repo.sources(session, ctx.project.id)
    query = "&".join(f"{k}={v}" for k, v in given.items() if v)
    from urllib.parse import urlencode

    query = urlencode({k: v for k, v in given.items() if v})
    return render(ctx, "contacts.html", page_data=page, tags=tags, attributes=attributes, sources=sources, given=given, query=query,
                  filtered=any(given.values()))


@router.get("/contacts/export.csv")
async def contacts_export(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    flt, _ = _contact_filter(request)
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        csv_io.export_rows(_db(request), ctx.project.id, flt), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="contacts-{ctx.project.name}-{stamp}.csv"'},
    )


@router.get("/contacts/import")
async def import_page(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).sessionmaker() as session:
        recent = await csv_io.recent_imports(session, ctx.project.id)
    return render(ctx, "import.html", page="contacts", recent=recent)


def _start_import_task(request: Request, import_id: uuid.UUID) -> None:
    tasks: set = request.app.state.dashboard_tasks
    task = asyncio.create_task(csv_io.run_import(_db(request), import_id))
    tasks.add(task)
    task.add_done_callback(tasks.discard)


@router.post("/contacts/import")
async def import_upload(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise WacastError("Choose a CSV file to import", "CSV_EMPTY")
    data = await upload.read(csv_io.MAX_BYTES + 1)
    async with _db(request).transaction() as session:
        job = await csv_io.start_import(session, ctx.project.id, ctx.user.id, upload.filename or "contacts.csv", data)
        job_id, total = job.id, job.total_rows
    _start_import_task(request, job_id)
    if request.headers.get("accept", "").startswith("application/json"):
        return finish(ctx, JSONResponse({"id": str(job_id), "total_rows": total, "url": f"/contacts/imports/{job_id}"}, status_code=201))
    return redirect(ctx, f"/contacts/imports/{job_id}")


@router.get("/contacts/imports/{import_id}.json")
async def import_status(request: Request, import_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    iid = _uuid(import_id)
    async with _db(request).sessionmaker() as session:
        job = await csv_io.get_import(session, ctx.project.id, iid)
        stale = await csv_io.needs_resume(session, iid)
        data = csv_io.progress(job)
    if stale:  # the server that ran it stopped: carry on here
        _start_import_task(request, iid)
    return JSONResponse(data)


@router.get("/contacts/imports/{import_id}/errors.csv")
async def import_errors(request: Request, import_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).sessionmaker() as session:
        job = await csv_io.get_import(session, ctx.project.id, _uuid(import_id))
    return PlainTextResponse(csv_io.errors_csv(job), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="import-errors-{job.id}.csv"'})


@router.get("/contacts/imports/{import_id}")
async def import_progress_page(request: Request, import_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).sessionmaker() as session:
        job = await csv_io.get_import(session, ctx.project.id, _uuid(import_id))
    return render(ctx, "import_progress.html", page="contacts", job=job, progress=csv_io.progress(job))


@router.get("/contacts/{contact_id}")
async def contact_page(request: Request, contact_id: str, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        contact = await contacts.get(session, ctx.project.id, _uuid(contact_id))
        timeline = await repo.contact_timeline(session, ctx.project.id, contact.id)
        replies = await repo.contact_replies(session, ctx.project.id, contact.id)
        tags = await contacts.list_tags(session, ctx.project.id)
        attributes = await contacts.list_attributes(session, ctx.project.id)
    for item in timeline:
        item["bubble"] = views.bubble(item["components"], item["parameter_format"], item["message"].payload.get("components") or [])
    return render(ctx, "contact.html", page="contacts", contact=contact, timeline=timeline, replies=replies, tags=tags, attributes=attributes)


@router.post("/contacts/{contact_id}")
async def contact_update(request: Request, contact_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    cid = _uuid(contact_id)
    async with _db(request).transaction() as session:
        defined = [a.name for a in await contacts.list_attributes(session, ctx.project.id)]
        attributes = {n: (str(form.get(f"attr:{n}", "")).strip() or None) for n in defined if f"attr:{n}" in form}
        await contacts.update_contact(
            session, ctx.project.id, cid, name=str(form.get("name", "")), attributes=attributes,
            opted_in=form.get("opted_in") == "on", blocked=form.get("blocked") == "on",
        )
    return redirect(ctx, f"/contacts/{contact_id}", "Contact saved.")


@router.post("/contacts/{contact_id}/tags")
async def contact_tags(request: Request, contact_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    tag = str(form.get("tag", ""))
    async with _db(request).transaction() as session:
        if form.get("action") == "remove":
            await contacts.remove_tags(session, ctx.project.id, _uuid(contact_id), [tag])
            text = f"Tag {tag} removed."
        else:
            await contacts.add_tags(session, ctx.project.id, _uuid(contact_id), [tag])
            text = f"Tagged {tag}."
    return redirect(ctx, f"/contacts/{contact_id}", text)


@router.post("/contacts/{contact_id}/delete")
async def contact_delete(request: Request, contact_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).transaction() as session:
        await contacts.delete_contact(session, ctx.project.id, _uuid(contact_id))
    return redirect(ctx, "/contacts", "Contact deleted.")


# --- tags and attributes ---------------------------------------------------------------------


@router.get("/tags")
async def tags_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        tags = await contacts.list_tags(session, ctx.project.id)
        attributes = await contacts.list_attributes(session, ctx.project.id)
    return render(ctx, "tags.html", tags=tags, attributes=attributes)


@router.post("/tags")
async def tag_create(request: Request, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    kind = form.get("kind")
    async with _db(request).transaction() as session:
        if kind == "attribute":
            made = await contacts.create_attribute(session, ctx.project.id, form.get("name"))
        else:
            made = await contacts.create_tag(session, ctx.project.id, form.get("name"))
    return redirect(ctx, "/tags", f"{'Attribute' if kind == 'attribute' else 'Tag'} {made.name} created.")


@router.post("/tags/{kind}/{item_id}/rename")
async def tag_rename(request: Request, kind: str, item_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    form = await _form(request)
    async with _db(request).transaction() as session:
        if kind == "attribute":
            made = await contacts.rename_attribute(session, ctx.project.id, _uuid(item_id), form.get("name"))
        else:
            made = await contacts.rename_tag(session, ctx.project.id, _uuid(item_id), form.get("name"))
    return redirect(ctx, "/tags", f"Renamed to {made.name}.")


@router.post("/tags/{kind}/{item_id}/delete")
async def tag_delete(request: Request, kind: str, item_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:
    async with _db(request).transaction() as session:
        if kind == "attribute":
            await contacts.delete_attribute(session, ctx.project.id, _uuid(item_id))
        else:
            await contacts.delete_tag(session, ctx.project.id, _uuid(item_id))
    return redirect(ctx, "/tags", f"{'Attribute' if kind == 'attribute' else 'Tag'} deleted.")


# --- API keys ------------------------------------------------------------------------------


@router.get("/keys")
async def keys_page(request: Request, ctx: Ctx = Depends(OWNER)) -> Response:
    async with _db(request).sessionmaker() as session:
        keys = await repo.api_keys(session, ctx.project.id)
    return render(ctx, "keys.html", keys=keys, new_key=None)


@router.post("/keys")
async def key_create(request: Request, ctx: Ctx = Depends(OWNER)) -> Response:
    form = await _form(request)
    name = str(form.get("name", "")).strip()[:100]
    scope = str(form.get("scope", "full"))
    if scope not in api_keys_service.SCOPES:
        raise WacastError("scope must be send or full", "FIELD_INVALID", {"field": "scope"})
    async with _db(request).transaction() as session:
        key, plain = await api_keys_service.create_key(session, ctx.project.id, scope, name or "dashboard key")
    async with _db(request).sessionmaker() as session:
        keys = await repo.api_keys(session, ctx.project.id)
    response = render(ctx, "keys.html", keys=keys, new_key=plain, new_key_name=key.name)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/keys/{key_id}/revoke")
async def key_revoke(request: Request, key_id: str, ctx: Ctx = Depends(OWNER)) -> Response:
    async with _db(request).transaction() as session:
        done = await api_keys_service.revoke(session, ctx.project.id, _uuid(key_id))
    if not done:
        raise NotFound("Key not found or already revoked", "KEY_NOT_FOUND")
    return redirect(ctx, "/keys", "Key revoked: requests with it now get 401.")


# --- users ---------------------------------------------------------------------------------


@router.get("/users")
async def users_page(request: Request, ctx: Ctx = Depends(OWNER)) -> Response:
    async with _db(request).sessionmaker() as session:
        members = await repo.members(session, ctx.project.id)
    return render(ctx, "users.html", members=members, role_words=ROLE_WORDS, invited=None)


@router.post("/users")
async def user_add(request: Request, ctx: Ctx = Depends(OWNER)) -> Response:
    form = await _form(request)
    email = str(form.get("email", "")).strip().lower()
    password = str(form.get("password", "")).strip()
    generated = None
    async with _db(request).transaction() as session:
        existing = await repo.user_by_email(session, email) if email else None
        if existing is None and not password:
            generated = password = secrets.token_urlsafe(9)
        await users_service.create_or_update(
            session, ctx.project.id, email, password if existing is None else None, str(form.get("role", "agent")), str(form.get("name", "")).strip()
        )
    if generated:
        async with _db(request).sessionmaker() as session:
            members = await repo.members(session, ctx.project.id)
        response = render(ctx, "users.html", members=members, role_words=ROLE_WORDS, invited={"email": email, "password": generated})
        response.headers["Cache-Control"] = "no-store"
        return response
    return redirect(ctx, "/users", f"{email} added to {ctx.project.name}.")


async def _change_member(request: Request, ctx: Ctx, user_id: str, role: str | None) -> str:
    uid = _uuid(user_id)
    async with _db(request).transaction() as session:
        membership = await repo.membership(session, ctx.project.id, uid)
        if membership is None:
            raise NotFound("This user is not in the project", "MEMBER_NOT_FOUND")
        if membership.role == "owner" and role != "owner" and await repo.owner_count(session, ctx.project.id) <= 1:
            raise WacastError("A project keeps at least one owner: make someone else owner first", "LAST_OWNER", status_code=409)
        user = await session.get(User, uid)
        if role is None:
            await session.delete(membership)
            return f"{user.email} removed from {ctx.project.name}."
        if role not in ROLE_WORDS:
            raise WacastError("role must be owner, manager or agent", "FIELD_INVALID", {"field": "role"})
        membership.role = role
        return f"{user.email} is now {role}."


@router.post("/users/{user_id}/role")
async def user_role(request: Request, user_id: str, ctx: Ctx = Depends(OWNER)) -> Response:
    form = await _form(request)
    return redirect(ctx, "/users", await _change_member(request, ctx, user_id, str(form.get("role", ""))))


@router.post("/users/{user_id}/remove")
async def user_remove(request: Request, user_id: str, ctx: Ctx = Depends(OWNER)) -> Response:
    return redirect(ctx, "/users", await _change_member(request, ctx, user_id, None))


# --- settings ------------------------------------------------------------------------------


@router.get("/settings")
async def settings_page(request: Request, ctx: Ctx = Depends(OWNER)) -> Response:
    return render(ctx, "settings.html", p=ctx.project)


@router.post("/settings")
async def settings_save(request: Request, ctx: Ctx = Depends(OWNER)) -> Response:

    form = await _form(request)
    try:
        rate = int(str(form.get("messages_per_second", "")).strip() or ctx.project.messages_per_second)
    except ValueError:
        raise WacastError("messages per second must be a whole number", "INVALID_RATE") from None
    timezone = str(form.get("timezone", "")).strip()
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise WacastError(f"Unknown time zone {timezone!r} (use names like Asia/Kolkata)", "INVALID_TIMEZONE") from None
    options: dict[str, Any] = {
        "default_country": str(form.get("default_country", "")).strip() or None,
        "sender_number": str(form.get("sender_number", "")).strip(),
        "waba_id": str(form.get("waba_id", "")).strip(),
        "phone_number_id": str(form.get("phone_number_id", "")).strip(),
        "timezone": timezone or None,
        "messages_per_second": rate,
    }
    token = str(form.get("access_token", "")).strip()
    if token:
        options["access_token"] = token  # blank keeps the stored token
    keywords = [k.strip().upper() for k in str(form.get("opt_out_keywords", "")).split(",") if k.strip()]
    async with _db(request).transaction() as session:
        project = await projects.update(session, ctx.project.name, **options)
        if keywords:
            project.opt_out_keywords = keywords[:20]
        if form.get("clear_token") == "on":
            project.access_token = None
    return redirect(ctx, "/settings", "Settings saved.")


# --- sandbox inbox -------------------------------------------------------------------------


@router.get("/sandbox")
async def sandbox_page(request: Request, ctx: Ctx = Depends(AGENT)) -> Response:
    async with _db(request).sessionmaker() as session:
        items = await repo.inbox(session, ctx.project.id)
    for item in items:
        item["bubble"] = views.bubble(item["components"], item["parameter_format"], item["message"].payload.get("components") or [])
    return render(ctx, "sandbox.html", items=items)


@router.post("/sandbox/{message_id}/simulate")
async def sandbox_simulate(request: Request, message_id: str, ctx: Ctx = Depends(MANAGER)) -> Response:

    if not ctx.is_sandbox:
        raise WacastError("Simulated replies exist only for sandbox projects", "NOT_SANDBOX", status_code=409)
    form = await _form(request)
    kind = str(form.get("kind", "text"))
    async with _db(request).transaction() as session:
        message = await repo.message(session, ctx.project.id, _uuid(message_id))
        if message is None:
            raise NotFound("Message not found", "MESSAGE_NOT_FOUND")
        if not message.wamid:
            raise WacastError("This message has not been sent yet: wait for it to be sent, then reply", "MESSAGE_NOT_SENT", status_code=409)
        inbound: dict[str, Any] = {
            "from": message.destination.lstrip("+"),
            "id": "wamid.SANDBOXIN" + secrets.token_hex(12).upper(),
            "timestamp": str(int(time.time())),
            "context": {"from": "sandbox", "id": message.wamid},
        }
        if kind == "button":
            label = str(form.get("text", "")).strip()[:256] or "OK"
            inbound.update(type="button", button={"payload": label, "text": label})
        elif kind == "stop":
            inbound.update(type="text", text={"body": "STOP"})
        else:
            text = str(form.get("text", "")).strip()[:4096]
            if not text:
                raise WacastError("Write the reply text", "FIELD_REQUIRED", {"field": "text"})
            inbound.update(type="text", text={"body": text})
        body = {
            "object": "whatsapp_business_account",
            "entry": [{"id": "sandbox", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "sandbox", "phone_number_id": sandbox_phone_number_id(str(ctx.project.id))},
                "contacts": [{"wa_id": message.destination.lstrip("+"), "profile": {"name": ""}}],
                "messages": [inbound],
            }}]}],
        }
        now = utcnow()
        session.add(InboundEvent(source="sandbox", dedupe_key=dedupe_key(body), body=body, received_at=now, process_after=now))
    request.app.state.wake_dispatcher()
    words = {"button": "Quick-reply tap", "stop": "STOP"}.get(kind, "Reply")
    return redirect(ctx, "/sandbox", f"{words} from {message.destination} simulated; it shows here in a moment.")


# --- mounting ------------------------------------------------------------------------------


def mount_dashboard(app: FastAPI) -> None:
    app.state.dashboard_throttle = SignInThrottle()
    app.state.dashboard_tasks = set()
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="dashboard-static")

    async def on_not_signed_in(request: Request, error: NotSignedIn) -> Response:
        if request.method != "GET":
            return JSONResponse({"message": "Sign in first", "code": "NOT_SIGNED_IN"}, status_code=401)
        return login_redirect(error.next_url)

    async def on_no_access(request: Request, error: NoAccess) -> Response:
        ctx = await load_ctx(request)
        return render(ctx, "403.html", status_code=403, needed=error.needed, role_words=ROLE_WORDS, page="error")

    async def on_csrf(request: Request, error: CsrfFailed) -> Response:
        ctx = await load_ctx(request)
        return render(ctx, "403.html", status_code=403, csrf=True, needed=None, role_words=ROLE_WORDS, page="error")

    app.add_exception_handler(NotSignedIn, on_not_signed_in)
    app.add_exception_handler(NoAccess, on_no_access)
    app.add_exception_handler(CsrfFailed, on_csrf)
