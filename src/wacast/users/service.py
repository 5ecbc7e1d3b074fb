"""Dashboard users, their passwords (argon2) and their role per project.

One function per use case, for the dashboard and the CLI alike; flushes, never commits."""

from __future__ import annotations

import uuid
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text
from wacast.kit.errors import NotFound, WacastError
from wacast.models.users import Role, User
from wacast.users import repository as repo

_hasher = PasswordHasher()
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _check_role(role: str) -> str:
    if role not in Role.__members__:
        raise WacastError("role must be owner, manager or agent", "FIELD_INVALID", {"field": "role"})
    return role


async def create_or_update(session: AsyncSession, project_id: uuid.UUID, email: str, password: str | None, role: str, name: str = "") -> User:
    text.check("email", email, max_len=max(len(email), 1))  # its characters; its length is judged below
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise WacastError("A valid email is required", "FIELD_INVALID", {"field": "email"})
    _check_role(role)
    name = text.clean("name", name or "", max_len=200)
    user = await repo.by_email(session, email)
    if user is None:
        if not password or len(password) < MIN_PASSWORD:
            raise WacastError(f"Password must have at least {MIN_PASSWORD} characters", "PASSWORD_TOO_SHORT")
        user = User(id=uuid.uuid4(), email=email, name=name or email.split("@")[0], password_hash=hash_password(password))
        await repo.insert(session, user)
    elif password:
        if len(password) < MIN_PASSWORD:
            raise WacastError(f"Password must have at least {MIN_PASSWORD} characters", "PASSWORD_TOO_SHORT")
        user.password_hash = hash_password(password)
    membership = await repo.membership(session, project_id, user.id)
    if membership is None:
        await repo.add_membership(session, project_id, user.id, role)
    else:
        membership.role = role
    await session.flush()
    return user


async def list_members(session: AsyncSession, project_id: uuid.UUID) -> list[Any]:
    """(User, role) of every member of the project, by email."""
    return await repo.members(session, project_id)


async def _member(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID, new_role: str | None) -> tuple[Any, User]:
    membership = await repo.membership(session, project_id, user_id)
    if membership is None:
        raise NotFound("This user is not in the project", "MEMBER_NOT_FOUND")
    if membership.role == "owner" and new_role != "owner" and await repo.owner_count(session, project_id) <= 1:
        raise WacastError("A project keeps at least one owner: make someone else owner first", "LAST_OWNER", status_code=409)
    return membership, await repo.get(session, user_id)


async def set_role(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID, role: str) -> User:
    """Change a member's role; 404 MEMBER_NOT_FOUND, 409 LAST_OWNER (a project keeps one)."""
    membership, user = await _member(session, project_id, user_id, role)
    membership.role = _check_role(role)
    await session.flush()
    return user


async def remove_member(session: AsyncSession, project_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """Take a user out of the project (the account stays); 404 / 409 as `set_role`."""
    membership, user = await _member(session, project_id, user_id, None)
    await repo.remove_membership(session, membership)
    return user
