"""A contact CSV import: the uploaded file, how far it got, and what went wrong per row."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wacast.db.base import Base, IdMixin
from wacast.kit.clock import utcnow


class ContactImport(IdMixin, Base):
    __tablename__ = "contact_imports"

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    # pending -> running -> done (or failed when the file itself could not be read)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    content: Mapped[str] = mapped_column(Text)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    # [{"row": n, "phone": "...", "error": "..."}], the first MAX_STORED_ERRORS of them.
    errors: Mapped[list] = mapped_column(default=list)
    # Tags and attributes the file named that did not exist yet (created by the import).
    created_tags: Mapped[list] = mapped_column(default=list)
    created_attributes: Mapped[list] = mapped_column(default=list)
    # The import runs in the background under a lease; a crashed server's import resumes.
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
