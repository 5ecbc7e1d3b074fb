"""Tracked links, their clicks, and conversions (links/).

A tracked link is a short unguessable token that stands for one destination of one message
(a URL button, or a URL in a body parameter): `GET /r/{token}` records the click and answers
302 to the stored destination. Conversions are the business's own events (an order, a cart)
recorded through the API and attributed to the message that earned them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class TrackedLink(Base):
    __tablename__ = "tracked_links"
    __table_args__ = (Index("ix_tracked_links_message", "message_id"),)

    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    button_index: Mapped[int | None]  # the URL button's position; None for a URL in the body
    destination: Mapped[str] = mapped_column(Text)  # with the campaign's UTM parameters already added
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkClick(Base):
    """One request of a tracked link. Only `counted` ones are clicks: link-preview fetchers,
    crawlers, HEAD requests and repeats within seconds are kept but not counted."""

    __tablename__ = "link_clicks"
    __table_args__ = (
        Index("ix_link_clicks_message", "message_id", "counted"),
        Index("ix_link_clicks_campaign", "campaign_id", "counted"),
        Index("ix_link_clicks_token", "token", "clicked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    button_index: Mapped[int | None]
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
    client_class: Mapped[str] = mapped_column(String(20))  # browser | preview | bot | head | repeat
    counted: Mapped[bool] = mapped_column(default=False)


class MessageClick(Base):
    """A message's first counted click. Its primary key is what makes `message.clicked` fire
    once per message: each batch of clicks inserts its messages here with ON CONFLICT DO
    NOTHING, and only the batch whose row went in sends the event, whichever server process
    or batch in flight recorded the tap (a concurrent insert of the same key waits for the
    other transaction's commit)."""

    __tablename__ = "message_clicks"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    clicked_at: Mapped[datetime]


class Conversion(IdMixin, Base):
    """A business event (goal) of a contact, attributed to the message that earned it, if any."""

    __tablename__ = "conversions"
    __table_args__ = (
        UniqueConstraint("project_id", "order_id"),  # a repeated order id is the same conversion
        Index("ix_conversions_campaign", "campaign_id", "goal"),
        Index("ix_conversions_message", "message_id"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    touch: Mapped[str] = mapped_column(String(20))  # what earned it: clicked | read | delivered | none
    goal: Mapped[str] = mapped_column(String(100))
    value: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    order_id: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
