"""What a template's status (Meta's) means for sends: one place for the three sets.

- HELD: sends wait (queued, not failed) until Meta approves or unpauses the template;
- DEAD: sends fail at once; the template will not come back;
- ACCEPTING: the campaign API accepts new sends (they may then be held).
"""

from __future__ import annotations

HELD = frozenset({"PAUSED", "DISABLED", "PENDING", "IN_APPEAL", "FLAGGED", "LOCKED", "LIMIT_EXCEEDED"})
DEAD = frozenset({"REJECTED", "DELETED", "ARCHIVED", "PENDING_DELETION"})
ACCEPTING = frozenset({"APPROVED", "PAUSED", "DISABLED", "FLAGGED", "IN_APPEAL", "REINSTATED", "UNPAUSED"})
