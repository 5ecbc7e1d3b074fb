"""GET /readyz and GET /metrics (GET /healthz lives in app.py): cheap, never revealing secrets.

/metrics is open, or behind `Authorization: Bearer WACAST_METRICS_TOKEN` when that is set.
/readyz is always open (load balancers probe it) but says who only to the same token: to
anyone else its status, its checks' flags and counts, and its reasons in general words;
project names, sender numbers and dispatcher ids (host:pid) need the token. Without a token
set, nobody gets them (set one to see them).
"""

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
from wacast.ops.snapshot import STUCK_AFTER_SECONDS, SnapshotCache, families, readiness

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
    token = request.app.state.settings.metrics_token
    if not (token and has_token(request, token)):
        body = without_names(body)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def has_token(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


# A sender number's problems in general words, for /readyz without the token.
SENDER_REASONS = {
    "halted": "sending halted (Meta refused the sender)",
    "account": "sending held by Meta's account state (a restriction or a disabled account; it lifts by itself)",
    "unserved": "messages queued but no live dispatcher holds the number",
    "stuck": f"messages due for more than {STUCK_AFTER_SECONDS} s and not sent",
}


def sender_reasons(sender: dict[str, Any]) -> list[str]:
    """Which of SENDER_REASONS apply (the same conditions as snapshot.take's problems)."""
    reasons = []
    if sender["halted_reason"]:
        reasons.append("halted")
    if (sender.get("account") or {}).get("held"):
        reasons.append("account")
    if sender["queued"] and sender["dispatcher"] is None:
        reasons.append("unserved")
    if (sender["due"] and not sender["halted_reason"] and not (sender.get("account") or {}).get("held")
            and (sender["oldest_due_age_seconds"] or 0) > STUCK_AFTER_SECONDS):
        reasons.append("stuck")
    return reasons


def without_names(body: dict[str, Any]) -> dict[str, Any]:
    """/readyz for anyone: no project names, sender numbers, halt texts or dispatcher ids."""
    senders = body.get("senders", [])
    named = {f"{s['project']}: {p}" for s in senders for p in s["problems"]}
    problems = [p for p in body.get("problems", []) if p not in named]
    counts = {"total": len(senders), "ok": sum(1 for s in senders if s["ok"])} | {kind: 0 for kind in SENDER_REASONS}
    for sender in senders:
        for kind in sender_reasons(sender):
            counts[kind] += 1
    problems += [f"{counts[kind]} sender number(s): {words}" for kind, words in SENDER_REASONS.items() if counts[kind]]
    unexplained = sum(1 for s in senders if not s["ok"] and not sender_reasons(s))
    if unexplained:
        problems.append(f"{unexplained} sender number(s) with other problems")
    checks = dict(body.get("checks", {}))
    dispatcher = checks.get("dispatcher")
    if dispatcher:
        in_process = dispatcher.get("in_process")
        checks["dispatcher"] = {k: v for k, v in dispatcher.items() if k not in ("workers", "in_process")}
        if "in_process" in dispatcher:
            checks["dispatcher"]["in_process"] = None if in_process is None else {
                k: v for k, v in in_process.items() if k != "id"}
    public = {k: v for k, v in body.items() if k not in ("senders", "problems", "checks")}
    public |= {"checks": checks, "problems": problems}
    if "senders" in body:
        public["sender_numbers"] = counts
    public["names"] = "project names, sender numbers and dispatcher ids: send Authorization: Bearer <WACAST_METRICS_TOKEN>"
    return public


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    token = request.app.state.settings.metrics_token
    if token and not has_token(request, token):
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
