"""The server under test: wacast's own app, served exactly as `wacast serve` serves it
(uvicorn, uvloop + httptools, same options), plus two baseline routes mounted by the harness:

    POST /bench/noop           parse the JSON body (the same reader as the campaign API), answer 200.
    GET /bench/noop-redirect   answer a 302 to a fixed address (the baseline of /r/{token}).

Run: python -m bench.server_app  (settings from WACAST_* as for `wacast serve`).
"""

from __future__ import annotations

import os
import uuid

from fastapi import Request
from fastapi.responses import RedirectResponse

from wacast.config import get_settings
from wacast.kit.http import JSONResponse, read_json


def create_bench_app():  # noqa: ANN201
    from wacast.app import create_served_app

    app = create_served_app(get_settings())  # as `wacast serve` builds it (its worker process too)

    @app.post("/bench/noop", include_in_schema=False)
    async def noop(request: Request) -> JSONResponse:
        await read_json(request)
        return JSONResponse({"success": "true", "submitted_message_id": str(uuid.uuid4())})

    @app.get("/bench/noop-redirect", include_in_schema=False)
    async def noop_redirect() -> RedirectResponse:
        return RedirectResponse("https://shop.example/orders/1", status_code=302)  # the redirect's baseline

    return app


def main() -> None:
    import uvicorn

    settings = get_settings()
    # The same options as `wacast serve` (src/wacast/cli/server.py); WACAST_BENCH_SERVE_WORKERS
    # as its `--workers` (server processes sharing the port, PostgreSQL only).
    options = {"host": settings.host, "port": settings.port, "log_level": settings.log_level,
               "proxy_headers": True, "loop": "auto", "http": "auto", "timeout_graceful_shutdown": 30}
    workers = int(os.environ.get("WACAST_BENCH_SERVE_WORKERS", "1"))
    if workers > 1:
        uvicorn.run("bench.server_app:create_bench_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_bench_app(), **options)


if __name__ == "__main__":
    main()
