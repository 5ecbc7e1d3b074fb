"""What wacast knows of Meta's webhook fields: each field's events counted, used or not."""

from __future__ import annotations
