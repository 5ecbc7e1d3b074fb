"""/api/v1/campaigns for broadcasts: create (segment or CSV), progress, resume, cancel, retry
failed, make a segment of the audience by outcome; /api/v1/send-policy. (Pausing, of API
campaigns and broadcasts alike, is POST /campaigns/{campaign}/pause in api/campaigns.py.)

The routes only read the request and shape the answer; the use cases are
campaigns/broadcasts/service.py, the same functions the dashboard and the CLI call."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request

from wacast.api.auth import ApiIdentity
from wacast.api.common import NoBody, allow_fields, body_doc
from wacast.api.segments import require_full_key, segment_out
from wacast.campaigns import analytics
from wacast.campaigns import service as campaigns
from wacast.campaigns.broadcasts import dry_run, presenter
from wacast.campaigns.broadcasts import service as broadcasts
from wacast.campaigns.broadcasts.audience_csv import MAX_CSV_BYTES
from wacast.contacts import segments
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse, read_json
from wacast.links import service as links

router = APIRouter(prefix="/api/v1", tags=["Broadcasts"])

# What each control answers under "result".
RESULT_KEYS = {"pause": "held", "resume": "released", "cancel": "withdrawn"}

# The fields each body may have, nested objects included: any other is refused (422 naming
# it), never ignored: a client's option this version does not know must not send for real.
API_CAMPAIGN_FIELDS = ("type", "name", "template", "language", "live", "tracking")
BROADCAST_FIELDS = (
    "type", "name", "template", "language", "segment", "segment_id", "params", "buttons", "media", "location",
    "send_at", "failure_threshold", "failure_window", "dry_run", "tracking",
)
CSV_BROADCAST_FIELDS = (*(f for f in BROADCAST_FIELDS if f != "segment_id"), "source")  # `segment` is refused by name
MULTIPART_FIELDS = ("campaign", "audience")
MEDIA_FIELDS = ("url", "filename")
LOCATION_FIELDS = ("latitude", "longitude", "name", "address")
SOURCE_FIELDS = ("attribute", "fallback", "text")
AUDIENCE_SEGMENT_FIELDS = ("name", "status")
POLICY_FIELDS = ("quiet_hours", "frequency_cap", "messaging_tier")
QUIET_HOURS_FIELDS = ("start", "end")
FREQUENCY_CAP_FIELDS = ("messages", "days")


BROADCAST_EXAMPLE = {
    "type": "broadcast", "name": "Retarget: read, no reply", "template": "diwali_offer", "segment": "FB read X, no reply",
    "params": [{"attribute": "FirstName", "fallback": "there"}, "20%"], "send_at": "2026-11-28T10:00",
    "tracking": {"utm": {"utm_medium": "broadcast"}, "goals": ["purchase"], "attribution_window_days": 7},
}
# Every field a JSON create request may have (which apply depends on "type"; docs/broadcasts.md).
CREATE_FIELDS = sorted({*BROADCAST_FIELDS, *API_CAMPAIGN_FIELDS})


def check_broadcast_fields(body: dict[str, Any], *, csv_audience: bool) -> None:
    """Unknown fields of a broadcast's create request, at the top and in its fixed objects."""
    allow_fields(body, CSV_BROADCAST_FIELDS if csv_audience else BROADCAST_FIELDS)
    allow_fields(body.get("media"), MEDIA_FIELDS, "media")
    allow_fields(body.get("location"), LOCATION_FIELDS, "location")
    params = body.get("params")
    if isinstance(params, list):
        for i, value in enumerate(params):
            allow_fields(value, SOURCE_FIELDS, f"params[{i}]")
    elif isinstance(params, dict):
        for name, value in params.items():
            allow_fields(value, SOURCE_FIELDS, f"params.{name}")
    buttons = body.get("buttons")
    if isinstance(buttons, dict):
        for index, value in buttons.items():
            allow_fields(value, SOURCE_FIELDS, f"buttons.{index}")


