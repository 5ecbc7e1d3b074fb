"""Request bodies are bounded before anything holds them (kit/body_limit.py), and a client that
leaves mid-body is no error (ops/middleware.py).

The app is driven as ASGI with a `receive` that hands out the body in 64 KB chunks and counts
how many were pulled: a refused body was pulled up to its cap and one chunk more, never whole.
A real socket through uvicorn checks that a declared 600 MB is refused before it is sent.
"""

from __future__ import annotations

import logging
import socket

import orjson
import pytest

from tests.support.factories import make_project
from tests.support.live_server import LiveServer
from wacast.api.meta_webhooks import MAX_WEBHOOK_BODY
from wacast.campaigns.broadcasts.audience_csv import MAX_CSV_BYTES
from wacast.contacts.csv_import import MAX_BYTES as MAX_IMPORT_BYTES

CHUNK = 64 * 1024
KB = 1024
MB = 1024 * KB
UPLOAD_ROOM = 128 * KB  # app.py's room for the form around a CSV file
WEBHOOK_CAP = MAX_WEBHOOK_BODY
IMPORT_CAP = MAX_IMPORT_BYTES + UPLOAD_ROOM
BROADCAST_CAP = MAX_CSV_BYTES + UPLOAD_ROOM
FORM = b"application/x-www-form-urlencoded"
MULTIPART = b"multipart/form-data; boundary=x"


class Body:
    """An ASGI `receive`: `total` bytes in 64 KB chunks (then the end, or a disconnect)."""

    def __init__(self, total: int, *, disconnect_after: int | None = None) -> None:
        self.total = total
        self.disconnect_after = disconnect_after
        self.pulled = 0
        self.sent = 0

    async def __call__(self) -> dict:
        if self.disconnect_after is not None and self.pulled >= self.disconnect_after:
            return {"type": "http.disconnect"}
        if self.sent >= self.total:  # the app asks again after the body: the client is waiting
            return {"type": "http.disconnect"}
        self.pulled += 1
        size = min(CHUNK, self.total - self.sent)
        self.sent += size
        more = self.disconnect_after is not None or self.sent < self.total
        return {"type": "http.request", "body": b"{" + b" " * (size - 1) if self.pulled == 1 else b" " * size, "more_body": more}


async def call(app, method: str, path: str, body: Body, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()] + [(b"host", b"wacast.test")],
        "client": ("127.0.0.1", 50000), "server": ("wacast.test", 80), "state": {},
    }
    await app(scope, body, send)
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (start["status"] if start else 0), dict(start["headers"]) if start else {}, raw


# Each endpoint that reads a body, with its cap and the headers that make it read (the
# campaign API's and REST's Idempotency-Key: its middleware hashes the whole body first).
READERS = {
    "meta webhook": ("/webhooks/whatsapp", WEBHOOK_CAP, {"content-type": "application/json"}),
    "campaign api, idempotent": ("/campaign/t1/api/v2", 64 * KB, {"content-type": "application/json", "idempotency-key": "k1"}),
    "rest, idempotent": ("/api/v1/contacts", 64 * KB,
                         {"content-type": "application/json", "idempotency-key": "k2", "authorization": "Bearer wac_anything"}),
    "dashboard form": ("/login", 256 * KB, {"content-type": FORM.decode()}),
    "broadcast csv upload": ("/api/v1/campaigns", BROADCAST_CAP,
                             {"content-type": MULTIPART.decode(), "idempotency-key": "k3", "authorization": "Bearer wac_anything"}),
}


@pytest.mark.parametrize("name", READERS)
async def test_a_chunked_body_is_refused_at_its_cap_without_being_held(app, name):
    path, cap, headers = READERS[name]
    # "Endless" for the server: twice the cap and more (it ends so that a server without the
    # limit finishes and fails the assertion instead of pulling forever).
    body = Body(2 * cap + 8 * CHUNK)
    status, response_headers, raw = await call(app, "POST", path, body, headers)
    assert status == 413, raw
    assert orjson.loads(raw) == {"message": orjson.loads(raw)["message"], "code": "BODY_TOO_LARGE", "details": {"max_bytes": cap}}
    assert body.pulled <= cap // CHUNK + 1, f"pulled {body.pulled} chunks of 64 KB for a {cap // KB} KB cap"
    assert response_headers[b"connection"] == b"close" and b"x-request-id" in response_headers  # the usual middleware ran


