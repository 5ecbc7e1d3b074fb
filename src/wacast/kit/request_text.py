"""The text rule (kit/text.py) for the URL: the decoded path and every query parameter, before
any route reads them.

Endpoints check the body fields they read; the URL is read by every route, the dashboard's
and the API's, and by FastAPI before the endpoint runs. A NUL in `?status=` or in a path
segment used to reach PostgreSQL (which cannot store or compare it: a 500), and `%ff` was
turned into U+FFFD without a word. This middleware refuses, with 400 FIELD_INVALID naming the
query parameter (or `path`):

- percent-encoded bytes that are not UTF-8 (an encoded lone surrogate is not UTF-8 either),
- NUL, every other control character (tab and newline included: no path or query value of
  wacast is multi-line), and lone surrogates.

The answer is the JSON envelope on /api, /campaign and /webhooks paths and for .json and .csv
downloads (as the dashboard answers those), a short text page elsewhere (the dashboard).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from wacast.kit import text
from wacast.kit.errors import WacastError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_PREFIXES = ("/api", "/campaign", "/webhooks")


def _decoded(raw: bytes, field: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as error:
        raise WacastError(
            f"{field} is not valid UTF-8 once percent-decoded", "FIELD_INVALID", {"field": field, "position": error.start}
        ) from None


def _check(field: str, value: str) -> None:
    found = text.problem(value, max_len=len(value))
    if found is not None:
        phrase, details = found
        raise WacastError(f"{field} {phrase}", "FIELD_INVALID", {"field": field, **details})


def check_path(raw_path: bytes) -> None:
    _check("path", _decoded(raw_path, "path"))


def check_query(query_string: bytes) -> None:
    """Each `name=value` pair of the query, decoded as a form would be (`+` is a space)."""
    for pair in query_string.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decoded(raw_name.replace(b"+", b" "), "query")
        field = name if text.problem(name, max_len=100) is None else "query"
        _check(field, name)
        _check(field, _decoded(raw_value.replace(b"+", b" "), field))


def refusal(scope: Scope) -> WacastError | None:
    """Why this request's URL breaks the text rule, or None."""
    raw_path = scope.get("raw_path")
    try:
        if raw_path is not None:
            check_path(raw_path)
        else:  # a server that gives only the decoded path
            _check("path", scope.get("path", ""))
        check_query(scope.get("query_string", b""))
    except WacastError as error:
        return error
    return None


class RequestTextGuard:
    """ASGI middleware: `refusal` for every HTTP request, answered before the app sees it."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = refusal(scope) if scope["type"] == "http" else None
        if error is None:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.startswith(JSON_PREFIXES) or path.endswith((".json", ".csv")):
            body, content_type = orjson.dumps(error.body()), b"application/json"
        else:
            body, content_type = f"{error.message} ({error.code})\n".encode(), b"text/plain; charset=utf-8"
        await send({"type": "http.response.start", "status": error.status_code,
                    "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
