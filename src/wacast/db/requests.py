"""The unit of work at the HTTP edge: one session per request, as a FastAPI dependency.

- `WriteSession`: a transaction that commits once, after the endpoint returned and before the
  response is sent (a 200 means committed); any exception rolls it back. Scoped to the
  function: since FastAPI 0.118 the code after a dependency's `yield` otherwise runs after the
  response has gone out, and a failed commit would follow a 200.
- `ReadSession`: reads only (Database.read(): no write lock on SQLite), rolled back at the end.

Services flush, never commit. Endpoints that must make a network call between validation and
the write (the campaign API's media check) or that wait for a grouped commit (the campaign
API's group commit) open their sessions themselves and say so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.transaction() as session:
        yield session


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.read() as session:
        yield session


WriteSession = Annotated[AsyncSession, Depends(write_session, scope="function")]
ReadSession = Annotated[AsyncSession, Depends(read_session, scope="function")]
