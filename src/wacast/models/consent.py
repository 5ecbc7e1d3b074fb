"""Marketing consent: the history of each contact's grants and withdrawals, with their evidence."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base
from wacast.kit.clock import utcnow


class ContactConsent(Base):
    """One grant or withdrawal of a contact's marketing consent: when (as the evidence says,
    and when wacast recorded it), how (`method`: campaign_api, rest, csv, dashboard, cli,
    double_opt_in, opt_out), from where (`source`: a form, a shop, "STOP" ...) and the raw
    evidence text. The contact's current state is `contacts.marketing_consent`."""

    __tablename__ = "contact_consents"
    __table_args__ = (Index("ix_contact_consents_contact", "contact_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    granted: Mapped[bool]
    method: Mapped[str] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(String(200))
    evidence: Mapped[str | None] = mapped_column(Text)
    given_at: Mapped[datetime]  # when the person gave (or withdrew) it, as told; else when recorded
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
