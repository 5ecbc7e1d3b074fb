"""Idempotency-Key on the campaign API and every REST write (an ASGI middleware).

Before the work, a row (API key, Idempotency-Key) is claimed in the database with a unique
constraint, so the guarantee holds across server processes on PostgreSQL:

- first request: claimed `in_flight`, the endpoint runs, its response is stored (`done`);
- same key and same request (method, path, body) within 24 h: the stored response is
  replayed (header `Idempotent-Replayed: true`), nothing runs again;
- same key, different request: 422 IDEMPOTENCY_KEY_REUSED;
- same key while the first is still running: 409 IDEMPOTENCY_KEY_IN_FLIGHT with Retry-After.

Responses that a retry should be able to change are not kept (401, 429 and 5xx): the claim is
released and the key can be used again. A claim whose process died is taken over after its
lease (60 s). Keys are scoped to the API key that sent them.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wacast.idempotency import repository
from wacast.kit.clock import utcnow

HEADER = b"idempotency-key"
METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PREFIXES = ("/api/v1/", "/campaign/")
TTL = timedelta(hours=24)
LEASE = timedelta(seconds=60)
MAX_KEY = 255
MAX_BODY = 25 * 1024 * 1024
NOT_KEPT = {401, 429}
REPLAY_HEADERS = {"content-type", "location", "x-submitted-message-id", "retry-after"}


def _json_response(status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, list, bytes]:
    raw = orjson.dumps(body)
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *(headers or [])], raw


def _request_hash(method: str, path: str, query: bytes, content_type: str, body: bytes) -> str:
    canonical = body
    if "json" in content_type or not content_type:
        try:
            canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body.strip() else b""
        except orjson.JSONDecodeError:
            canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _credential(headers: dict[bytes, bytes], body: bytes, path: str) -> str | None:
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if path.startswith("/campaign/"):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        key = data.get("apiKey") if isinstance(data, dict) else None
        return key if isinstance(key, str) and key else None
    return None


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS or not scope["path"].startswith(PREFIXES):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            return await self.app(scope, receive, send)
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY or not key.isprintable():
            return await self._answer(send, *_json_response(400, {
                "message": f"Idempotency-Key must be 1 to {MAX_KEY} printable characters", "code": "IDEMPOTENCY_KEY_INVALID",
            }))
        # The whole body, to hash it (and give it back to the endpoint unchanged).
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return await self._answer(send, *_json_response(413, {"message": "Request body is too large", "code": "BODY_TOO_LARGE"}))
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        credential = _credential(headers, body, scope["path"])
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        if credential is None:  # unauthenticated: the endpoint answers 401
            return await self.app(scope, replay_receive, send)
        db = scope["app"].state.db
        scope_hash = hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()
        request_hash = _request_hash(
            scope["method"], scope["path"], scope.get("query_string", b""), headers.get(b"content-type", b"").decode("latin-1"), body
        )
        outcome = await self._claim(db, scope_hash, key, request_hash)
        if outcome is not None:
            return await self._answer(send, *outcome)

        status = 500
        response_headers: list[tuple[bytes, bytes]] = []
        response_body: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                response_body.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await self._release(db, scope_hash, key)
            raise
        await self._store(db, scope_hash, key, status, response_headers, b"".join(response_body))

    async def _answer(self, send: Send, status: int, headers: list, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _claim(self, db: Any, scope_hash: str, key: str, request_hash: str) -> tuple[int, list, bytes] | None:
        """None when this request may run; else the response to give instead."""
        now = utcnow()
        async with db.transaction() as session:
            if await repository.insert_claim(session, scope_hash, key, request_hash, now + LEASE, now):
                return None
            row = await repository.get_for_update(session, scope_hash, key)
            if row is None:  # expired and deleted in between: a retry of the client will claim it
                return _json_response(409, {"message": "A request with this Idempotency-Key is in progress", "code": "IDEMPOTENCY_KEY_IN_FLIGHT"}, [(b"retry-after", b"1")])
            if row.created_at <= now - TTL:
                row.request_hash, row.state, row.locked_until, row.created_at = request_hash, "in_flight", now + LEASE, now
                row.response_status = row.response_headers = row.response_body = None
                return None
            if row.request_hash != request_hash:
                return _json_response(422, {
                    "message": "This Idempotency-Key was already used with a different request; use a new key for a new request",
                    "code": "IDEMPOTENCY_KEY_REUSED", "details": {"first_used_at": row.created_at.isoformat()},
                })
            if row.state == "done" and row.response_status is not None:
                headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (row.response_headers or {}).items()]
                raw = (row.response_body or "").encode()
                headers = [h for h in headers if h[0] != b"content-length"]
                headers += [(b"content-length", str(len(raw)).encode()), (b"idempotent-replayed", b"true")]
                return row.response_status, headers, raw
            if row.locked_until is not None and row.locked_until > now:
                wait = 1  # requests are short; the client retries soon and gets the stored answer
                return _json_response(409, {
                    "message": "A request with this Idempotency-Key is still in progress; retry after the given seconds",
                    "code": "IDEMPOTENCY_KEY_IN_FLIGHT", "details": {"retry_after_seconds": wait},
                }, [(b"retry-after", str(wait).encode())])
            row.locked_until = now + LEASE  # the first request's process died: take over
            return None

    async def _release(self, db: Any, scope_hash: str, key: str) -> None:
        async with db.transaction() as session:
            await repository.release_in_flight(session, scope_hash, key)

    async def _store(self, db: Any, scope_hash: str, key: str, status: int, headers: list, body: bytes) -> None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if status in NOT_KEPT or status >= 500 or text is None:
            await self._release(db, scope_hash, key)
            return
        kept = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k.decode("latin-1").lower() in REPLAY_HEADERS}
        async with db.transaction() as session:
            await repository.store_response(session, scope_hash, key, status, kept, text)


async def purge_expired(session: Any) -> int:
    """Delete keys past their 24 h (and an hour's grace); the runtime's Purges loop calls it."""
    return await repository.purge_created_before(session, utcnow() - TTL - timedelta(hours=1))
