"""/api/v1/campaigns for broadcasts: create (segment or CSV), progress, pause, resume, cancel,
retry failed, make a segment of the audience by outcome; /api/v1/send-policy."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from wacast.api.auth import ApiIdentity
from wacast.campaigns import broadcast
from wacast.contacts import segments
from wacast.models.contacts import Contact
from wacast.api.segments import _json, require_full_key, segment_out
from wacast.db.dialect import insert_ignore
from wacast.kit import phone as phones
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.models.projects import Project
from wacast.campaigns import service as campaigns

router = APIRouter(prefix="/api/v1", tags=["Broadcasts"])

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_CSV_ROWS = 200_000
PHONE_COLUMNS = ("phone", "mobile", "destination", "number", "phone_number", "whatsapp")


async def _read_request(request: Request) -> tuple[Any, bytes | None]:
    """JSON body, or multipart with a `campaign` JSON field and an `audience` CSV file."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        raw = form.get("campaign")
        if not isinstance(raw, str):
            raise WacastError("multipart upload needs a `campaign` field holding the JSON settings", "FIELD_REQUIRED", {"field": "campaign"})
        try:
            body = json.loads(raw)
        except ValueError:
            raise WacastError("campaign must be JSON", "FIELD_INVALID", {"field": "campaign"}) from None
        upload = form.get("audience")
        if upload is None or isinstance(upload, str):
            raise WacastError("multipart upload needs an `audience` CSV file", "FIELD_REQUIRED", {"field": "audience"})
        data = await upload.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            raise WacastError("audience CSV is too large (at most 20 MB)", "FIELD_TOO_LONG", {"field": "audience"})
        return body, data
    return await _json(request), None


