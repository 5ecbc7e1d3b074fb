"""Billing (billing/): rate cards, the pricing Meta reported for each message, what each
broadcast was estimated to cost as it queued, and budgets.

A rate card is versioned: a new version is a new row with its own effective time, and the
rates of an old version are never changed. The cost of a message is computed at the version in
force at the message's time (its `priced_at`), so a new version never rewrites the past.

Money is kept as whole millionths of the currency (`*_micros`, BIGINT): a ledger's sums are
the same integers on SQLite and PostgreSQL, never floating point.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class RateCard(IdMixin, Base):
    """One version of a project's rate card: a currency and the time it takes effect."""

    __tablename__ = "rate_cards"
    __table_args__ = (UniqueConstraint("project_id", "version"), Index("ix_rate_cards_effective", "project_id", "effective_from"))

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    effective_from: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(20))  # csv | json | dashboard
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rate(Base):
    """The price of one message of a category to a country (ISO 3166 alpha-2; `*`: every
    country the card does not name). A region is a label over several countries' rows."""

    __tablename__ = "rate_card_rates"

    rate_card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("rate_cards.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    price_micros: Mapped[int] = mapped_column(BigInteger)  # millionths of the card's currency: sums are exact on every backend
    region: Mapped[str | None] = mapped_column(String(100))


class MessagePricing(Base):
    """Meta's `pricing` of one message, kept once whichever status carried it."""

    __tablename__ = "message_pricing"
    __table_args__ = (
        Index("ix_message_pricing_project", "project_id", "priced_at"),
        Index("ix_message_pricing_campaign", "campaign_id", "priced_at"),
        Index("ix_message_pricing_broadcast", "broadcast_id"),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(as_uuid=True))
    broadcast_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(as_uuid=True))
    category: Mapped[str] = mapped_column(String(40))
    type: Mapped[str | None] = mapped_column(String(40))  # regular | free_customer_service | free_entry_point
    pricing_model: Mapped[str | None] = mapped_column(String(20))
    billable_flag: Mapped[bool | None]  # Meta's `billable` as sent (deprecated by Meta)
    billable: Mapped[bool]  # decided: `type` first, `billable` only as a fallback (billing/pricing.py)
    country: Mapped[str] = mapped_column(String(2))  # of the destination; `*` when unknown
    priced_at: Mapped[datetime]  # the time of the status that carried it: the rate card in force then applies
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class BroadcastSpend(Base):
    """What a broadcast was estimated to cost as it queued (each batch priced at the rate card
    in force then): the estimate beside the ledger's actual, and the budget's pending part."""

    __tablename__ = "broadcast_spend"

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    currency: Mapped[str | None] = mapped_column(String(3))
    messages: Mapped[int] = mapped_column(default=0)
    amount_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced: Mapped[int] = mapped_column(default=0)  # estimated messages with no rate on the card
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Budget(IdMixin, Base):
    """A spending limit: per project and calendar month (UTC), or per broadcast."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("project_id", "scope"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(60))  # "month" | "broadcast:<campaign id>"
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    warned_period: Mapped[str | None] = mapped_column(String(20))  # the month ("2026-12") or "broadcast" warned at 80 %
    exceeded_period: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
