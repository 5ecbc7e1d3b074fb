"""Meta's account_update events of a WABA: restrictions, ban states and informational events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base
from wacast.kit.clock import utcnow


class AccountStatus(Base):
    """What Meta last said of one WhatsApp Business Account (whatsapp/account_policy.py reads
    it): its restrictions, ban state, deletion or offboarding, and latest violation. The
    projects on the WABA carry what of it holds their sends (projects.account_hold)."""

    __tablename__ = "account_statuses"

    waba_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # [{type, since, expires_at, remediation}]: the restrictions in force when last told (an
    # expired one stops counting by the clock, with no event).
    restrictions: Mapped[list] = mapped_column(default=list)
    ban_state: Mapped[str | None] = mapped_column(String(30))  # DISABLE | SCHEDULE_FOR_DISABLE
    ban_date: Mapped[str | None] = mapped_column(String(100))  # Meta's words ("April 17, 2025")
    ban_since: Mapped[datetime | None]
    lifecycle: Mapped[str | None] = mapped_column(String(30))  # ACCOUNT_DELETED | ACCOUNT_OFFBOARDED
    lifecycle_since: Mapped[datetime | None]
    violation_type: Mapped[str | None] = mapped_column(String(60))
    violation_at: Mapped[datetime | None]
    last_event: Mapped[str | None] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountEvent(Base):
    """Each account_update event received, informational ones included, with what it did."""

    __tablename__ = "account_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    waba_id: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(60))  # Meta's event name ("" when missing)
    known: Mapped[bool]
    effect: Mapped[str] = mapped_column(String(30))  # account_policy.Outcome.effect
    summary: Mapped[str] = mapped_column(String(500))
    phone_number: Mapped[str | None] = mapped_column(String(21))
    detail: Mapped[dict | None]  # what the event carried, cleaned (account_policy.clean_detail)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
