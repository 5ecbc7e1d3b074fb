"""Notifications: the warnings wacast gives people (notifications/), and the email outbox that
carries them to the project's owners when SMTP is configured.

A notification is one warning of one project (a budget at 80 %, a paused or halted broadcast,
a template held, paused or re-categorised, a number's quality drop, an account hold), shown in
the dashboard's panel and sent as the customer webhook `notification.created`. Identical
warnings repeated within a short time are one row whose `repeats` counts them
(notifications/service.py). An email is a row until it is sent or given up: the Mailer loop
claims due rows with a lease, so a process that dies mid-send loses nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class Notification(IdMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_project_created", "project_id", "created_at"),
        Index("ix_notifications_project_fingerprint", "project_id", "fingerprint", "last_at"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # notifications.service.KINDS (others accepted by pattern)
    severity: Mapped[str] = mapped_column(String(10))  # info | warning | critical
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))  # a dashboard path (/broadcasts/...), never another site
    data: Mapped[dict | None]
    # sha256 of kind, severity, title, text and link: the identity of a repeated warning
    fingerprint: Mapped[str] = mapped_column(String(64))
    repeats: Mapped[int] = mapped_column(default=1)  # how many identical warnings this row stands for
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)  # the latest repeat
    read_at: Mapped[datetime | None]
    read_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    dismissed_at: Mapped[datetime | None]
    dismissed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class NotificationEmail(IdMixin, Base):
    """The email outbox: one message to one owner, until sent or given up."""

    __tablename__ = "notification_emails"
    __table_args__ = (Index("ix_notification_emails_due", "status", "next_attempt_at"),)

    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sent | failed (given up)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
