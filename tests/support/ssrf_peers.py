"""Peers for the outbound-request (SSRF) tests: a loopback HTTP server that counts what it
gets, the test's DNS, and an address policy under which 127.0.0.2 plays the public internet
(Linux routes all of 127/8 on lo) while 127.0.0.1 stays internal. Given to
kit/net.OutboundGuard(resolve=..., is_allowed=...) as its peers."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from wacast.kit.net import is_public

PUBLIC_IP = ipaddress.IPv4Address("127.0.0.2")


class Peer:
    """An HTTP server on one loopback address: /photo.jpg, /to?url=X (302 to X), /chain/N
    (N redirects, then the photo); it counts every request it gets."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.requests: list[tuple[str, str]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def _answer(self, with_body: bool) -> None:
                requests.append((self.command, self.path))
                parts = urlsplit(self.path)
                if parts.path == "/to":
                    self._redirect(parse_qs(parts.query)["url"][0])
                elif parts.path.startswith("/chain/") and int(parts.path.rsplit("/", 1)[1]) > 0:
                    self._redirect(f"/chain/{int(parts.path.rsplit('/', 1)[1]) - 1}")
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    if with_body:
                        self.wfile.write(b"x" * 1000)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(True)

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(True)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Resolver:
    """The test's DNS: name -> a list of answers, the last one repeated (a rebinding name
    answers a public address first and loopback afterwards)."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answers = self.names.get(host)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "unknown name")
        return [answers.pop(0) if len(answers) > 1 else answers[0]]


def treats_127_0_0_2_as_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address == PUBLIC_IP or is_public(address)
