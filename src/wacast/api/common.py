"""Helpers of the REST API: OpenAPI examples, JSON bodies, answers and common errors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from wacast.kit.errors import WacastError
from wacast.kit.http import MAX_BODY, JSONResponse, read_body, read_json

__all__ = ["JSONResponse", "read_json"]  # re-exported for the routers

ERRORS: dict[int, dict[str, Any]] = {
    400: {"message": "tags: Unknown tag(s): gold; create them first (POST /api/v1/tags)", "code": "TAG_UNKNOWN", "details": {"tags": ["gold"]}},
    401: {"name": "ERR401", "message": "Unauthorized", "code": "UNAUTHORIZED", "details": {"reason": "send Authorization: Bearer <API key>"}},
    403: {"message": "This API key has scope `send`: it can send (campaign API) and read messages; this needs a `full` key", "code": "KEY_SCOPE", "details": {"scope": "send", "required": "full"}},
    404: {"message": "Contact not found", "code": "CONTACT_NOT_FOUND", "details": {"contact": "+919999999999"}},
    409: {"message": "A request with this Idempotency-Key is still in progress; retry after the given seconds", "code": "IDEMPOTENCY_KEY_IN_FLIGHT", "details": {"retry_after_seconds": 1}},
    422: {"message": "This Idempotency-Key was already used with a different request; use a new key for a new request", "code": "IDEMPOTENCY_KEY_REUSED", "details": {"first_used_at": "2026-11-27T10:00:00+00:00"}},
    429: {"message": "Too many requests for this API key; slow down and retry after the given seconds", "code": "RATE_LIMITED", "details": {"retry_after_seconds": 1, "limit_per_second": 200}},
}


def doc(
    example: Any, *errors: int, status: int = 200, request_example: Any = None, fields: Iterable[str] | None = None,
    description: str | None = None, write: bool = False,
) -> dict[str, Any]:
    """Keyword arguments of a route: the answer's example, the error examples, the body's
    example and its fields (the ones `allow_fields` lets through: any other is a 422)."""
    responses: dict[int | str, Any] = {}
    if status == 204:
        responses[204] = {"description": description or "Done; no content"}
    else:
        responses[status] = {"description": description or "Success", "content": {"application/json": {"example": example}}}
    for code in sorted({401, 429, *errors}):
        responses[code] = {"description": _DESCRIPTIONS.get(code, "Error"), "content": {"application/json": {"example": ERRORS[code]}}}
    out: dict[str, Any] = {"responses": responses}
    extra: dict[str, Any] = {}
    if request_example is not None:
        extra["requestBody"] = request_body(request_example, fields)
    if request_example is not None or write:
        extra["parameters"] = [IDEMPOTENCY_PARAMETER]
    if extra:
        out["openapi_extra"] = extra
    return out


def request_body(example: Any, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """A JSON body's OpenAPI: its example and, when given, its fields (no other is accepted)."""
    schema: dict[str, Any] = {"type": "object"}
    if fields is not None:
        schema.update(properties={name: {} for name in sorted(fields)}, additionalProperties=False)
    return {"required": True, "content": {"application/json": {"schema": schema, "example": example}}}


def body_doc(example: Any, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """Keyword arguments of a route documented by its body alone (example, fields, Idempotency-Key)."""
    return {"openapi_extra": {"requestBody": request_body(example, fields), "parameters": [IDEMPOTENCY_PARAMETER]}}


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 255},
    "description": "Retry safely: the same key and request within 24 h replays the first answer (docs/integrations.md).",
}


_DESCRIPTIONS = {
    400: "Rejected: the request cannot be applied", 401: "Missing or unknown API key", 403: "The key's scope does not allow this",
    404: "Not found in this project", 409: "Conflict (already exists, or the same Idempotency-Key is in flight)",
    422: "Malformed request, an unknown field (details.fields), or Idempotency-Key reused with another body", 429: "Rate limit of the API key (Retry-After)",
}


async def body_object(request: Request) -> dict[str, Any]:
    """The JSON object sent (400 INVALID_JSON / INVALID_BODY otherwise)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise WacastError("Request body must be a JSON object", "INVALID_BODY")
    return data


def allow_fields(data: Any, allowed: Iterable[str], path: str = "") -> None:
    """Refuse the fields of `data` this route does not know: 422 VALIDATION_ERROR naming them.

    A field that is ignored is worse than one that is refused: a client written for a later
    version (or a typo) would send for real what it meant to restrict. `path` names a nested
    object ("media"): its fields are named "media.url" in the message and the details. Not an
    object: nothing to check here (the route's own validation refuses it)."""
    if not isinstance(data, dict):
        return
    known = set(allowed)
    prefix = f"{path}." if path else ""
    unknown = [f"{prefix}{name}" for name in sorted(set(data) - known, key=str)]
    if unknown:
        raise WacastError(
            f"Unknown field(s): {', '.join(unknown)}", "VALIDATION_ERROR",
            {"fields": unknown, "allowed": [f"{prefix}{name}" for name in sorted(known)]}, status_code=422,
        )


async def no_fields(request: Request) -> None:
    """A write route that takes no body: an empty body or `{}` passes; an object with fields
    is refused like any unknown field (a later version's option must not be ignored)."""
    declared = request.headers.get("content-length")
    if declared == "0" or (declared is None and "transfer-encoding" not in request.headers):
        return
    raw = await read_body(request, MAX_BODY)
    if not raw.strip():
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WacastError("Request body is not valid JSON", "INVALID_JSON") from None
    if not isinstance(data, dict):
        raise WacastError("This request takes no body; send none or {}", "INVALID_BODY")
    allow_fields(data, ())


def plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def answer(value: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(plain(value), status_code=status)


def page(p: Any) -> JSONResponse:
    """A page: {"data": [...], "next_cursor": "..." | null}."""
    return JSONResponse({"data": plain(p.items), "next_cursor": p.next_cursor})


def parse_bool(value: str | None, field: str) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise WacastError(f"{field} must be true or false", "VALIDATION_ERROR", {"field": field}, status_code=422)


# A body-less write route's parameter, before its session (the body is read first).
NoBody = Annotated[None, Depends(no_fields)]
