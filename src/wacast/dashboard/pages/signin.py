"""Signing in and out, switching between the projects one belongs to, and one's account:
changing one's password and seeing or ending one's sessions (every signed-in user)."""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard import repository as repo
from wacast.dashboard.forms import fields

# The fields each form posts (forms.fields: anything else is refused, nothing written).
LoginForm = fields("email", "password", "next")
SwitchForm = fields("project_id")
PasswordForm = fields("current_password", "new_password", "repeat_password")
ButtonForm = fields()
from wacast.dashboard.throttle import SignInThrottle, wait_words
from wacast.dashboard.web import (
    Agent,
    Ctx,
    DashboardRoute,
    NoAccess,
    Visitor,
    redirect,
    render,
    safe_next,
)
from wacast.db.requests import ReadSession, WriteSession
from wacast.kit.errors import WacastError
from wacast.models.users import User
from wacast.users import service as users_service

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/login")
async def login_page(request: Request, ctx: Visitor, next: str = "/") -> Response:
    if ctx.user is not None:
        return redirect(ctx, safe_next(next))
    return render(ctx, "login.html", next=safe_next(next), email="")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def too_many_failures(wait: int) -> str:
    return f"Too many failed sign-ins. Try again in {wait_words(wait)}."


@router.post("/login")
async def login(request: Request, ctx: Visitor, form: LoginForm, session: ReadSession) -> Response:
    email = form.text("email").lower()[:254]
    password = form.text("password", strip=False)
    next_url = safe_next(form.text("next", "/", strip=False))
    address = client_address(request)
    throttle: SignInThrottle = request.app.state.dashboard_throttle
    wait = throttle.retry_after(email, address)
    if wait:
        response = render(ctx, "login.html", status_code=429, next=next_url, email=email, error=too_many_failures(wait))
        response.headers["Retry-After"] = str(wait)
        return response
    user = await repo.user_by_email(session, email) if email else None
    ok = users_service.verify_password(user.password_hash, password) if user else False
    if not user:
        users_service.verify_password(_dummy_hash(), password)  # same work for unknown emails
    has_project = ok and await repo.has_project(session, user.id)
    if not ok:
        throttle.failed(email, address)
        await asyncio.sleep(0.2 * min(throttle.failures(email, address), 5))
        return render(ctx, "login.html", status_code=401, next=next_url, email=email, error="Wrong email or password.")
    if not has_project:
        return render(ctx, "login.html", status_code=403, next=next_url, email=email,
                      error="Your account has no project yet. Ask a project owner to add you.")
    throttle.succeeded(email, address)
    await _start_session(request, ctx, user)
    return redirect(ctx, next_url)


async def _start_session(request: Request, ctx: Ctx, user: User) -> None:
    """A new session row for this browser, in its own short write (the password was checked
    in a read session: argon2's work holds no SQLite write lock). The session the cookie had,
    if any, ends: a sign-in never continues an earlier session (no fixation)."""
    async with request.app.state.db.transaction() as session:
        if ctx.data.get("s"):
            await users_service.end_session(session, str(ctx.data["s"]))
        token = await users_service.start_session(session, user, request.headers.get("user-agent", ""), client_address(request))
    ctx.signed_in(token)


_dummy: list[str] = []


def _dummy_hash() -> str:
    if not _dummy:  # made on first use, not at import (keeps start-up fast)
        _dummy.append(users_service.hash_password(secrets.token_urlsafe(12)))
    return _dummy[0]


@router.post("/logout")
async def logout(request: Request, ctx: Visitor, form: ButtonForm, session: WriteSession) -> Response:
    if ctx.data.get("s"):
        await users_service.end_session(session, str(ctx.data["s"]))
    ctx.signed_out()
    ctx.flash("You are signed out.")
    return redirect(ctx, "/login")


@router.post("/switch-project")
async def switch_project(request: Request, ctx: Agent, form: SwitchForm) -> Response:
    wanted = form.text("project_id", strip=False)
    match = next((m for m in ctx.memberships if str(m.project_id) == wanted), None)
    if match is None:
        raise NoAccess("member", ctx.role)
    ctx.data["p"] = wanted
    ctx.dirty = True
    return redirect(ctx, "/", f"Switched to {match.project_name} ({match.role}).")


@router.get("/account")
async def account_page(request: Request, ctx: Agent, session: ReadSession) -> Response:
    sessions = await users_service.sessions_of(session, ctx.user.id)
    return render(ctx, "account.html", sessions=sessions, current_id=ctx.session.id if ctx.session else None,
                  min_password=users_service.MIN_PASSWORD)


@router.post("/account/password")
async def change_password(request: Request, ctx: Agent, form: PasswordForm, session: WriteSession) -> Response:
    """Current password, the new one twice. A wrong current password counts as a failed
    sign-in (the same throttle: a stolen session cannot guess it quickly). Every other session
    of the user ends; this browser goes on under a new session."""
    address = client_address(request)
    throttle: SignInThrottle = request.app.state.dashboard_throttle
    wait = throttle.retry_after(ctx.user.email, address)
    if wait:
        raise WacastError(too_many_failures(wait), "TOO_MANY_FAILURES", status_code=429)
    try:
        user = await users_service.change_password(session, ctx.user.id, form.text("current_password", strip=False),
                                                   form.text("new_password", strip=False), form.text("repeat_password", strip=False))
    except WacastError as error:
        if error.code == "WRONG_PASSWORD":
            throttle.failed(ctx.user.email, address)
        raise
    token = await users_service.start_session(session, user, request.headers.get("user-agent", ""), address)
    project = ctx.data.get("p")
    ctx.signed_in(token)
    if project:
        ctx.data["p"] = project
    return redirect(ctx, "/account", "Password changed. Your other sessions are signed out.")


@router.post("/account/sessions/end-others")
async def end_other_sessions(request: Request, ctx: Agent, form: ButtonForm, session: WriteSession) -> Response:
    ended = await users_service.end_sessions(session, ctx.user.id, keep_token=str(ctx.data.get("s")))
    return redirect(ctx, "/account", f"{ended} other session{'s' if ended != 1 else ''} signed out.")
