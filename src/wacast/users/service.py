"""Dashboard users, their passwords (argon2) and their role per project."""

from __future__ import annotations

import uuid

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit.errors import WacastError
from wacast.models.users import Membership, Role, User

_hasher = PasswordHasher()
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_or_update(session: AsyncSession, project_id: uuid.UUID, email: str, password: str | None, role: str, name: str = "") -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise WacastError("A valid email is required", "FIELD_INVALID", {"field": "email"})
    if role not in Role.__members__:
        raise WacastError("role must be owner, manager or agent", "FIELD_INVALID", {"field": "role"})
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    if user is None:
        if not password or len(password) < MIN_PASSWORD:
            raise WacastError(f"Password must have at least {MIN_PASSWORD} characters", "PASSWORD_TOO_SHORT")
        user = User(id=uuid.uuid4(), email=email, name=name or email.split("@")[0], password_hash=hash_password(password))
        session.add(user)
        await session.flush()
    elif password:
        if len(password) < MIN_PASSWORD:
            raise WacastError(f"Password must have at least {MIN_PASSWORD} characters", "PASSWORD_TOO_SHORT")
        user.password_hash = hash_password(password)
    membership = (
        await session.execute(select(Membership).where(Membership.project_id == project_id, Membership.user_id == user.id))
    ).scalar_one_or_none()
    if membership is None:
        session.add(Membership(project_id=project_id, user_id=user.id, role=role))
    else:
        membership.role = role
    await session.flush()
    return user
