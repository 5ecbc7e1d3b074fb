"""Meta's account_update events of a WABA: restrictions, ban states and informational events."""

from __future__ import annotations
