from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class Template(IdMixin, Base):
    """A WhatsApp message template, in Meta's own shape (components as Meta returns them)."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("project_id", "name", "language"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    meta_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(30))  # MARKETING | UTILITY | AUTHENTICATION
    status: Mapped[str] = mapped_column(String(30))  # APPROVED | PENDING | REJECTED | PAUSED | DISABLED ...
    parameter_format: Mapped[str] = mapped_column(String(20), default="POSITIONAL")  # or NAMED
    components: Mapped[list] = mapped_column(default=list)
    quality: Mapped[str | None] = mapped_column(String(20))  # GREEN | YELLOW | RED | UNKNOWN
    rejected_reason: Mapped[str | None] = mapped_column(String(500))
    # Meta's own words on a rejection ({"reason": ..., "recommendation": ...}, each capped), from
    # the status webhook's rejection_info; cleared when the template leaves REJECTED.
    rejection_info: Mapped[dict | None]
    # The last status event Meta sent (REINSTATED while `status` says APPROVED, say), when, and
    # its details in words (other_info's title and description, the disable date).
    status_event: Mapped[str | None] = mapped_column(String(30))
    status_detail: Mapped[str | None] = mapped_column(String(1000))
    status_changed_at: Mapped[datetime | None]
    # What changed before (template_category_update, message_template_quality_update): kept and
    # shown; what to do about a change is the guardrails' (issue 15 records it only).
    previous_category: Mapped[str | None] = mapped_column(String(30))
    category_notice: Mapped[dict | None]  # an impending recategorisation: {"correct_category", "at"}
    previous_quality: Mapped[str | None] = mapped_column(String(20))
    # A recategorisation that holds the template's sends (UTILITY to MARKETING, the project's
    # on_category_change = hold): why, in words, and since when; cleared when a manager accepts
    # the new category (whatsapp/template_events.release_category_hold).
    category_hold: Mapped[str | None] = mapped_column(String(500))
    category_hold_at: Mapped[datetime | None]
    # message_template_components_update: what Meta reported (body, header, footer, buttons), at.
    components_update: Mapped[dict | None]
    # Meta's time-to-live: a message not sent (and delivered) within it is dropped. None means
    # the category's default (authentication 10 min, utility and marketing 30 days).
    message_send_ttl_seconds: Mapped[int | None]
    # Tracked URL buttons (issue 16): {"<button index>": "<real destination pattern>"}. Such a
    # button's URL at Meta is <WACAST_PUBLIC_URL>/r/{{1}}; each message fills {{1}} with a token
    # that stands for the destination (templates/tracked.py, links/send_links.py). None: none.
    tracked_buttons: Mapped[dict | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