async def _read_request(request: Request) -> tuple[Any, bytes | None]:
    """JSON body, or multipart with a `campaign` JSON field and an `audience` CSV file."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        allow_fields(dict(form), MULTIPART_FIELDS)
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
    return await read_json(request), None


@router.post("/campaigns", status_code=201, summary="Create a campaign: \"type\": \"broadcast\" (segment or CSV upload) or \"api\"; a broadcast with \"dry_run\": true answers 200 with what it would do (docs/dry-run.md), creating nothing",
             **body_doc(BROADCAST_EXAMPLE, CREATE_FIELDS))
async def create_campaign(request: Request, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    # Sessions opened here, not by WriteSession: a broadcast's media URL is fetched between
    # validation and the write (broadcasts.create opens its own units of work around it).
    body, csv_data = await _read_request(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    kind = body.get("type", "broadcast" if csv_data is not None else None)
    dry = body.pop("dry_run", False)
    if not isinstance(dry, bool):
        raise WacastError("dry_run must be true or false", "FIELD_INVALID", {"field": "dry_run"})
    # Clicks and conversions (docs/links.md), as PUT .../tracking takes them: checked before
    # anything is written, the dry run included; stored with the campaign.
    tracking = body.pop("tracking", None)
    links.check_tracking(tracking, request.app.state.settings.public_url)
    if kind == "api":
        if dry:
            raise WacastError("dry_run is for broadcasts; estimate an API campaign's list with POST /api/v1/campaigns/{id}/estimate",
                              "FIELD_INVALID", {"field": "dry_run"})
        if csv_data is not None:
            raise WacastError("An API campaign has no audience to upload; send JSON", "FIELD_INVALID", {"field": "audience"})
        allow_fields(body, API_CAMPAIGN_FIELDS)
        return await _create_api_campaign(request, identity, body, tracking)
    if kind != "broadcast":
        raise WacastError("type must be \"broadcast\" or \"api\"", "FIELD_INVALID", {"field": "type", "allowed": ["broadcast", "api"]})
    check_broadcast_fields(body, csv_audience=csv_data is not None)
    if dry:  # the same validation, then the estimate, the countries and the cost: nothing is written (docs/dry-run.md)
        return JSONResponse(await dry_run.broadcast(
            request.app.state.db, identity.project_id, body, defaults=request.app.state.settings,
            check_media=request.app.state.media.check, csv_data=csv_data))
    out = await broadcasts.create(
        request.app.state.db, identity.project_id, body, defaults=request.app.state.settings,
        check_media=request.app.state.media.check, csv_data=csv_data, tracking=tracking,
    )
    engine = getattr(request.app.state, "broadcasts", None)
    if engine is not None:
        engine.wake.set()
    return out


async def _create_api_campaign(request: Request, identity: ApiIdentity, body: dict, tracking: Any) -> Any:
    name, template = body.get("name"), body.get("template")
    if not isinstance(name, str) or not isinstance(template, str) or not template.strip():
        raise WacastError("name and template are required", "FIELD_REQUIRED", {"field": "name" if not isinstance(name, str) else "template"})
    language = body.get("language") if isinstance(body.get("language"), str) else None
    async with request.app.state.db.transaction() as session:  # the route opens its sessions (see create_campaign)
        campaign = await campaigns.create(session, identity.project_id, name, template.strip(), language, live=bool(body.get("live")),
                                          tracking=tracking, public_url=request.app.state.settings.public_url)
        return await presenter.describe(session, campaign)  # its tracking included


@router.get("/campaigns/{campaign}", summary="A campaign with its progress (queued / sent / delivered / read / failed of total)")
async def get_campaign(campaign: str, session: ReadSession, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    found = await broadcasts.find(session, identity.project_id, campaign)
    return {**await presenter.describe(session, found), "results": await analytics.earned(session, found)}  # clicks, conversions (issue 16)


async def control(session: Any, request: Request, background: BackgroundTasks, identity: ApiIdentity, ref: str, action: str) -> Any:
    """A broadcast control's answer: the broadcast, with what the action did under "result"."""
    campaign, result = await broadcasts.control(session, identity.project_id, ref, action)
    if action in ("resume", "retry-failed"):
        # After the response, so after the commit: the dispatcher then sees the released messages.
        background.add_task(request.app.state.wake_dispatcher)
    key = RESULT_KEYS.get(action)
    return {**await presenter.describe(session, campaign), "result": {key: result} if key else result}


@router.post("/campaigns/{campaign}/resume", summary="Resume a paused broadcast where it stopped")
async def resume_campaign(
    campaign: str, request: Request, background: BackgroundTasks, _: NoBody, session: WriteSession,
    identity: ApiIdentity = Depends(require_full_key),
) -> Any:
    return await control(session, request, background, identity, campaign, "resume")


@router.post("/campaigns/{campaign}/cancel", summary="Cancel a broadcast: nothing more is queued, unsent messages are withdrawn")
async def cancel_campaign(
    campaign: str, request: Request, background: BackgroundTasks, _: NoBody, session: WriteSession,
    identity: ApiIdentity = Depends(require_full_key),
) -> Any:
    return await control(session, request, background, identity, campaign, "cancel")


@router.post("/campaigns/{campaign}/retry-failed", summary="Queue again the failures worth retrying")
async def retry_failed_campaign(
    campaign: str, request: Request, background: BackgroundTasks, _: NoBody, session: WriteSession,
    identity: ApiIdentity = Depends(require_full_key),
) -> Any:
    return await control(session, request, background, identity, campaign, "retry-failed")


@router.post("/campaigns/{campaign}/segment", status_code=201, summary="Make a segment of a campaign's audience by outcome",
             **body_doc({"status": ["read"], "name": "Read the offer"}, AUDIENCE_SEGMENT_FIELDS))
async def segment_from_campaign(campaign: str, request: Request, session: WriteSession, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    allow_fields(body, AUDIENCE_SEGMENT_FIELDS)
    statuses = body.get("status")
    found = await broadcasts.find(session, identity.project_id, campaign)
    name = body.get("name") or f"{found.name}: {'/'.join(statuses) if isinstance(statuses, list) else (statuses or 'audience')}"
    segment = await segments.create(session, identity.project_id, name, segments.outcome_filter(found.id, statuses))
    counts = await segments.count(session, identity.project_id, segment.filter)
    return segment_out(segment, counts)


@router.get("/send-policy", summary="Quiet hours, frequency cap and messaging tier of the project")
async def get_send_policy(session: ReadSession, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    return await broadcasts.policy_view(session, identity.project_id, await broadcasts.get_policy(session, identity.project_id))


@router.put("/send-policy", summary="Set quiet hours, frequency cap and messaging tier (fields given are changed)",
            **body_doc({"quiet_hours": {"start": "21:00", "end": "09:00"}, "frequency_cap": {"messages": 2, "days": 7}, "messaging_tier": 2000},
                       POLICY_FIELDS))
async def put_send_policy(request: Request, session: WriteSession, identity: ApiIdentity = Depends(require_full_key)) -> Any:
    body = await read_json(request)
    allow_fields(body, POLICY_FIELDS)
    allow_fields(body.get("quiet_hours") if isinstance(body, dict) else None, QUIET_HOURS_FIELDS, "quiet_hours")
    allow_fields(body.get("frequency_cap") if isinstance(body, dict) else None, FREQUENCY_CAP_FIELDS, "frequency_cap")
    policy = await broadcasts.set_policy(session, identity.project_id, body)
    return await broadcasts.policy_view(session, identity.project_id, policy)
