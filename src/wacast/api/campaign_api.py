"""The AiSensy-compatible campaign API: /campaign/{slug}/api/v2, /api (v1) and campaign-details."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse, read_json
from wacast.kit.logs import bind_message

router = APIRouter(tags=["Campaign API (AiSensy-compatible)"])

CAMPAIGN_BODY_EXAMPLE = {
    "apiKey": "wac_...",
    "campaignName": "order_update",
    "destination": "+917428526285",
    "userName": "Asha",
    "templateParams": ["$FirstName", "ORD-1042"],
    "source": "website",
    "media": {},
    "buttons": [],
    "carouselCards": [],
    "location": {},
    "tags": ["customer"],
    "attributes": {"city": "Pune"},
    "paramsFallbackValue": {"FirstName": "there"},
}

_openapi_body = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}, "example": CAMPAIGN_BODY_EXAMPLE}},
    },
    # Retry safely (kit/idempotency.py, docs/integrations.md).
    "parameters": [{
        "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 255},
        "description": "The same key and body within 24 h replays the first answer; nothing is sent twice.",
    }],
}


def _service(request: Request):  # noqa: ANN202
    return request.app.state.campaign_api


@router.post(
    "/campaign/{slug}/api/v2",
    summary="Send a campaign message (v2)",
    openapi_extra=_openapi_body,
    responses={
        200: {"content": {"application/json": {"example": {"success": "true", "submitted_message_id": "6f1c8a52-..."}}}},
        400: {"content": {"application/json": {"example": {"message": "Template params does not match the campaign", "code": "TEMPLATE_PARAMS_MISMATCH", "details": {"expected": 2, "given": 1}}}}},
        401: {"content": {"application/json": {"example": {"name": "ERR401", "message": "Unauthorized", "code": "UNAUTHORIZED"}}}},
        413: {"description": "Body over 64 KB"},
    },
)
async def send_v2(slug: str, request: Request) -> Any:
    body = await read_json(request)
    accepted = await _service(request).accept(body)
    bind_message(accepted.message_id)  # the request's remaining log lines carry submitted_message_id
    out: dict[str, Any] = {"success": "true", "submitted_message_id": str(accepted.message_id)}
    if accepted.ignored:
        out["ignored"] = accepted.ignored
    return JSONResponse(out)


@router.post(
    "/campaign/{slug}/api",
    summary="Send a campaign message (v1: answers the text `Success.`)",
    openapi_extra=_openapi_body,
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": "Success."}}}},
)
async def send_v1(slug: str, request: Request) -> Any:
    body = await read_json(request)
    accepted = await _service(request).accept(body)
    bind_message(accepted.message_id)
    return PlainTextResponse("Success.", headers={"X-Submitted-Message-Id": str(accepted.message_id)})


@router.post(
    "/campaign/{slug}/api/campaign-details",
    summary="What a send to this campaign needs",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": {"apiKey": "wac_...", "campaignName": "order_update"}}},
        }
    },
)
async def campaign_details(slug: str, request: Request) -> Any:
    body = await read_json(request)
    try:
        example = await _service(request).campaign_details(body)
    except WacastError as error:
        if error.code != "CAMPAIGN_NOT_FOUND":
            raise
        # The key is good. AiSensy's own n8n node tests credentials with campaignName "test"
        # and passes on any 2xx, so an unknown campaign answers 200 with success false here
        # (this endpoint sends nothing).
        return JSONResponse({"success": False, **error.body()})
    return JSONResponse({"success": True, "requestBody": example})
