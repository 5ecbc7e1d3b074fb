"""Users of the project (owners): members with their roles, adding someone (a password made
for them when they are new and none was given), changing a role, removing a member."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response

from wacast.dashboard import repository as repo
from wacast.dashboard.forms import fields, uuid_or_404

NewUserForm = fields("email", "name", "role", "password")
RoleForm = fields("role")
ButtonForm = fields()
from wacast.dashboard.web import ROLE_WORDS, DashboardRoute, Owner, redirect, render
from wacast.db.requests import ReadSession, WriteSession
from wacast.users import service as users_service

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


@router.get("/users")
async def users_page(request: Request, ctx: Owner, session: ReadSession) -> Response:
    members = await users_service.list_members(session, ctx.project.id)
    return render(ctx, "users.html", members=members, role_words=ROLE_WORDS, invited=None)


@router.post("/users")
async def user_add(request: Request, ctx: Owner, form: NewUserForm, session: WriteSession) -> Response:
    email = form.text("email").lower()
    password = form.text("password")
    role, name = form.text("role", "agent", strip=False), form.text("name")
    generated = None
    existing = await repo.user_by_email(session, email) if email else None
    if existing is None and not password:
        generated = password = secrets.token_urlsafe(9)
    await users_service.create_or_update(session, ctx.project.id, email, password if existing is None else None, role, name)
    if generated:
        members = await users_service.list_members(session, ctx.project.id)
        response = render(ctx, "users.html", members=members, role_words=ROLE_WORDS, invited={"email": email, "password": generated})
        response.headers["Cache-Control"] = "no-store"
        return response
    return redirect(ctx, "/users", f"{email} added to {ctx.project.name}.")


@router.post("/users/{user_id}/role")
async def user_role(request: Request, user_id: str, ctx: Owner, form: RoleForm, session: WriteSession) -> Response:
    role = form.text("role", strip=False)
    member = await users_service.set_role(session, ctx.project.id, uuid_or_404(user_id), role)
    return redirect(ctx, "/users", f"{member.email} is now {role}.")


@router.post("/users/{user_id}/remove")
async def user_remove(request: Request, user_id: str, ctx: Owner, form: ButtonForm, session: WriteSession) -> Response:
    member = await users_service.remove_member(session, ctx.project.id, uuid_or_404(user_id))
    return redirect(ctx, "/users", f"{member.email} removed from {ctx.project.name}; their sessions are signed out.")
