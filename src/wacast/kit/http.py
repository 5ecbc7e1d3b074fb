"""Small HTTP helpers shared by the endpoints."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from starlette.responses import Response

from wacast.kit.errors import WacastError

MAX_BODY = 64 * 1024
MB = 1024 * 1024


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, streamed and refused (413) as soon as it passes `max_bytes`: a
    declared Content-Length over it before any byte is read, a chunked body at the limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int = MAX_BODY) -> Any:
    """The request's JSON, refusing bodies over `max_bytes` (413) and malformed JSON (400)."""
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        raise WacastError("Request body is empty; send a JSON object", "INVALID_JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise WacastError("Request body is not valid JSON", "INVALID_JSON", {"error": str(error)[:200]}) from None


async def json_body(request: Request) -> Any:
    """`read_json` as a FastAPI dependency (its `max_bytes` must not become a query parameter)."""
    return await read_json(request)


def size_words(size: int) -> str:
    """64 KB, 3 MB, 20.1 MB: a limit as people read it."""
    if size < MB:
        return f"{size // 1024} KB"
    return f"{size // MB} MB" if size % MB == 0 else f"{size / MB:.1f} MB"


def too_large(max_bytes: int) -> WacastError:
    return WacastError(
        f"Request body is too large (at most {size_words(max_bytes)})",
        "BODY_TOO_LARGE",
        {"max_bytes": max_bytes},
        status_code=413,
    )


class JSONResponse(Response):
    """The one JSON response of wacast: orjson (fast; UUIDs and datetimes without custom
    encoders), and anything else orjson does not know (asyncpg's UUID type, which is not a
    uuid.UUID subclass) as its string."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=str)
