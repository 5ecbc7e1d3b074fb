"""What wacast knows of Meta's webhook fields: each field's events counted, used or not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base


class MetaEventKind(Base):
    """One row per webhook field Meta sent (a change's `field`): how many, whether wacast uses
    it, first and last seen. Incremented once per batch of events (whatsapp/event_kinds.py)."""

    __tablename__ = "meta_event_kinds"

    field: Mapped[str] = mapped_column(String(100), primary_key=True)
    handled: Mapped[bool]
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
