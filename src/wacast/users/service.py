"""Dashboard users, their passwords (argon2), their role per project and their sessions.

One function per use case, for the dashboard and the CLI alike; flushes, never commits.

Sessions are rows (models.users.DashboardSession): the cookie carries a random token, the
table its hash. Sign-out deletes the row; a password change deletes the user's other
sessions and gives the current one a new token; removing a member, a password set by the CLI
and `wacast users signout` delete all of them. Lifetimes: users/session_policy.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.kit import text
from wacast.kit.clock import utcnow
from wacast.kit.errors import NotFound, WacastError
from wacast.models.users import DashboardSession, Role, User
from wacast.users import repository as repo
from wacast.users import session_policy as policy

_hasher = PasswordHasher()
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str | None, field: str = "password") -> str:
    """The password rules, for a new user and for a change: at least MIN_PASSWORD characters."""
    if not password or len(password) < MIN_PASSWORD:
        raise WacastError(f"Password must have at least {MIN_PASSWORD} characters", "PASSWORD_TOO_SHORT", {"field": field})
    return password


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
        user = User(id=uuid.uuid4(), email=email, name=name or email.split("@")[0], password_hash=hash_password(check_new_password(password)))
        await repo.insert(session, user)
    elif password and not verify_password(user.password_hash, password):
        # A new password ends every session; the same one again (the demo seed on every
        # `make run`, a provisioning script run twice) changes nothing and signs nobody out.
        user.password_hash = hash_password(check_new_password(password))
        await repo.delete_sessions_of(session, user.id)
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
    """Take a user out of the project (the account stays); 404 / 409 as `set_role`. Their
    sessions end: they sign in again, into the projects they still belong to."""
    membership, user = await _member(session, project_id, user_id, None)
    await repo.remove_membership(session, membership)
    await repo.delete_sessions_of(session, user_id)
    return user


async def by_email(session: AsyncSession, email: str) -> User:
    """The user with this email; 404 USER_NOT_FOUND."""
    user = await repo.by_email(session, email.strip().lower())
    if user is None:
        raise NotFound("No user has this email", "USER_NOT_FOUND")
    return user


async def change_password(session: AsyncSession, user_id: uuid.UUID, current: str, new: str, repeat: str) -> User:
    """A user changes their own password: the current one first (400 WRONG_PASSWORD), the new
    one twice (400 PASSWORDS_DIFFER) under the rules (400 PASSWORD_TOO_SHORT). Every session
    of the user ends; the dashboard then starts one for the browser that made the change."""
    user = await repo.get(session, user_id)
    if user is None:
        raise NotFound("No such user", "USER_NOT_FOUND")
    if not verify_password(user.password_hash, current):
        raise WacastError("The current password is wrong", "WRONG_PASSWORD", {"field": "current_password"})
    check_new_password(new, "new_password")
    if new != repeat:
        raise WacastError("The new password and its repetition differ", "PASSWORDS_DIFFER", {"field": "repeat_password"})
    user.password_hash = hash_password(new)
    await repo.delete_sessions_of(session, user.id)
    await session.flush()
    return user


async def set_password(session: AsyncSession, email: str, password: str) -> User:
    """An operator sets someone's password (`wacast users password`): every session of theirs ends."""
    user = await by_email(session, email)
    user.password_hash = hash_password(check_new_password(password))
    await repo.delete_sessions_of(session, user.id)
    await session.flush()
    return user


async def start_session(session: AsyncSession, user: User, user_agent: str = "", address: str = "", now: datetime | None = None) -> str:
    """Sign a user in: a new session row; returns the token for the cookie (never stored)."""
    now = now or utcnow()
    token = policy.new_token()
    await repo.insert_session(session, DashboardSession(
        id=policy.token_id(token), user_id=user.id, created_at=now, last_seen_at=now, expires_at=policy.expires_at(now),
        user_agent=_shown(user_agent, 200), address=_shown(address, 64)))
    return token


def _shown(header: str, max_len: int) -> str:
    """A request header kept to show on the account page: under the text rule, or not kept
    (a browser with an odd header still signs in)."""
    value = header.strip()[:max_len]
    return value if text.problem(value, max_len=max_len) is None else ""


async def session_user(session: AsyncSession, token: str, now: datetime | None = None) -> tuple[User, DashboardSession] | None:
    """Who holds this token, while the session lives (None once it ended: signed out, idle,
    past its absolute end, or its user gone)."""
    found = await repo.session_and_user(session, policy.token_id(token))
    if found is None:
        return None
    row, user = found
    if not policy.is_live(row.last_seen_at, row.expires_at, now or utcnow()):
        return None
    return user, row


def needs_touch(row: DashboardSession, now: datetime | None = None) -> bool:
    """Whether this request should note that the session was used (at most once a minute:
    page views cost no write)."""
    return policy.needs_touch(row.last_seen_at, now or utcnow())


async def touch_session(session: AsyncSession, row: DashboardSession, now: datetime | None = None) -> bool:
    """Note that the session was used (unless a request beside this one just did)."""
    now = now or utcnow()
    return await repo.touch_session(session, row.id, now, now - policy.TOUCH_EVERY) > 0


async def end_session(session: AsyncSession, token: str) -> None:
    """Sign-out: this session ends."""
    await repo.delete_session(session, policy.token_id(token))


async def end_sessions(session: AsyncSession, user_id: uuid.UUID, keep_token: str | None = None) -> int:
    """End every session of the user (but the one of `keep_token`); how many ended."""
    return await repo.delete_sessions_of(session, user_id, policy.token_id(keep_token) if keep_token else None)


async def sessions_of(session: AsyncSession, user_id: uuid.UUID, now: datetime | None = None) -> list[DashboardSession]:
    now = now or utcnow()
    return await repo.sessions_of(session, user_id, now, policy.idle_cutoff(now))


async def purge_ended_sessions(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete the rows of sessions past their idle or absolute end (the runtime's Purges loop)."""
    now = now or utcnow()
    return await repo.delete_ended_sessions(session, now, policy.idle_cutoff(now))
