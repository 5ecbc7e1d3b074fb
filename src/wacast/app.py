"""The ASGI application: campaign API, REST API, Meta's webhooks and the dashboard."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from wacast.api.billing import router as billing_router
from wacast.api.broadcasts import router as broadcasts_router
from wacast.api.campaign_api import router as campaign_router
from wacast.api.campaigns import router as campaigns_router
from wacast.api.contacts import router as contacts_router
from wacast.api.docs import mount_api_docs
from wacast.api.links import RedirectFastPath
from wacast.api.links import router as links_router
from wacast.api.guardrails import router as guardrails_router
from wacast.api.media import router as media_router
from wacast.api.messages import router as messages_router
from wacast.api.meta_webhooks import MAX_WEBHOOK_BODY, WebhookFastPath
from wacast.api.meta_webhooks import router as webhook_router
from wacast.api.notifications import router as notifications_router
from wacast.api.segments import router as segments_router
from wacast.api.templates import router as templates_router
from wacast.api.webhooks import router as webhooks_router
from wacast.api_keys import service as api_key_service
from wacast.campaign_api.estimate_input import MAX_ESTIMATE_BYTES
from wacast.campaign_api.media import MediaChecker
from wacast.campaign_api.service import CampaignApiService
from wacast.campaigns import repository as campaigns_repo
from wacast.campaigns.broadcasts.audience_csv import MAX_CSV_BYTES
from wacast.config import Settings, get_settings
from wacast.contacts import csv_import
from wacast.contacts import repository as contacts_repo
from wacast.dashboard.broadcasts import router as dashboard_broadcasts
from wacast.dashboard.forms import MAX_FIELD
from wacast.dashboard.pages import mount_dashboard
from wacast.db.engine import Database
from wacast.idempotency.middleware import IdempotencyMiddleware
from wacast.kit import ratelimit
from wacast.kit.body_limit import BodyLimitMiddleware, BodyLimits
from wacast.kit.errors import WacastError
from wacast.kit.http import MAX_BODY, JSONResponse
from wacast.kit.request_text import RequestTextGuard
from wacast.links import repository as links_repo
from wacast.links.clicks import ClickRecorder
from wacast.ops import endpoints as operations
from wacast.runtime import (
    Supervisor,
    WorkerProcess,
    build_loops,
    build_providers,
    provide_interfaces,
)
from wacast.webhooks import outbox as webhook_outbox
from wacast.webhooks.tasks import WebhookSender
from wacast.whatsapp.intake import WebhookIntake

__all__ = ["build_providers", "create_app"]  # build_providers: tests build their own dispatchers

log = logging.getLogger("wacast")
UPLOAD_FORM_ROOM = 128 * 1024  # around a CSV file: the multipart framing and the other fields

# The largest body each endpoint takes (kit/body_limit.py refuses the rest before reading it).
BODY_LIMITS = BodyLimits(
    default=MAX_BODY,  # the JSON APIs (read_json's own limit), the campaign API, bodiless requests
    forms=4 * MAX_FIELD,  # the dashboard's forms: a few fields at their 64 KB limit
    routes={
        ("POST", "/webhooks/whatsapp"): MAX_WEBHOOK_BODY,
        ("POST", "/contacts/import"): csv_import.MAX_BYTES + UPLOAD_FORM_ROOM,
        ("POST", "/api/v1/campaigns"): MAX_CSV_BYTES + UPLOAD_FORM_ROOM,
        # New broadcast with an uploaded audience: the create, its live preview, its test send.
        ("POST", "/broadcasts"): MAX_CSV_BYTES + UPLOAD_FORM_ROOM,
        ("POST", "/broadcasts/preview"): MAX_CSV_BYTES + UPLOAD_FORM_ROOM,
        ("POST", "/broadcasts/test-send"): MAX_CSV_BYTES + UPLOAD_FORM_ROOM,
    },
    # An API campaign's estimate: a list of up to 100,000 destinations, JSON or CSV (docs/dry-run.md).
    patterns=(("POST", re.compile(r"/api/v1/campaigns/[^/]+/estimate"), MAX_ESTIMATE_BYTES),),
)


def include_routers(app: FastAPI) -> None:
    """Every router, in the order requests are matched (the dashboard's pages come after the API)."""
    for router in (
        # The tracked links' redirect first: every tap of every recipient comes to it.
        links_router, campaign_router, messages_router, webhook_router, segments_router, campaigns_router, contacts_router,
        templates_router, webhooks_router, broadcasts_router, media_router, billing_router, guardrails_router, notifications_router,
    ):
        app.include_router(router)
    mount_api_docs(app)

    @app.get("/healthz", tags=["Operations"], summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    mount_dashboard(app)
    app.include_router(dashboard_broadcasts)


def create_app(settings: Settings | None = None, *, run_dispatcher: bool | None = None,
               worker_process: WorkerProcess | None = None) -> FastAPI:
    """The ASGI app. `run_dispatcher`: the loops inside this process (default: the setting);
    `worker_process`: a `wacast worker` this app starts and stops with its lifespan (`wacast
    serve`, runtime.WorkerProcess)."""
    settings = settings or get_settings()
    dispatcher_enabled = settings.run_dispatcher if run_dispatcher is None else run_dispatcher
    operations.prepare(settings)  # secrets keys, logging; refuses to start without a secret key in production

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provide_interfaces(settings)
        db = Database(settings.database_url)
        media = MediaChecker(
            timeout=settings.media_check_timeout,
            cache_seconds=settings.media_cache_seconds,
            allow_private_hosts=settings.allow_private_media_hosts,
        )
        campaigns_repo.configure_cache(settings.cache_seconds)
        contacts_repo.configure_cache(settings.cache_seconds)
        api_key_service.configure_cache(settings.cache_seconds)
        links_repo.configure_cache(settings.cache_seconds)
        webhook_outbox.configure_cache(settings.cache_seconds)  # the redirect's batches (webhooks/outbox.py)

        ratelimit.limiter.configure(settings.api_rate_limit, settings.api_rate_burst)
        app.state.settings = settings
        app.state.db = db
        app.state.media = media
        app.state.campaign_api = CampaignApiService(db, media, settings.public_url, settings.blocked_marketing_regions)
        operations.start(app.state)
        app.state.dispatcher = None
        app.state.wake_dispatcher = lambda: None
        app.state.wake_inbound = lambda: None  # stored provider events wait for a worker's inbound loop
        app.state.intake = WebhookIntake(db, wake=lambda: app.state.wake_inbound())  # Meta's webhooks, grouped commits
        app.state.clicks = ClickRecorder(db)  # clicks of tracked links (/r/{token}), grouped commits
        # The test-send button delivers at once, through this sender, even when no loop runs here.
        app.state.webhooks = WebhookSender(db, settings)
        loops = supervisor = None
        if dispatcher_enabled:  # the same loops as `wacast worker` (wacast/runtime.py)
            loops = build_loops(db, settings, webhooks=app.state.webhooks)
            supervisor = Supervisor(loops.runnables, shutdown_timeout=settings.shutdown_timeout)
            supervisor.start()
            app.state.dispatcher = loops.dispatcher
            app.state.wake_dispatcher = loops.dispatcher.wake.set
            app.state.wake_inbound = loops.inbound.wake.set
            app.state.dispatcher_task = supervisor.task_of(loops.dispatcher)
        if worker_process is not None:
            worker_process.start()
        try:
            yield
        finally:
            if worker_process is not None:
                await asyncio.to_thread(worker_process.stop)  # its sends finished or handed back
            if supervisor is not None:
                await supervisor.stop()
                await loops.close()
            await app.state.webhooks.close()
            await media.close()
            await db.dispose()

    app = FastAPI(
        title="wacast",
        version="0.1.0",
        summary="Self-hosted WhatsApp campaigns: an AiSensy-compatible API campaign endpoint on Meta's Cloud API.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc with their assets served here, no CDN (api/docs.py)
        redoc_url=None,
    )

    @app.exception_handler(WacastError)
    async def on_wacast_error(_request: Request, error: WacastError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg")}
            for e in error.errors()
        ]
        first = errors[0] if errors else {"field": "", "problem": "invalid"}
        return JSONResponse(
            {"message": f"{first['field'] or 'request'}: {first['problem']}", "code": "VALIDATION_ERROR", "details": {"errors": errors}},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "HTTP_ERROR")
        return JSONResponse({"message": str(error.detail), "code": code}, status_code=error.status_code, headers=getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def on_unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"message": "Internal error", "code": "INTERNAL_ERROR"}, status_code=500)

    include_routers(app)
    app.add_middleware(WebhookFastPath)  # POST /webhooks/whatsapp past the routing (api/meta_webhooks.py)
    app.add_middleware(RedirectFastPath)  # GET /r/{token} past the routing (api/links.py)
    app.add_middleware(IdempotencyMiddleware)  # Idempotency-Key on every write (docs/integrations.md)
    app.add_middleware(BodyLimitMiddleware, limits=BODY_LIMITS)  # outside everything that reads a body
    app.add_middleware(RequestTextGuard)  # the text rule for the URL's path and query (kit/request_text.py)
    operations.install(app)  # /readyz, /metrics and the request-id middleware (outermost)
    return app


def create_served_app(settings: Settings) -> FastAPI:
    """The app as one `wacast serve` process runs it: its loops in a worker process it starts
    beside itself (WACAST_DISPATCHER_PROCESS), inside it, or nowhere (WACAST_RUN_DISPATCHER=0)."""
    worker = WorkerProcess(settings.shutdown_timeout) if settings.run_dispatcher and settings.dispatcher_process else None
    return create_app(settings, run_dispatcher=settings.run_dispatcher and worker is None, worker_process=worker)

