from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class MessageStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    read = "read"
    failed = "failed"


class Message(IdMixin, Base):
    """The outbox: a queued row is the job. Its id is the submitted_message_id."""

    __tablename__ = "messages"
    __table_args__ = (
        # The dispatcher's claim query: queued messages of one project, due first.
        Index("ix_messages_dispatch", "project_id", "status", "next_attempt_at"),
        Index("ix_messages_campaign", "campaign_id", "created_at"),
        Index("ix_messages_contact", "contact_id", "created_at"),
        # A broadcast queues each contact at most once (campaigns/broadcasts/).
        Index("uq_messages_broadcast_contact", "broadcast_id", "contact_id", unique=True),
        # Only the queue (partial): /readyz and /metrics aggregate it at every scrape (ops/).
        Index("ix_messages_queued", "project_id", "created_at", postgresql_where=text("status = 'queued'"), sqlite_where=text("status = 'queued'")),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    destination: Mapped[str] = mapped_column(String(140))  # E.164, or the BSUID of a person without a phone number
    # What goes to Meta: {"template": name, "language": code, "components": [...]}.
    payload: Mapped[dict]
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.queued)
    # Lower goes first: 0 for API-campaign (transactional) messages.
    priority: Mapped[int] = mapped_column(default=0)
    # The broadcast campaign that queued this message (NULL for API-campaign messages).
    broadcast_id: Mapped[uuid.UUID | None]
    wamid: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # Times Meta's per-user marketing limit (131049) deferred it (at most
    # WACAST_MARKETING_LIMIT_MAX_DEFERRALS, then failed: messages/retry_policy.marketing_limit).
    marketing_deferrals: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A claimed message carries a lease; a crashed worker's lease runs out and the message
    # becomes claimable again.
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(100))
    # Why a queued message waits, for people (e.g. "template PAUSED by Meta").
    held_reason: Mapped[str | None] = mapped_column(String(500))
    error_code: Mapped[int | None]
    error_title: Mapped[str | None] = mapped_column(String(500))
    error_detail: Mapped[str | None] = mapped_column(Text)
    pricing_category: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]


class MessageEvent(Base):
    """The history of one message: every status with its time, every failed attempt."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    # queued | sent | delivered | read | failed | retry | held | replied
    kind: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict | None]


class Reply(IdMixin, Base):
    """An inbound WhatsApp message from a contact, kept on the contact's timeline."""

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_contact", "contact_id", "received_at"),
        Index("ix_replies_media", "project_id", "media_id"),  # a media id is served only to its own project
    )

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    wamid: Mapped[str] = mapped_column(String(200), unique=True)
    # The campaign message this answers (from context.id), when known.
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(30))
    text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(String(500))
    # The typed content of its kind (meta/inbound.py): a caption, coordinates, cards, items...
    content: Mapped[dict | None]
    media_id: Mapped[str | None] = mapped_column(String(200))  # Meta's media id of an image, video, audio, document, sticker
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageReaction(IdMixin, Base):
    """A person's reaction to a message (not a reply): one per person and message, the latest
    emoji; `emoji` None when they took it back."""

    __tablename__ = "message_reactions"
    __table_args__ = (UniqueConstraint("contact_id", "reacted_wamid"), Index("ix_message_reactions_message", "message_id"))

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))  # ours, when known
    reacted_wamid: Mapped[str] = mapped_column(String(200))
    emoji: Mapped[str | None] = mapped_column(String(32))
    wamid: Mapped[str] = mapped_column(String(200))  # the reaction's own (the latest)
    reacted_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundEvent(Base):
    """A raw provider event (Meta's webhook body, or the sandbox's), stored before we ack.

    Deduplicated by `dedupe_key` (Meta retries for days and sends duplicates) and processed
    once by the dispatcher's event loop, after `process_after`.
    """

    __tablename__ = "inbound_events"
    __table_args__ = (Index("ix_inbound_events_pending", "processed_at", "process_after"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))  # meta | sandbox
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[dict]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    process_after: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    # What processing found worth telling an operator (unknown number, unknown wamid...).
    note: Mapped[str | None] = mapped_column(Text)
