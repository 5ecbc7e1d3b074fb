"""A business number's quality over time and its portfolio's messaging limit, from Meta's
`phone_number_quality_update` events (whatsapp/number_quality.py applies them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base
from wacast.kit.clock import utcnow


class NumberQuality(Base):
    """What Meta last said of one business number (by its display number, digits only, as
    Meta's event names it): its rating and whether Meta flagged it, and its limit."""

    __tablename__ = "number_qualities"

    display_phone_number: Mapped[str] = mapped_column(String(21), primary_key=True)
    waba_id: Mapped[str] = mapped_column(String(64), index=True)
    # GREEN | YELLOW | RED | UNKNOWN (Meta's quality_rating), and FLAGGED as the number's state
    # (projects/guardrails.rating_of: FLAGGED counts over the rating while it lasts).
    quality: Mapped[str] = mapped_column(String(20), default="UNKNOWN")
    flagged: Mapped[bool] = mapped_column(default=False)
    current_limit: Mapped[str | None] = mapped_column(String(30))  # TIER_250, TIER_2K ... TIER_UNLIMITED
    last_event: Mapped[str | None] = mapped_column(String(30))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class NumberQualityEvent(Base):
    """Each phone_number_quality_update received: the number's rating over time."""

    __tablename__ = "number_quality_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    display_phone_number: Mapped[str] = mapped_column(String(21), index=True)
    waba_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(30))  # Meta's event ("" when missing)
    rating: Mapped[str] = mapped_column(String(20))  # the rating after it (GREEN ... RED, FLAGGED, UNKNOWN)
    previous_rating: Mapped[str | None] = mapped_column(String(20))
    current_limit: Mapped[str | None] = mapped_column(String(30))
    old_limit: Mapped[str | None] = mapped_column(String(30))
    portfolio_limit: Mapped[str | None] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(20))  # what wacast did: slow | pause | continue | none
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortfolioLimit(Base):
    """The business portfolio's messaging limit (unique users outside service windows per 24 h,
    shared by all its numbers), as Meta last reported it through this WABA
    (max_daily_conversations_per_business; current_limit before Meta removed it)."""

    __tablename__ = "portfolio_limits"

    waba_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tier: Mapped[str] = mapped_column(String(30))  # TIER_250 ... TIER_UNLIMITED, TIER_NOT_SET
    daily_limit: Mapped[int | None]  # users per 24 h; NULL: unlimited or not set
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
