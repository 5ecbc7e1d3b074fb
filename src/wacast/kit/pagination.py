"""Keyset pagination: a page of items and an opaque cursor (created_at, id) to the next one."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wacast.kit.errors import WacastError

MAX_PAGE = 200


@dataclass
class Page:
    """One page of a keyset-paginated list; pass `next_cursor` back to get the next page."""

    items: list[Any]
    next_cursor: str | None = None


def encode_cursor(at: datetime, item_id: uuid.UUID) -> str:
    raw = f"{at.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, item_id = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(item_id)
    except (ValueError, UnicodeDecodeError):
        raise WacastError("cursor is not valid; pass next_cursor from the previous page", "INVALID_CURSOR", {"field": "cursor"}) from None


def page_limit(limit: int | None, default: int = 50) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= MAX_PAGE:
        raise WacastError(f"limit must be between 1 and {MAX_PAGE}", "INVALID_LIMIT", {"field": "limit", "max": MAX_PAGE})
    return limit
