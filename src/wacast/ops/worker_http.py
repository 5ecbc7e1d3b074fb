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


class SupervisedTask:
    """The dispatcher's task as /readyz reads it (`done()`), looked up when asked: the
    supervisor starts it after this app is built, and it is done once the worker stops."""

    def __init__(self, supervisor: Any, dispatcher: Any) -> None:
        self.supervisor = supervisor
        self.dispatcher = dispatcher

    def done(self) -> bool:
        task = self.supervisor.task_of(self.dispatcher)
        return task is None or task.done()  # not started yet, or stopped for good


def ops_app(db: Any, settings: Any, dispatcher: Any, supervisor: Any = None) -> FastAPI:
    app = FastAPI(title="wacast worker", default_response_class=JSONResponse, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.db = db
    app.state.settings = settings
    app.state.dispatcher = dispatcher
    # Without the supervisor /readyz could only say "running" (a stopped dispatcher looked alive
    # until its heartbeat went stale).
    app.state.dispatcher_task = SupervisedTask(supervisor, dispatcher) if supervisor is not None else None
    start(app.state)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}  # the worker's id (host:pid) only in /readyz, with the metrics token

    app.include_router(router)
    return app


async def serve(app: FastAPI, host: str, port: int) -> tuple[_Server, asyncio.Task]:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    return server, task
