"""Signing in and out, and switching between the projects one belongs to."""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard import repository as repo
from wacast.dashboard.forms import Posted
from wacast.dashboard.throttle import SignInThrottle
from wacast.dashboard.web import (
    Agent,
    DashboardRoute,
    NoAccess,
    Visitor,
    password_fingerprint,
    redirect,
    render,
    safe_next,
)
from wacast.db.requests import ReadSession
from wacast.users import service as users_service

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/login")
async def login_page(request: Request, ctx: Visitor, next: str = "/") -> Response:
    if ctx.user is not None:
        return redirect(ctx, safe_next(next))
    return render(ctx, "login.html", next=safe_next(next), email="")


@router.post("/login")
async def login(request: Request, ctx: Visitor, form: Posted, session: ReadSession) -> Response:
    email = form.text("email").lower()[:254]
    password = form.text("password", strip=False)
    next_url = safe_next(form.text("next", "/", strip=False))
    address = request.client.host if request.client else "?"
    throttle: SignInThrottle = request.app.state.dashboard_throttle
    wait = throttle.retry_after(email, address)
    if wait:
        response = render(ctx, "login.html", status_code=429, next=next_url, email=email,
                          error=f"Too many failed sign-ins. Try again in {wait} seconds.")
        response.headers["Retry-After"] = str(wait)
        return response
    user = await repo.user_by_email(session, email) if email else None
    ok = users_service.verify_password(user.password_hash, password) if user else False
    if not user:
        users_service.verify_password(_dummy_hash(), password)  # same work for unknown emails
    has_project = ok and await repo.has_project(session, user.id)
    if not ok:
        throttle.failed(email, address)
        await asyncio.sleep(0.2 * min(throttle.failures(email), 5))
        return render(ctx, "login.html", status_code=401, next=next_url, email=email, error="Wrong email or password.")
    if not has_project:
        return render(ctx, "login.html", status_code=403, next=next_url, email=email,
                      error="Your account has no project yet. Ask a project owner to add you.")
    throttle.succeeded(email)
    ctx.data.clear()
    ctx.data.update({"u": str(user.id), "h": password_fingerprint(user.password_hash), "c": secrets.token_urlsafe(24)})
    ctx.dirty = True
    return redirect(ctx, next_url)


_dummy: list[str] = []


def _dummy_hash() -> str:
    if not _dummy:  # made on first use, not at import (keeps start-up fast)
        _dummy.append(users_service.hash_password(secrets.token_urlsafe(12)))
    return _dummy[0]


@router.post("/logout")
async def logout(request: Request, ctx: Visitor) -> Response:
    ctx.data.clear()
    ctx.dirty = True
    ctx.flash("You are signed out.")
    return redirect(ctx, "/login")


@router.post("/switch-project")
async def switch_project(request: Request, ctx: Agent, form: Posted) -> Response:
    wanted = form.text("project_id", strip=False)
    match = next((m for m in ctx.memberships if str(m.project_id) == wanted), None)
    if match is None:
        raise NoAccess("member", ctx.role)
    ctx.data["p"] = wanted
    ctx.dirty = True
    return redirect(ctx, "/", f"Switched to {match.project_name} ({match.role}).")
