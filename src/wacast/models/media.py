"""Media of inbound messages, fetched from Meta through wacast and cached per project."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base


class InboundMedia(Base):
    """The bytes of one media file a contact sent (Meta's media id), as Meta served them to
    this project: checked against Meta's sha256 and the size limit before they were kept.
    Keyed by (project, media id): a file is only ever served to the project it came to.
    Removed after WACAST_MEDIA_CACHE_DAYS (whatsapp/media.purge_cached_media)."""

    __tablename__ = "inbound_media"
    __table_args__ = (Index("ix_inbound_media_fetched", "fetched_at"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    media_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    mime_type: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))  # hex digest of `content`
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    fetched_at: Mapped[datetime]
