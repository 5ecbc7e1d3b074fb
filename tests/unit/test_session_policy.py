"""How long a dashboard session lives, without I/O: the moments are given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wacast.users.session_policy import (
    ABSOLUTE,
    IDLE,
    TOUCH_EVERY,
    expires_at,
    is_live,
    needs_touch,
    new_token,
    token_id,
)

SIGNED_IN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_session_ends_when_idle_or_at_its_absolute_end() -> None:
    ends = expires_at(SIGNED_IN)
    assert ends == SIGNED_IN + ABSOLUTE
    assert is_live(SIGNED_IN, ends, SIGNED_IN + IDLE - timedelta(seconds=1))
    assert not is_live(SIGNED_IN, ends, SIGNED_IN + IDLE)
    used_lately = ends - timedelta(minutes=1)
    assert is_live(used_lately, ends, ends - timedelta(seconds=1))
    assert not is_live(used_lately, ends, ends)  # used a minute ago, yet past its absolute end


def test_last_seen_is_noted_at_most_once_per_interval() -> None:
    assert not needs_touch(SIGNED_IN, SIGNED_IN + TOUCH_EVERY - timedelta(seconds=1))
    assert needs_touch(SIGNED_IN, SIGNED_IN + TOUCH_EVERY)


def test_only_a_hash_of_the_token_is_stored() -> None:
    token = new_token()
    assert len(token) >= 43 and token != new_token()
    assert token_id(token) == token_id(token) and token not in token_id(token) and len(token_id(token)) == 64
