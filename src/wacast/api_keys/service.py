"""API keys: long random strings, stored as SHA-256, shown once."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wacast.models.api_keys import ApiKey
from wacast.kit.cache import TTLCache
from wacast.kit.clock import utcnow

KEY_PREFIX = "wac_"
SCOPES = ("send", "full")


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


async def create_key(session: AsyncSession, project_id: uuid.UUID, scope: str = "full", name: str = "") -> tuple[ApiKey, str]:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(project_id=project_id, name=name, prefix=plain[:12], key_hash=hash_key(plain), scope=scope)
    session.add(key)
    await session.flush()
    return key, plain


async def authenticate(session: AsyncSession, plain: str) -> KeyIdentity | None:
    digest = hash_key(plain)
    cached = _identity_cache.get(digest)
    if cached is not None or (_identity_cache.ttl > 0 and digest in _identity_cache._data):
        return cached
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.project_id, ApiKey.scope, ApiKey.rate_limit, ApiKey.rate_burst).where(
                ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
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
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))


_last_touch: dict[uuid.UUID, datetime] = {}


async def revoke(session: AsyncSession, project_id: uuid.UUID, key_id: uuid.UUID) -> bool:
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.project_id == project_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    _identity_cache.clear()
    return result.rowcount > 0
