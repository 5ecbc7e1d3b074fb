"""How long a dashboard session lives (pure: tests/unit/test_session_policy.py).

A session ends at the first of: sign-out (its row deleted), IDLE without a request, or
ABSOLUTE after sign-in however much it is used. `last_seen_at` is written at most once per
TOUCH_EVERY, so page views do not each cost a write (an idle end is late by at most that).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

IDLE = timedelta(days=3)  # a weekend away keeps one signed in; a forgotten laptop does not
ABSOLUTE = timedelta(days=14)
TOUCH_EVERY = timedelta(minutes=1)


def new_token() -> str:
    """The cookie's secret: 256 random bits."""
    return secrets.token_urlsafe(32)


def token_id(token: str) -> str:
    """The stored id of a token: its SHA-256 (a copy of the table opens no session)."""
    return hashlib.sha256(token.encode()).hexdigest()


def expires_at(signed_in_at: datetime) -> datetime:
    return signed_in_at + ABSOLUTE


def is_live(last_seen_at: datetime, ends_at: datetime, now: datetime) -> bool:
    return now < ends_at and now - last_seen_at < IDLE


def needs_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= TOUCH_EVERY


def idle_cutoff(now: datetime) -> datetime:
    """Sessions last seen before this have ended by idleness."""
    return now - IDLE
