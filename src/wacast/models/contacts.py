from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class Contact(IdMixin, Base):
    """A person of a project, known by phone number, by Meta's business-scoped user id
    (BSUID), or both (at least one of them). Users who adopt a WhatsApp username may write
    with no phone number at all: they are known by `user_id` (and shown by `username`)."""

    __tablename__ = "contacts"
    __table_args__ = (
        # PostgreSQL and SQLite both let many rows have a NULL phone (or user id) here.
        UniqueConstraint("project_id", "phone"),
        UniqueConstraint("project_id", "user_id"),
        # Keyset walks of a project's contacts in id order (broadcast fan-out, segment pages).
        Index("ix_contacts_project_keyset", "project_id", "id"),
        Index("ix_contacts_project_username", "project_id", "username"),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164; None for a person known only by BSUID
    user_id: Mapped[str | None] = mapped_column(String(140))  # BSUID, e.g. "US.13491208655302741918"
    parent_user_id: Mapped[str | None] = mapped_column(String(140))  # "US.ENT.…" when Meta sends one
    username: Mapped[str | None] = mapped_column(String(100))  # the person's WhatsApp username, as last seen
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str | None] = mapped_column(String(200))
    opted_in: Mapped[bool] = mapped_column(default=True)
    blocked: Mapped[bool] = mapped_column(default=False)
    attributes: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Marketing consent (contacts/consent.py): the current state; its evidence is the history
    # in contact_consents. Separate from opted_in (an opt-out also withdraws consent).
    marketing_consent: Mapped[bool] = mapped_column(default=False)
    consent_at: Mapped[datetime | None]  # when the current state was given or withdrawn
    # Set when the person was erased (contacts/privacy.py): the row stays, with no personal
    # data, so that its messages still count in campaign totals and analytics.
    erased_at: Mapped[datetime | None]


class Tag(IdMixin, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttributeDefinition(IdMixin, Base):
    __tablename__ = "attribute_definitions"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContactTag(Base):
    __tablename__ = "contact_tags"

    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True)


class FormerNumber(Base):
    """A number a contact had before WhatsApp said it changed (`user_changed_number`). Sends to
    it are refused (PHONE_NUMBER_CHANGED) or skipped (`number_changed`) until it is released:
    a new person writes from it, or someone adds it as a contact again."""

    __tablename__ = "contact_former_numbers"

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164, the old number (one row per project and number)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    new_phone: Mapped[str] = mapped_column(String(20))  # E.164, the number it changed to
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
