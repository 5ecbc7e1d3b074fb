"""Bearer authentication for the REST API."""

from __future__ import annotations

from fastapi import Request

from wacast.api_keys import service
from wacast.api_keys.service import KeyIdentity
from wacast.kit.errors import Unauthorized

ApiIdentity = KeyIdentity


async def require_key(request: Request) -> KeyIdentity:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized({"reason": "send Authorization: Bearer <API key>"})
    async with request.app.state.db.sessionmaker() as session:
        identity = await service.authenticate(session, token.strip())
    if identity is None:
        raise Unauthorized({"reason": "unknown or revoked API key"})
    return identity
