"""API keys: long random strings, stored as SHA-256, shown once."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from wacast.api_keys import repository as repo
from wacast.kit import text
from wacast.kit.cache import TTLCache
from wacast.kit.clock import utcnow
from wacast.kit.errors import WacastError
from wacast.models.api_keys import ApiKey

KEY_PREFIX = "wac_"
# send: the campaign API and reading messages; full: everything; conversions: recording
# conversions only (POST /api/v1/conversions), the key a shop's backend holds.
SCOPES = ("send", "full", "conversions")
SENDING_SCOPES = ("send", "full")
MAX_NAME = 100


def can_send(scope: str) -> bool:
    """Whether a key of this scope may send (campaign API) and read messages."""
    return scope in SENDING_SCOPES


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class KeyIdentity:
    key_id: uuid.UUID
    project_id: uuid.UUID
    scope: str
    # The key's own rate limit (requests/s, burst); None: the global WACAST_API_RATE_LIMIT.
    rate_limit: float | None = None
    rate_burst: int | None = None


# key_hash -> identity (or None for an unknown key, so floods of bad keys stay cheap too).
_identity_cache: TTLCache[KeyIdentity | None] = TTLCache(ttl=5)


def configure_cache(ttl: float) -> None:
    _identity_cache.ttl = ttl
    _identity_cache.clear()


async def create_key(
    session: AsyncSession, project_id: uuid.UUID, scope: str = "full", name: str = "", *,
    rate_limit: float | None = None, rate_burst: int | None = None,
) -> tuple[ApiKey, str]:
    """A new key (and its plain text, shown once); its own rate limit, or None: the global one."""
    if scope not in SCOPES:
        raise WacastError(f"scope must be one of {', '.join(SCOPES)}", "FIELD_INVALID", {"field": "scope"})
    name = text.clean("name", name or "", max_len=MAX_NAME)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(project_id=project_id, name=name, prefix=plain[:12], key_hash=hash_key(plain), scope=scope,
                 rate_limit=rate_limit, rate_burst=rate_burst)
    await repo.insert(session, key)
    return key, plain


async def list_keys(session: AsyncSession, project_id: uuid.UUID) -> list[ApiKey]:
    """The project's keys (never their plain text): live ones first, newest first."""
    return await repo.for_project(session, project_id)


async def authenticate(session: AsyncSession, plain: str) -> KeyIdentity | None:
    digest = hash_key(plain)
    cached = _identity_cache.get(digest)
    if cached is not None or (_identity_cache.ttl > 0 and digest in _identity_cache._data):
        return cached
    row = await repo.identity_by_hash(session, digest)
    identity = KeyIdentity(row.id, row.project_id, row.scope, row.rate_limit, row.rate_burst) if row else None
    _identity_cache.put(digest, identity)
    return identity


async def touch(session: AsyncSession, key_id: uuid.UUID, now: datetime | None = None) -> None:
    """Record last use, at most once a minute per key (it is shown in the key list)."""
    now = now or utcnow()
    last = _last_touch.get(key_id)
    if last is not None and (now - last).total_seconds() < 60:
        return
    _last_touch[key_id] = now
    await repo.set_last_used(session, key_id, now)


_last_touch: dict[uuid.UUID, datetime] = {}


async def revoke(session: AsyncSession, project_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    """Revoke a live key of the project; False when there is none (unknown or already revoked)."""
    done = await repo.revoke(session, project_id, key_id, utcnow())
    _identity_cache.clear()
    return done
