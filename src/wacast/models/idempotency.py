"""Idempotency-Key claims of the REST API (replayed for 24 h)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base
from wacast.kit.clock import utcnow


class IdempotencyKey(Base):
    """A claimed Idempotency-Key: in flight until the response is stored, replayed for 24 h."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # SHA-256 of the API key that sent the request: keys never collide across callers.
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    # in_flight | done
    state: Mapped[str] = mapped_column(String(20), default="in_flight")
    locked_until: Mapped[datetime | None]
    response_status: Mapped[int | None]
    response_headers: Mapped[dict | None]
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