def parse_csv(data: bytes, default_country: str) -> tuple[list[tuple[str, str, dict[str, str]]], list[dict[str, Any]]]:
    """(phone, name, values) per valid row, first occurrence of a phone wins; and the rejects."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WacastError("audience CSV must be UTF-8", "CSV_INVALID", {"field": "audience"}) from None
    if "\x00" in text:
        raise WacastError("audience CSV must not contain NUL characters", "CSV_INVALID", {"field": "audience"})
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise WacastError("audience CSV is empty", "CSV_INVALID", {"field": "audience"}) from None
    names = [h.strip() for h in header]
    lowered = [h.lower() for h in names]
    phone_col = next((lowered.index(c) for c in PHONE_COLUMNS if c in lowered), None)
    if phone_col is None:
        raise WacastError(f"audience CSV needs a phone column (one of: {', '.join(PHONE_COLUMNS)})", "CSV_INVALID", {"field": "audience", "header": names})
    name_col = lowered.index("name") if "name" in lowered else None
    rows, rejected, seen = [], [], set()
    try:
        for line, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(rejected) >= MAX_CSV_ROWS:
                raise WacastError(f"audience CSV has too many rows (at most {MAX_CSV_ROWS})", "CSV_TOO_LARGE", {"field": "audience"})
            raw_phone = record[phone_col].strip() if phone_col < len(record) else ""
            try:
                phone = phones.normalize(raw_phone, default_country)
            except phones.InvalidNumber:
                if len(rejected) < 100:
                    rejected.append({"line": line, "phone": raw_phone[:40], "reason": "invalid number"})
                else:
                    rejected.append({"line": line})
                continue
            if phone in seen:
                continue
            seen.add(phone)
            values = {names[i]: cell.strip() for i, cell in enumerate(record[: len(names)]) if i != phone_col and names[i] and cell.strip()}
            name = record[name_col].strip() if name_col is not None and name_col < len(record) else ""
            rows.append((phone, name[:200], values))
    except csv.Error as error:
        raise WacastError(f"audience CSV is malformed: {error}", "CSV_INVALID", {"field": "audience"}) from None
    if not rows:
        raise WacastError("audience CSV has no valid phone numbers", "CSV_INVALID", {"field": "audience", "rejected": rejected[:20]})
    return rows, rejected


async def _upsert_csv_contacts(session: Any, project_id: uuid.UUID, rows: list[tuple[str, str, dict]], source: str) -> list[tuple[uuid.UUID, dict]]:
    now = utcnow()
    ids: dict[str, uuid.UUID] = {}
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        await session.execute(
            insert_ignore(session, Contact, ["project_id", "phone"]),
            [
                {"id": uuid.uuid4(), "project_id": project_id, "phone": p, "name": n, "source": source, "opted_in": True,
                 "blocked": False, "attributes": {}, "created_at": now, "updated_at": now}
                for p, n, _ in chunk
            ],
        )
        found = await session.execute(select(Contact.phone, Contact.id).where(Contact.project_id == project_id, Contact.phone.in_([p for p, _, _ in chunk])))
        ids.update(dict(found.all()))
    return [(ids[p], values) for p, _, values in rows]


@router.post("/campaigns", status_code=201, summary="Create a campaign: \"type\": \"broadcast\" (segment or CSV upload) or \"api\"")
async def create_campaign(request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    body, csv_data = await _read_request(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    kind = body.get("type", "broadcast" if csv_data is not None else None)
    if kind == "api":
        return await _create_api_campaign(request, identity, body)
    if kind != "broadcast":
        raise WacastError("type must be \"broadcast\" or \"api\"", "FIELD_INVALID", {"field": "type", "allowed": ["broadcast", "api"]})
    db = request.app.state.db
    settings = request.app.state.settings
    async with db.sessionmaker() as session:
        draft = await broadcast.prepare(session, identity.project_id, body, csv_audience=csv_data is not None, defaults=settings)
        default_country = (await session.get(Project, identity.project_id)).default_country
        await session.rollback()
    if draft.plan.media is not None:
        await request.app.state.media.check(draft.plan.media.url, draft.needs.header_format, "media.url")
    rows, rejected = ([], [])
    if csv_data is not None:
        rows, rejected = parse_csv(csv_data, default_country)
    async with db.transaction() as session:
        csv_rows = None
        if csv_data is not None:
            source = body.get("source") if isinstance(body.get("source"), str) and body["source"].strip() else "CSV upload"
            csv_rows = await _upsert_csv_contacts(session, identity.project_id, rows, source[:200])
        draft = await broadcast.prepare(session, identity.project_id, body, csv_audience=csv_data is not None, defaults=settings)
        campaign = await broadcast.create(session, identity.project_id, draft, csv_rows)
        out = await broadcast.describe(session, campaign)
    if csv_data is not None:
        out["audience"]["rows"] = len(rows)
        out["audience"]["rejected_rows"] = len(rejected)
        out["audience"]["rejected"] = rejected[:100]
    engine = getattr(request.app.state, "broadcasts", None)
    if engine is not None:
        engine.wake.set()
    return out


async def _create_api_campaign(request: Request, identity: ApiIdentity, body: dict) -> Any:

    name, template = body.get("name"), body.get("template")
    if not isinstance(name, str) or not isinstance(template, str) or not template.strip():
        raise WacastError("name and template are required", "FIELD_REQUIRED", {"field": "name" if not isinstance(name, str) else "template"})
    language = body.get("language") if isinstance(body.get("language"), str) else None
    async with request.app.state.db.transaction() as session:
        campaign = await campaigns.create(session, identity.project_id, name, template.strip(), language, live=bool(body.get("live")))
        return await broadcast.describe(session, campaign)


@router.get("/campaigns/{campaign}", summary="A campaign with its progress (queued / sent / delivered / read / failed of total)")
async def get_campaign(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        found = await broadcast.find(session, identity.project_id, campaign)
        return await broadcast.describe(session, found)


async def _control(request: Request, identity: ApiIdentity, ref: str, action: str) -> Any:
    async with request.app.state.db.transaction() as session:
        campaign = await broadcast.find(session, identity.project_id, ref, lock=True)
        if action == "pause":
            result: Any = {"held": await broadcast.pause(session, campaign)}
        elif action == "resume":
            result = {"released": await broadcast.resume(session, campaign)}
        elif action == "cancel":
            result = {"withdrawn": await broadcast.cancel(session, campaign)}
        else:
            result = await broadcast.retry_failed(session, campaign)
        out = await broadcast.describe(session, campaign)
    if action in ("resume", "retry-failed"):
        request.app.state.wake_dispatcher()
    return {**out, "result": result}


@router.post("/campaigns/{campaign}/pause", summary="Pause a broadcast: stop queueing, hold its queued messages")
async def pause_campaign(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    return await _control(request, identity, campaign, "pause")


@router.post("/campaigns/{campaign}/resume", summary="Resume a paused broadcast where it stopped")
async def resume_campaign(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    return await _control(request, identity, campaign, "resume")


@router.post("/campaigns/{campaign}/cancel", summary="Cancel a broadcast: nothing more is queued, unsent messages are withdrawn")
async def cancel_campaign(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    return await _control(request, identity, campaign, "cancel")


@router.post("/campaigns/{campaign}/retry-failed", summary="Queue again the failures worth retrying")
async def retry_failed_campaign(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    return await _control(request, identity, campaign, "retry-failed")


@router.post("/campaigns/{campaign}/segment", status_code=201, summary="Make a segment of a campaign's audience by outcome")
async def segment_from_campaign(campaign: str, request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    body = await _json(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    statuses = body.get("status")
    async with request.app.state.db.transaction() as session:
        found = await broadcast.find(session, identity.project_id, campaign)
        name = body.get("name") or f"{found.name}: {'/'.join(statuses) if isinstance(statuses, list) else (statuses or 'audience')}"
        segment = await segments.create(session, identity.project_id, name, segments.outcome_filter(found.id, statuses))
        counts = await segments.count(session, identity.project_id, segment.filter)
    return segment_out(segment, counts)


@router.get("/send-policy", summary="Quiet hours, frequency cap and messaging tier of the project")
async def get_send_policy(request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    async with request.app.state.db.sessionmaker() as session:
        project = await session.get(Project, identity.project_id)
        return broadcast.policy_out(await broadcast.get_policy(session, identity.project_id), project)


@router.put("/send-policy", summary="Set quiet hours, frequency cap and messaging tier (fields given are changed)")
async def put_send_policy(request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    body = await _json(request)
    async with request.app.state.db.transaction() as session:
        policy = await broadcast.set_policy(session, identity.project_id, body)
        project = await session.get(Project, identity.project_id)
        return broadcast.policy_out(policy, project)
