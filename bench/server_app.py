"""The server under test: wacast's own app, served exactly as `wacast serve` serves it
(uvicorn, uvloop + httptools, same options), plus two baseline routes mounted by the harness:

    POST /bench/noop           parse the JSON body (the same reader as the campaign API), answer 200.
    GET /bench/noop-redirect   answer a 302 to a fixed address (the baseline of /r/{token}),
                               past the routing at the same depth of the middleware as
                               /r/{token}'s fast path (api/links.RedirectFastPath), so the
                               ratio is the cost of the lookup and the click's commit.

Run: python -m bench.server_app  (settings from WACAST_* as for `wacast serve`).
"""

from __future__ import annotations

import os
import uuid
from types import SimpleNamespace

from fastapi import Request
from fastapi.responses import RedirectResponse
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from wacast.config import get_settings
from wacast.kit.http import JSONResponse, read_json


class NoopRedirect:
    """GET /bench/noop-redirect: a 302 and nothing else, where the redirect's fast path sits."""

    ROUTE = SimpleNamespace(path="/bench/noop-redirect")  # as api/links.RedirectFastPath.ROUTE

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/bench/noop-redirect":
            return await self.app(scope, receive, send)
        scope["route"] = self.ROUTE
        await RedirectResponse("https://shop.example/orders/1", status_code=302)(scope, receive, send)


def create_bench_app():  # noqa: ANN201
    from wacast.api.links import RedirectFastPath
    from wacast.app import create_served_app

    app = create_served_app(get_settings())  # as `wacast serve` builds it (its worker process too)
    # Just outside the redirect's fast path: the same layers wrap both (request id, log, metrics).
    at = next(i for i, m in enumerate(app.user_middleware) if m.cls is RedirectFastPath)
    app.user_middleware.insert(at, Middleware(NoopRedirect))

    @app.post("/bench/noop", include_in_schema=False)
    async def noop(request: Request) -> JSONResponse:
        await read_json(request)
        return JSONResponse({"success": "true", "submitted_message_id": str(uuid.uuid4())})

    return app


def main() -> None:
    import uvicorn

    from wacast.cli.server import uvicorn_options

    settings = get_settings()
    # The options of `wacast serve` (src/wacast/cli/server.py): wacast's logging, its one access
    # line per request (uvicorn's own access log off). WACAST_BENCH_SERVE_WORKERS as its
    # `--workers` (server processes sharing the port, PostgreSQL only).
    options = uvicorn_options(settings)
    workers = int(os.environ.get("WACAST_BENCH_SERVE_WORKERS", "1"))
    if workers > 1:
        uvicorn.run("bench.server_app:create_bench_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_bench_app(), **options)


if __name__ == "__main__":
    main()
