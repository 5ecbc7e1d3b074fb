"""Per-request context: a request id on every log line (accepted from X-Request-Id or made
up, and returned), the request's latency in /metrics by route template and status, one
access log line, and a 500 envelope carrying the request id for anything unexpected.

A client that goes away before its body has arrived is no error of ours: one INFO line, no
traceback, status 499 in the access log and the metrics, and no answer (nobody is listening).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

import orjson
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect

from wacast.kit import logs, metrics

log = logging.getLogger("wacast.access")
error_log = logging.getLogger("wacast")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}
CLIENT_GONE = 499  # nginx's code for a client that closed the connection before the answer


class RequestContextMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1").strip()
                break
        request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        # A fresh context per request (the server runs each request in its own task).
        logs.fresh(request_id=request_id)
        status = 500
        started_response = False
        disconnected = False
        started = time.perf_counter()
        metrics.HTTP_IN_FLIGHT.inc()

        async def watched_receive() -> dict:
            nonlocal disconnected
            message = await receive()
            if message["type"] == "http.disconnect" and not started_response:
                disconnected = True
            return message

        async def send_with_id(message: dict) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        try:
            await self.app(scope, watched_receive, send_with_id)
            if disconnected and not started_response:
                status = CLIENT_GONE
                error_log.info("client disconnected before the request was read")
        except Exception as error:
            if not started_response and (disconnected or isinstance(error, ClientDisconnect)):
                status = CLIENT_GONE
                error_log.info("client disconnected before the request was read (%s)", type(error).__name__)
                return
            error_log.exception("unexpected error")
            if started_response:
                raise
            status = 500
            body = orjson.dumps({"message": "Internal error", "code": "INTERNAL_ERROR", "details": {"request_id": request_id}})
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or ("<unmatched>" if status == 404 else "<other>")
            metrics.http_request(scope.get("method", ""), template, status, elapsed)
            path = scope.get("path", "")
            log.log(
                logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                "%s %s %s %.1fms", scope.get("method"), path, status, elapsed * 1000,
                extra={"method": scope.get("method"), "path": path, "route": template, "status": status,
                       "duration_ms": round(elapsed * 1000, 2)},
            )
