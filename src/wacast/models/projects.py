from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow
from wacast.kit.crypto import EncryptedString

DEFAULT_OPT_OUT_KEYWORDS = ["STOP", "UNSUBSCRIBE"]


class Project(IdMixin, Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    default_country: Mapped[str] = mapped_column(String(2), default="IN")
    # The business number people see, for display (E.164); Meta identifies it by phone_number_id.
    sender_number: Mapped[str | None] = mapped_column(String(20))
    waba_id: Mapped[str | None] = mapped_column(String(64))
    phone_number_id: Mapped[str | None] = mapped_column(String(64), index=True)
    access_token: Mapped[str | None] = mapped_column(EncryptedString())  # encrypted at rest (kit/crypto.py)
    messages_per_second: Mapped[int] = mapped_column(default=80)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Kolkata")
    opt_out_keywords: Mapped[list] = mapped_column(default=lambda: list(DEFAULT_OPT_OUT_KEYWORDS))
    opt_out_payloads: Mapped[list] = mapped_column(default=list)
    # Marketing consent (contacts/consent.py): MARKETING sends need a recorded consent when on;
    # a quick reply whose payload (or button text) is in consent_payloads grants it (double opt-in).
    require_marketing_consent: Mapped[bool] = mapped_column(default=False)
    consent_payloads: Mapped[list] = mapped_column(default=list)
    # Set when Meta refuses the sender itself (token expired, account restricted, ...):
    # nothing is sent for this project until an operator clears it.
    halted_reason: Mapped[str | None] = mapped_column(String(500))
    # Set when Meta restricted, disabled, deleted or offboarded the project's WhatsApp Business
    # Account (whatsapp/account_events.py); separate from halted_reason: it lifts by itself, at
    # `account_hold_until` (NULL: when Meta lifts it). The dispatcher reads both with the lease
    # refresh and checks the time against the clock (messages/senders.account_hold).
    account_hold: Mapped[str | None] = mapped_column(String(500))
    account_hold_until: Mapped[datetime | None]
    # The guardrails' choices (projects/guardrails.py): a template Meta moves from UTILITY to
    # MARKETING holds its sends (`hold`) or not (`continue`); a number whose quality falls slows
    # (`slow`: half the pace), pauses (`pause`) or keeps (`continue`) its marketing broadcasts.
    on_category_change: Mapped[str] = mapped_column(String(10), default="hold")
    on_quality_drop: Mapped[str] = mapped_column(String(10), default="slow")
    # MARKETING templates to regions where Meta does not deliver them (US numbers since
    # 2025-04): refuse (the default: 400 / broadcast skip) | accept (queued; Meta fails them).
    # projects/marketing_rules.py.
    marketing_region_policy: Mapped[str] = mapped_column(String(10), default="refuse")
    # The rating of the project's number as Meta last reported it (GREEN, YELLOW, RED, FLAGGED:
    # whatsapp/number_quality.py writes it); the dispatcher and the broadcast engine read it with
    # the project and apply on_quality_drop to it (projects/guardrails.quality_action).
    number_quality: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When `wacast templates sync` last fetched the templates from Meta (`wacast doctor` checks it).
    templates_synced_at: Mapped[datetime | None]
    # The sandbox's failure rule for this project (whatsapp/sandbox_failures.py: rate, code,
    # numbers, mode); NULL: the WACAST_SANDBOX_FAIL_* default.
    sandbox_failures: Mapped[dict | None]

    @property
    def provider(self) -> str:
        """`cloud` when Meta credentials are configured, else the `sandbox`."""
        if self.phone_number_id and self.access_token:
            return "cloud"
        return "sandbox"


class SenderLease(Base):
    """Which worker serves a project's sender number, until when (one worker per number)."""

    __tablename__ = "sender_leases"

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime]


class Worker(Base):
    """A running dispatcher's heartbeat: used to share sender leases fairly and by /readyz."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
