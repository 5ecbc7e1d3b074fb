"""A `wacast worker`'s own small HTTP server (WACAST_WORKER_METRICS_PORT): /healthz, /readyz
and /metrics for the dispatcher's process, which is where sends, provider latency, rate-limit
waits and webhook processing are counted."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from wacast.kit.http import JSONResponse
from wacast.ops.endpoints import router, start


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:  # the worker handles SIGTERM itself
        yield


def ops_app(db: Any, settings: Any, dispatcher: Any) -> FastAPI:
    app = FastAPI(title="wacast worker", default_response_class=JSONResponse, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.db = db
    app.state.settings = settings
    app.state.dispatcher = dispatcher
    app.state.dispatcher_task = None
    start(app.state)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "worker": dispatcher.worker_id}

    app.include_router(router)
    return app


async def serve(app: FastAPI, host: str, port: int) -> tuple[_Server, asyncio.Task]:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    return server, task
