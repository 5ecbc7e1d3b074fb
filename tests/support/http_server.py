"""A real HTTP server on 127.0.0.1 in a thread, for media URLs and other peers in tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    content_type: str | None = "image/jpeg"
    size: int = 1000
    head_allowed: bool = True


DEFAULT_ROUTES = {
    "/photo.jpg": Route(content_type="image/jpeg", size=20_000),
    "/photo.png": Route(content_type="image/png", size=20_000),
    "/huge.jpg": Route(content_type="image/jpeg", size=6 * 1024 * 1024),
    "/anim.gif": Route(content_type="image/gif", size=1000),
    "/clip.mp4": Route(content_type="video/mp4", size=1_000_000),
    "/invoice.pdf": Route(content_type="application/pdf", size=50_000),
    "/nohead.jpg": Route(content_type="image/jpeg", size=1000, head_allowed=False),
    "/missing.jpg": Route(status=404, content_type="text/html"),
    "/error.jpg": Route(status=500, content_type="text/html"),
}


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = dict(DEFAULT_ROUTES)
        self.requests: list[tuple[str, str]] = []
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def _answer(self, with_body: bool) -> None:
                path = self.path.split("?")[0]
                requests.append((self.command, path))
                route = routes.get(path, Route(status=404, content_type="text/plain", size=0))
                if self.command == "HEAD" and not route.head_allowed:
                    self.send_response(405)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ranged = self.headers.get("Range") == "bytes=0-0" and route.status == 200
                self.send_response(206 if ranged else route.status)
                if route.content_type:
                    self.send_header("Content-Type", route.content_type)
                if ranged:
                    self.send_header("Content-Range", f"bytes 0-0/{route.size}")
                    self.send_header("Content-Length", "1")
                else:
                    self.send_header("Content-Length", str(route.size))
                self.end_headers()
                if with_body:
                    self.wfile.write(b"x" * (1 if ranged else route.size))

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
