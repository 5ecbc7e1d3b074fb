"""Tables of broadcasts: a project's send policy, and the recipients of an uploaded CSV."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base
from wacast.kit.clock import utcnow


class SendPolicy(Base):
    """How much marketing a project sends: quiet hours (local time), a frequency cap per
    contact, and Meta's messaging tier (unique users per rolling 24 h; NULL = unlimited)."""

    __tablename__ = "send_policies"

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "21:00"
    quiet_end: Mapped[str | None] = mapped_column(String(5))  # "09:00"
    frequency_cap_count: Mapped[int | None]
    frequency_cap_days: Mapped[int | None]
    messaging_tier: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastRecipient(Base):
    """One row of an uploaded CSV audience: the contact and the row's values (for mapping)."""

    __tablename__ = "broadcast_recipients"

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    values: Mapped[dict] = mapped_column(default=dict)
