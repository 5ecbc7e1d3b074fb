from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class CampaignStatus(StrEnum):
    draft = "draft"
    live = "live"
    paused = "paused"


class Campaign(IdMixin, Base):
    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20), default="api")
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("templates.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.draft)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Broadcasts (type "broadcast", campaigns/broadcasts/): the audience, the mapping, the
    # schedule, and the fan-out's checkpoint and lease. NULL for API campaigns.
    segment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(as_uuid=True))
    broadcast: Mapped[dict | None]  # parameter mapping, media, location, limits
    send_at: Mapped[datetime | None]
    checkpoint: Mapped[str | None] = mapped_column(String(64))  # keyset cursor of the fan-out
    total_count: Mapped[int | None]
    queued_count: Mapped[int | None]
    skipped_count: Mapped[int | None]
    skip_reasons: Mapped[dict | None]
    status_reason: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None]
    fanout_done_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lease_holder: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]

    # Clicks and conversions (links/): UTM parameters, conversion goals, the attribution
    # window. NULL: the defaults (links/tracking.py).
    tracking: Mapped[dict | None]
