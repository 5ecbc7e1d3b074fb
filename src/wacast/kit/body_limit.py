"""Every request body is bounded before anything reads it (an ASGI middleware).

Each request gets a cap from its method, path and content type (app.py sets them: Meta's
webhooks 3 MB, the two CSV uploads their file limit plus room for the form around the file,
the dashboard's forms 256 KB, everything else 64 KB). A declared Content-Length over the cap
is refused at once, before a byte of the body is read; a body without one (chunked), or one
longer than declared, is counted as the application pulls it and refused as soon as it
passes the cap. Either way the answer is 413 BODY_TOO_LARGE in the error envelope (a small
HTML page for a browser), and the connection is closed rather than drained.

The application's own limits stay (kit/http.read_json's 64 KB, the CSV files' 20 MB): this
only makes sure nothing, not even a middleware or a form parser, holds more than the cap.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wacast.kit.http import MAX_BODY, too_large

FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


@dataclass(frozen=True)
class BodyLimits:
    """The largest body a request may carry: `routes` by (method, exact path), else
    `patterns` by (method, a regular expression the whole path matches: a route with a path
    parameter), else `forms` for a form (urlencoded or multipart), else `default`."""

    default: int = MAX_BODY
    forms: int = MAX_BODY
    routes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    patterns: tuple[tuple[str, re.Pattern[str], int], ...] = ()

    def of(self, method: str, path: str, content_type: bytes) -> int:
        exact = self.routes.get((method, path))
        if exact is not None:
            return exact
        for verb, pattern, limit in self.patterns:
            if verb == method and pattern.fullmatch(path):
                return limit
        return self.forms if content_type.split(b";")[0].strip().lower() in FORM_TYPES else self.default


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):  # behind a prefix (--root-path): the route's own path
            path = path[len(root):] or "/"
        limit = self.limits.of(scope["method"], path, headers.get(b"content-type", b""))
        declared = headers.get(b"content-length", b"").strip()
        if declared.isdigit() and int(declared) > limit:
            await refuse(send, limit, headers)
            return

        received = 0
        refused = started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                raise too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise too_large(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:  # whatever the application answers to a body cut short, the 413 replaces it
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await refuse(send, limit, headers)


async def refuse(send: Send, limit: int, headers: dict[bytes, bytes]) -> None:
    """413 with the error envelope, or a small page for a browser; then the connection closes
    (the rest of the body is never read, so the connection cannot carry another request)."""
    error = too_large(limit)
    if b"text/html" in headers.get(b"accept", b""):
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Too large</title></head><body>'
            f"<h1>The request is too large</h1><p>{html.escape(error.message)}.</p>"
            "<p>Go back and send something smaller (split a CSV file in parts).</p></body></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = orjson.dumps(error.body())
        content_type = b"application/json"
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
