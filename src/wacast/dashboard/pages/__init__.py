"""The dashboard: server-rendered pages for people, at / (sign-in, overview, templates,
campaigns with their exact request and analytics, contacts and imports, tags and attributes,
API keys, users, settings and the sandbox inbox), one module per screen.

Roles are checked on the server for every page and action (web.Agent/Manager/Owner): agents
read contacts, campaigns and analytics; managers also change templates, campaigns, contacts,
tags and attributes; owners also API keys, users and settings. A refused request gets a 403
page. Pages read through dashboard/repository.py and change things through the services
REST and the CLI use.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from wacast.dashboard.pages import (
    billing,
    campaigns,
    contacts,
    home,
    keys,
    media,
    notifications,
    sandbox,
    segments,
    settings,
    signin,
    tags,
    templates,
    users,
    webhooks,
)
from wacast.dashboard.throttle import SignInThrottle
from wacast.dashboard.web import (
    ROLE_WORDS,
    CsrfFailed,
    NoAccess,
    NotSignedIn,
    load_ctx,
    login_redirect,
    render,
)
from wacast.kit.http import JSONResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
SCREENS = (signin, home, templates, campaigns, contacts, tags, keys, users, settings, sandbox, segments, webhooks, media, billing, notifications)


def mount_dashboard(app: FastAPI) -> None:
    app.state.dashboard_throttle = SignInThrottle()
    app.state.dashboard_tasks = set()  # running CSV imports (a reference keeps each task alive)
    for screen in SCREENS:
        app.include_router(screen.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="dashboard-static")

    async def on_not_signed_in(request: Request, error: NotSignedIn) -> Response:
        if request.method != "GET":
            return JSONResponse({"message": "Sign in first", "code": "NOT_SIGNED_IN"}, status_code=401)
        return login_redirect(error.next_url)

    async def on_no_access(request: Request, error: NoAccess) -> Response:
        ctx = await load_ctx(request)
        return render(ctx, "403.html", status_code=403, needed=error.needed, role_words=ROLE_WORDS, page="error")

    async def on_csrf(request: Request, error: CsrfFailed) -> Response:
        ctx = await load_ctx(request)
        return render(ctx, "403.html", status_code=403, csrf=True, needed=None, role_words=ROLE_WORDS, page="error")

    app.add_exception_handler(NotSignedIn, on_not_signed_in)
    app.add_exception_handler(NoAccess, on_no_access)
    app.add_exception_handler(CsrfFailed, on_csrf)