DECLARED = {
    "meta webhook": ("POST", "/webhooks/whatsapp", WEBHOOK_CAP, "application/json"),
    "campaign api, idempotent": ("POST", "/campaign/t1/api/v2", 64 * KB, "application/json"),
    "dashboard form": ("POST", "/login", 256 * KB, FORM.decode()),
    "contacts csv import": ("POST", "/contacts/import", IMPORT_CAP, MULTIPART.decode()),
    "broadcast csv upload": ("POST", "/api/v1/campaigns", BROADCAST_CAP, MULTIPART.decode()),
    "no body expected": ("GET", "/healthz", 64 * KB, "application/json"),
}


@pytest.mark.parametrize("name", DECLARED)
async def test_a_declared_length_over_the_cap_is_refused_before_any_byte_is_read(app, name):
    method, path, cap, content_type = DECLARED[name]
    headers = {"content-type": content_type, "content-length": str(cap + 1), "idempotency-key": "k4"}
    body = Body(cap + 1)
    status, _, raw = await call(app, method, path, body, headers)
    assert status == 413 and orjson.loads(raw)["code"] == "BODY_TOO_LARGE", raw
    assert body.pulled == 0

    # At the cap the endpoint answers for itself (not signed in, bad signature...), not the limit.
    at_cap = Body(cap)
    status, _, raw = await call(app, method, path, at_cap, {"content-type": content_type, "content-length": str(cap)})
    assert status != 413, raw


async def test_the_csv_import_cap_is_the_import_limit_and_a_browser_gets_a_page(app):
    headers = {"content-type": MULTIPART.decode(), "content-length": str(IMPORT_CAP + 1), "accept": "text/html,*/*;q=0.8"}
    status, response_headers, raw = await call(app, "POST", "/contacts/import", Body(0), headers)
    assert status == 413 and response_headers[b"content-type"].startswith(b"text/html")
    assert b"The request is too large" in raw and b"at most 20.1 MB" in raw


async def test_a_declared_600_mb_webhook_is_answered_413_at_once_over_a_real_socket(settings):
    server = LiveServer(settings).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
            conn.sendall(
                b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: wacast.test\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {600 * MB}\r\n\r\n".encode() + b'{"object": "whatsapp_business_account", '
            )
            answer = b""
            while b"BODY_TOO_LARGE" not in answer:  # the answer comes while 600 MB are still "to come"
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
    finally:
        server.stop()
    head, _, raw = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"connection: close" in head.lower()
    assert orjson.loads(raw)["details"]["max_bytes"] == WEBHOOK_CAP


DISCONNECTS = {
    "meta webhook": ("/webhooks/whatsapp", {"content-type": "application/json"}),
    "campaign api": ("/campaign/t1/api/v2", {"content-type": "application/json"}),
    "dashboard form": ("/login", {"content-type": FORM.decode()}),
}


@pytest.mark.parametrize("name", DISCONNECTS)
async def test_a_client_leaving_mid_body_is_an_info_line_not_an_error(app, caplog, name):
    path, headers = DISCONNECTS[name]
    caplog.set_level(logging.INFO)
    body = Body(10 * MB, disconnect_after=1)  # one 64 KB chunk (within every cap), then gone
    status, _, _ = await call(app, "POST", path, body, headers)
    assert status == 0  # nobody is listening: no answer is sent
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage()) for r in errors]
    assert any(r.levelno == logging.INFO and "client disconnected" in r.getMessage() for r in caplog.records)
    access = [r for r in caplog.records if r.name == "wacast.access"]
    assert access and access[-1].status == 499


async def test_bodies_within_the_caps_still_work(app, client, db):
    """The normal paths: a signed webhook near Meta's 3 MB, a campaign API send, errors as usual."""
    import hashlib
    import hmac

    from tests.support.factories import body as send_body

    setup = await make_project(db, "limits-shop")
    sent = await client.post("/campaign/t1/api/v2", json=send_body(setup), headers={"Idempotency-Key": "limits-1"})
    assert sent.status_code == 200, sent.text
    padded = orjson.dumps({"object": "whatsapp_business_account", "entry": [], "pad": "x" * (WEBHOOK_CAP - 200)})
    signature = "sha256=" + hmac.new(b"test-app-secret", padded, hashlib.sha256).hexdigest()
    accepted = await client.post("/webhooks/whatsapp", content=padded, headers={"X-Hub-Signature-256": signature,
                                                                                 "Content-Type": "application/json"})
    assert accepted.status_code == 200, accepted.text
    unsigned = await client.post("/webhooks/whatsapp", content=padded)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "WEBHOOK_SIGNATURE_INVALID"
    too_big = await client.post("/campaign/t1/api/v2", content=b"{" + b" " * (100 * KB) + b"}",
                                headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and too_big.json()["message"] == "Request body is too large (at most 64 KB)"
