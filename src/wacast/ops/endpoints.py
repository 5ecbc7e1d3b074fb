"""GET /readyz and GET /metrics (GET /healthz lives in app.py): cheap, unauthenticated (or
/metrics behind WACAST_METRICS_TOKEN), never revealing secrets."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from wacast.kit import crypto, logs, metrics
from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse
from wacast.ops.config_check import ConfigError, check
from wacast.ops.middleware import RequestContextMiddleware
from wacast.ops.repository import project_name as lookup
from wacast.ops.snapshot import SnapshotCache, families, readiness

router = APIRouter(tags=["Operations"])


# Operational endpoints stay out of the API's OpenAPI document (docs/deployment.md covers
# them): /readyz answers 503 by design when no dispatcher is alive.
@router.get(
    "/readyz",
    include_in_schema=False,
    summary="Ready to work: database, schema, dispatcher and every sender number",
    responses={503: {"description": "The database is unreachable, the schema is not current, or no dispatcher is alive"}},
)
async def readyz(request: Request) -> Any:
    status, body = await readiness(request.app.state)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise WacastError("Missing or wrong bearer token for /metrics (WACAST_METRICS_TOKEN)", "UNAUTHORIZED", status_code=401,
                              headers={"WWW-Authenticate": "Bearer"})
    try:
        extra = families(await request.app.state.ops_snapshots.get())
    except Exception:  # noqa: BLE001 (the process's own counters are still worth serving)
        extra = []
    return Response(metrics.render(extra), media_type=metrics.CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Add /readyz, /metrics and the request context middleware (call it last: outermost)."""

    app.include_router(router)
    app.add_middleware(RequestContextMiddleware)


def start(state: Any) -> None:
    """Called from the lifespan once state.db and state.settings exist."""
    state.ops_snapshots = SnapshotCache(state.db, state.settings)
    db = state.db

    async def project_name(project_id: Any) -> str | None:
        async with db.read() as session:
            return await lookup(session, project_id)

    metrics.configure_names(project_name)


def prepare(settings: Any) -> None:
    """Before the app is built: encryption keys, logging, and the refusal to run outside
    development and test with a configuration problem (e.g. no WACAST_SECRET_KEY)."""

    if settings.environment not in ("development", "test"):
        problems = check(settings)
        if problems:
            raise ConfigError(problems)
    crypto.configure(settings.secret_keys)
    if settings.environment != "test":
        logs.configure_from_settings(settings)
