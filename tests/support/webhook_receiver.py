"""A customer's webhook receiver: a real HTTP server on 127.0.0.1 (http.server in a thread)
that verifies X-Wacast-Signature itself and can fail, or hold a request, on demand."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes
    status: int  # what the receiver answered

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class WebhookReceiver:
    secret: str = "receiver-shared-secret-0123456789"
    fail_next: int = 0  # answer 503 to this many requests
    always_fail: bool = False
    hold: threading.Event | None = None  # when set up, a request waits until it is set
    received: list[Received] = field(default_factory=list)
    bad_signatures: int = 0

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = hmac.new(receiver.secret.encode(), raw, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Wacast-Signature", ""))
                if receiver.hold is not None:
                    receiver.arrived.set()
                    receiver.hold.wait(10)
                if not signed:
                    receiver.bad_signatures += 1
                    status = 401
                elif receiver.always_fail or receiver.fail_next > 0:
                    receiver.fail_next = max(0, receiver.fail_next - 1)
                    status = 503
                else:
                    status = 200
                receiver.received.append(Received(dict(self.headers.items()), raw, status))
                answer = b"ok" if status == 200 else b"down for maintenance"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # wacast delivers up to 20 at once; the default backlog is 5
            daemon_threads = True

        self.arrived = threading.Event()
        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def accepted(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Bodies answered 200 (signature checked), optionally of one topic."""
        return [r.body for r in self.received if r.status == 200 and (topic is None or r.body["topic"] == topic)]
