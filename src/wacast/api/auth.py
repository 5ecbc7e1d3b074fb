"""Bearer authentication for the REST API."""

from __future__ import annotations

from fastapi import Request

from wacast.api_keys import service
from wacast.api_keys.service import KeyIdentity
from wacast.kit import ratelimit
from wacast.kit.errors import Forbidden, Unauthorized

ApiIdentity = KeyIdentity


async def _identity(request: Request) -> KeyIdentity:
    """Any valid key (each route then says which scopes it takes)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized({"reason": "send Authorization: Bearer <API key>"})
    # Its own read session (no write lock on SQLite): the key is checked before the
    # endpoint's session opens, and a refused key never waits for the writer.
    async with request.app.state.db.read() as session:
        identity = await service.authenticate(session, token.strip())
    if identity is None:
        raise Unauthorized({"reason": "unknown or revoked API key"})
    ratelimit.check(identity)  # 429 with Retry-After, counted in memory
    return identity


async def require_key(request: Request) -> KeyIdentity:
    """A key that may send and read messages: `send` or `full` (a `conversions` key may only
    record conversions)."""
    identity = await _identity(request)
    if not service.can_send(identity.scope):
        raise Forbidden(
            f"This API key has scope `{identity.scope}`: it can only record conversions; this needs a `send` or `full` key",
            "KEY_SCOPE", {"scope": identity.scope, "required": "send"},
        )
    return identity


async def require_full(request: Request) -> KeyIdentity:
    """A key of scope `full`: a `send` key may only send and read its project's messages."""
    identity = await _identity(request)
    if identity.scope != "full":
        raise Forbidden(
            f"This API key has scope `{identity.scope}`: "
            + ("it can send (campaign API) and read messages" if identity.scope == "send" else "it can only record conversions")
            + "; this needs a `full` key",
            "KEY_SCOPE", {"scope": identity.scope, "required": "full"},
        )
    return identity


async def require_conversions(request: Request) -> KeyIdentity:
    """A key of scope `full` or `conversions` (a key a shop's backend holds to report orders,
    which can do nothing else)."""
    identity = await _identity(request)
    if identity.scope not in ("full", "conversions"):
        raise Forbidden(
            f"This API key has scope `{identity.scope}`; recording conversions needs a `conversions` or `full` key",
            "KEY_SCOPE", {"scope": identity.scope, "required": "conversions"},
        )
    return identity
