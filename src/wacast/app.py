"""The ASGI application: campaign API, REST API, Meta's webhooks and the dashboard."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from wacast.kit.http import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from wacast.api_keys import service as api_key_service
from wacast.campaign_api.media import MediaChecker
from wacast.campaign_api.service import CampaignApiService
from wacast.campaigns import repository as campaigns_repo
from wacast.contacts import repository as contacts_repo
from wacast.campaigns.broadcast import BroadcastEngine
from wacast.config import Settings, get_settings
from wacast.db.engine import Database
from wacast.kit.errors import WacastError
from wacast.messages.dispatcher import Dispatcher
from wacast.ops import endpoints as operations
from wacast.whatsapp.cloud import CloudProvider
from wacast.meta.client import GraphClient
from wacast.whatsapp.inbound import InboundEvents
from wacast.whatsapp.sandbox import SandboxProvider
from wacast.api.broadcasts import router as broadcasts_router
from wacast.api.campaign_api import router as campaign_router
from wacast.api.campaigns import router as campaigns_router
from wacast.api.contacts import router as contacts_router
from wacast.api.messages import router as messages_router
from wacast.api.meta_webhooks import router as webhook_router
from wacast.api.segments import router as segments_router
from wacast.api.templates import router as templates_router
from wacast.api.webhooks import router as webhooks_router
from wacast.dashboard.broadcasts import router as dashboard_broadcasts
from wacast.idempotency.middleware import IdempotencyMiddleware
from wacast.kit import ratelimit
from wacast.webhooks.tasks import WebhookSender

log = logging.getLogger("wacast")


def build_providers(settings: Settings) -> dict:
    return {
        "sandbox": SandboxProvider(settings.sandbox_delivered_after, settings.sandbox_read_after),
        "cloud": CloudProvider(GraphClient(settings.graph_api_url, settings.graph_api_version, timeout=settings.graph_api_timeout)),
    }


def create_app(settings: Settings | None = None, *, run_dispatcher: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    dispatcher_enabled = settings.run_dispatcher if run_dispatcher is None else run_dispatcher
    operations.prepare(settings)  # secrets keys, logging; refuses to start without a secret key in production

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        media = MediaChecker(
            timeout=settings.media_check_timeout,
            cache_seconds=settings.media_cache_seconds,
            allow_private_hosts=settings.allow_private_media_hosts,
        )
        campaigns_repo.configure_cache(settings.cache_seconds)
        contacts_repo.configure_cache(settings.cache_seconds)
        api_key_service.configure_cache(settings.cache_seconds)

        ratelimit.limiter.configure(settings.api_rate_limit, settings.api_rate_burst)
        app.state.settings = settings
        app.state.db = db
        app.state.media = media
        app.state.campaign_api = CampaignApiService(db, media)
        operations.start(app.state)
        stop = asyncio.Event()
        task = None
        app.state.dispatcher = None
        app.state.wake_dispatcher = lambda: None
        app.state.wake_inbound = lambda: None
        inbound_task = None
        app.state.broadcasts = BroadcastEngine(db, settings, notify=lambda: app.state.wake_dispatcher())
        broadcast_task = None

        app.state.webhooks = WebhookSender(db, settings)  # customer webhooks (docs/integrations.md)
        webhooks_task = asyncio.create_task(app.state.webhooks.run(stop)) if dispatcher_enabled else None
        if dispatcher_enabled:
            inbound = InboundEvents(db, settings)  # Meta's webhooks and the sandbox's reports
            app.state.wake_inbound = inbound.wake.set
            inbound_task = asyncio.create_task(inbound.run(stop))
            dispatcher = Dispatcher(db, settings, build_providers(settings), notify_inbound=inbound.wake.set)
            app.state.dispatcher = dispatcher
            app.state.wake_dispatcher = dispatcher.wake.set
            task = asyncio.create_task(dispatcher.run(stop))
            app.state.dispatcher_task = task
            broadcast_task = asyncio.create_task(app.state.broadcasts.run(stop))
        try:
            yield
        finally:
            stop.set()
            app.state.broadcasts.wake.set()
            if broadcast_task is not None:
                await broadcast_task
            if webhooks_task is not None:
                await webhooks_task
            await app.state.webhooks.close()
            if inbound_task is not None:
                await inbound_task
            if task is not None:
                await task
                for provider in app.state.dispatcher.providers.values():
                    await provider.close()
            await media.close()
            await db.dispose()

    app = FastAPI(
        title="wacast",
        version="0.1.0",
        summary="Self-hosted WhatsApp campaigns: an AiSensy-compatible API campaign endpoint on Meta's Cloud API.",
        default_response_class=JSONResponse,
        lifespan=lifespan,
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


    app.include_router(campaign_router)
    app.include_router(messages_router)
    app.include_router(webhook_router)

    app.include_router(segments_router)

    app.include_router(campaigns_router)

    app.include_router(contacts_router)

    app.include_router(templates_router)

    app.include_router(webhooks_router)

    app.include_router(broadcasts_router)

    @app.get("/healthz", tags=["Operations"], summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    try:
        from wacast.dashboard.endpoints import mount_dashboard
    except ImportError:  # the dashboard is optional while it is being built
        mount_dashboard = None
    if mount_dashboard is not None:
        mount_dashboard(app)

        app.include_router(dashboard_broadcasts)


    app.add_middleware(IdempotencyMiddleware)  # Idempotency-Key on every write (docs/integrations.md)
    operations.install(app)  # /readyz, /metrics and the request-id middleware (outermost)
    return app
