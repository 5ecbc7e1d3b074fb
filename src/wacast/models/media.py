"""Media of inbound messages, fetched from Meta through wacast and cached per project."""

from __future__ import annotations
