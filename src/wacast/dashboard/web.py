"""The dashboard's plumbing: the session cookie, CSRF, roles, rendering and redirects.

Sessions live on the server (users/service.py, the dashboard_sessions table): the cookie
carries the session's random token, and only while its row exists and is within its idle and
absolute ends (users/session_policy.py) is the holder signed in. Sign-out, a password change
and the user's removal delete rows, so they take effect at once, whatever cookie was kept.
The cookie itself is signed (itsdangerous, keyed by WACAST_SECRET_KEY; rotation works with a
comma-separated key list) and also carries the current project, the CSRF token and pending
flash messages. The user and their role in the project are read from the database on every
request, so changing a role takes effect at once.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from wacast.dashboard import repository as repo
from wacast.dashboard import views
from wacast.kit.errors import WacastError
from wacast.kit.http import JSONResponse
from wacast.models.projects import Project
from wacast.models.users import DashboardSession, User
from wacast.users import service as users_service
from wacast.users.session_policy import ABSOLUTE

COOKIE = "wacast_session"
SESSION_SECONDS = int(ABSOLUTE.total_seconds())  # the cookie outlives no session
ROLE_RANK = {"agent": 1, "manager": 2, "owner": 3}
ROLE_WORDS = {
    "agent": "Agents read contacts, campaigns and analytics.",
    "manager": "Managers also manage templates, campaigns, contacts, tags and attributes.",
    "owner": "Owners also manage API keys, users and the project settings.",
}

TEMPLATES_DIR = Path(__file__).with_name("templates")
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
views.install_filters(templates.env)


class NotSignedIn(Exception):
    def __init__(self, next_url: str = "/") -> None:
        self.next_url = next_url


class NoAccess(Exception):
    def __init__(self, needed: str, role: str | None) -> None:
        self.needed = needed
        self.role = role


class CsrfFailed(Exception):
    pass


def _serializer(request: Request) -> URLSafeTimedSerializer:
    keys = request.app.state.settings.secret_keys
    # itsdangerous signs with the LAST key and accepts all; ours signs with the first.
    return URLSafeTimedSerializer(list(reversed(keys)), salt="wacast.dashboard.session")


def read_session(request: Request) -> dict[str, Any]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = _serializer(request).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def write_session(request: Request, response: Response, data: dict[str, Any]) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        _serializer(request).dumps(data),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.environment not in ("development", "test"),
        path="/",
    )


@dataclass
class MembershipView:
    project_id: uuid.UUID
    project_name: str
    role: str


@dataclass
class Ctx:
    """Who is asking, in which project, with which role; and the session to write back."""

    request: Request
    data: dict[str, Any]
    user: User | None = None
    project: Project | None = None
    role: str | None = None
    memberships: list[MembershipView] = field(default_factory=list)
    session: DashboardSession | None = None  # the signed-in session's row
    dirty: bool = False

    def signed_in(self, token: str) -> None:
        """A new session for this browser: nothing of the previous cookie is kept (a fresh CSRF
        token; the token of the session it had is replaced)."""
        self.data.clear()
        self.data.update({"s": token, "c": secrets.token_urlsafe(24)})
        self.dirty = True

    def signed_out(self) -> None:
        self.data.clear()
        self.dirty = True

    @property
    def csrf(self) -> str:
        token = self.data.get("c")
        if not token:
            token = secrets.token_urlsafe(24)
            self.data["c"] = token
            self.dirty = True
        return token

    def can(self, role: str) -> bool:
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]

    def flash(self, text: str, kind: str = "ok") -> None:
        self.data.setdefault("f", []).append([kind, text])
        self.dirty = True

    def pop_flashes(self) -> list[list[str]]:
        flashes = self.data.pop("f", [])
        if flashes:
            self.dirty = True
        return flashes

    @property
    def is_sandbox(self) -> bool:
        return self.project is not None and self.project.provider == "sandbox"


def zone_of(ctx: Ctx) -> ZoneInfo:
    """The project's time zone (days on charts start at its midnight); UTC when unset or unknown."""
    try:
        return ZoneInfo(ctx.project.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def load_ctx(request: Request) -> Ctx:
    cached = getattr(request.state, "dashboard_ctx", None)
    if cached is not None:
        return cached
    data = read_session(request)
    ctx = Ctx(request, data)
    request.state.dashboard_ctx = ctx
    token = data.get("s")
    if not token or not isinstance(token, str):
        return ctx
    # Its own read session: the context is loaded by every page's dependency and again by the
    # error handlers, after the page's own session has gone.
    async with request.app.state.db.read() as session:
        found = await users_service.session_user(session, token)
        if found is None:  # signed out, ended by a password change or removal, or expired
            ctx.signed_out()
            ctx.flash("Your session has ended. Please sign in again.")
            return ctx
        user, row = found
        rows = await repo.projects_of(session, user.id)
        session.expunge_all()  # kept for the whole request: the read session's rollback must not expire them
    if users_service.needs_touch(row):
        async with request.app.state.db.transaction() as session:
            await users_service.touch_session(session, row)
    ctx.session = row
    if not rows:
        return ctx
    ctx.user = user
    ctx.memberships = [MembershipView(p.id, p.name, role) for p, role in rows]
    wanted = str(data.get("p") or "")
    chosen = next(((p, r) for p, r in rows if str(p.id) == wanted), rows[0])
    ctx.project, ctx.role = chosen
    if wanted != str(ctx.project.id):
        data["p"] = str(ctx.project.id)
        ctx.dirty = True
    return ctx


async def check_csrf(request: Request, ctx: Ctx) -> None:
    expected = ctx.data.get("c")
    given = request.headers.get("x-csrf-token")
    if not given:
        content_type = request.headers.get("content-type", "")
        if "form" in content_type:
            form = await request.form()
            given = form.get("csrf")
    # compare_digest refuses non-ASCII text (a TypeError, a 500): such a token is forged anyway.
    if not expected or not isinstance(given, str) or not given.isascii() or not secrets.compare_digest(expected, given):
        raise CsrfFailed()


def need(role: str | None = "agent") -> Callable:
    """A dependency: the signed-in context, with at least `role` in the current project.
    Every POST also needs the session's CSRF token (form field `csrf` or X-CSRF-Token)."""

    async def dependency(request: Request) -> Ctx:
        ctx = await load_ctx(request)
        if role is not None and ctx.user is None:
            raise NotSignedIn(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        if request.method == "POST":
            await check_csrf(request, ctx)
        if role is not None and not ctx.can(role):
            raise NoAccess(role, ctx.role)
        return ctx

    return dependency


AGENT, MANAGER, OWNER = need("agent"), need("manager"), need("owner")
# The context as a parameter type. Pages declare it before their database session, so the
# role and CSRF are checked before a write transaction (SQLite's write lock) is opened.
Visitor = Annotated[Ctx, Depends(need(None))]
Agent = Annotated[Ctx, Depends(AGENT)]
Manager = Annotated[Ctx, Depends(MANAGER)]
Owner = Annotated[Ctx, Depends(OWNER)]


def finish(ctx: Ctx, response: Response) -> Response:
    if ctx.dirty:
        write_session(ctx.request, response, ctx.data)
    return response


def render(ctx: Ctx, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("page", name.split(".")[0])
    response = templates.TemplateResponse(
        ctx.request, name, {"ctx": ctx, "flashes": ctx.pop_flashes(), "now_ts": int(time.time()), **context}, status_code=status_code
    )
    return finish(ctx, response)


def redirect(ctx: Ctx, url: str, flash: str | None = None, kind: str = "ok") -> Response:
    if flash:
        ctx.flash(flash, kind)
    return finish(ctx, RedirectResponse(url, status_code=303))


def safe_next(url: str | None) -> str:
    """Only same-site paths: never redirect to another host after sign-in."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/"
    return url


def back_url(request: Request) -> str:
    referer = request.headers.get("referer") or ""
    parsed = urlparse(referer)
    if parsed.netloc and parsed.netloc != request.url.netloc:
        return "/"
    path = parsed.path or "/"
    return safe_next(path + (f"?{parsed.query}" if parsed.query else ""))


def login_redirect(next_url: str) -> Response:
    return RedirectResponse(f"/login?next={quote(safe_next(next_url))}", status_code=303)


class DashboardRoute(APIRoute):
    """Turns a WacastError into something for people: on a form POST, back to the page with
    the error shown; on a page, an error page with the right status."""

    def get_route_handler(self) -> Callable:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except WacastError as error:
                ctx = await load_ctx(request)
                if request.method == "POST":
                    return redirect(ctx, back_url(request), f"{error.message} ({error.code})", "error")
                if request.url.path.endswith((".json", ".csv")):
                    return JSONResponse(error.body(), status_code=error.status_code)
                return render(ctx, "error.html", status_code=error.status_code, error=error, page="error")

        return handler

