"""Who a person is: a phone number, Meta's business-scoped user id (BSUID), a username, or
several of them. Pure (no I/O): what a message's sender fields say (`Incoming`), read from
Meta's untrusted body, and what to do with the contacts that already hold that phone or that
BSUID (`decide`). contacts/senders.py runs the decision.

The rules:
- The phone number wins: when one contact holds the phone and another the BSUID, the message
  belongs to the phone's contact and the two are left apart (a note says so; nothing is merged
  on Meta's word alone).
- A contact found by one identifier gets the other filled in when it has none: a contact known
  by BSUID that writes with a phone gets its phone, and the reverse.
- Meta regenerates a BSUID when the person changes number: a contact found by phone that
  arrives with another BSUID takes the new one (when no other contact holds it). The username
  and the parent BSUID are kept as last seen; a name only fills an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wacast.kit.phone import MAX_BSUID, is_bsuid
from wacast.kit.text import scrub_tree

MAX_NAME = 200
MAX_USERNAME = 100


@dataclass(frozen=True)
class Incoming:
    """The sender of one inbound message as Meta gave it (checked: None where absent or bad)."""

    phone: str | None = None  # E.164 ("+" and Meta's wa_id digits)
    user_id: str | None = None
    parent_user_id: str | None = None
    username: str | None = None
    name: str = ""

    @property
    def known(self) -> bool:
        return bool(self.phone or self.user_id)


def phone_of(value: Any) -> str | None:
    """Meta's `from` / `wa_id` (digits, maybe with a "+") as E.164, or None when it is no number."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    digits = str(value).strip().removeprefix("+")
    return "+" + digits if digits.isascii() and digits.isdigit() and 6 <= len(digits) <= 15 else None


def user_id_of(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and is_bsuid(value.strip()) else None


def _text(value: Any, limit: int) -> str | None:
    """A name or username as people typed it, kept (never refused: Meta retries a refusal for
    days) with NUL and lone surrogates replaced, control characters dropped, cut to `limit`."""
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in scrub_tree(value) if ch.isprintable()).strip()
    return cleaned[:limit] or None


def _matching_contact(message: dict[str, Any], value: dict[str, Any], wa_id: str | None, user_id: str | None) -> dict[str, Any]:
    """The `contacts[]` entry of the message's sender: by wa_id, else by user_id, else the only one."""
    entries = [c for c in (value.get("contacts") or []) if isinstance(c, dict)] if isinstance(value.get("contacts"), list) else []
    for entry in entries:
        if wa_id and str(entry.get("wa_id") or "").lstrip("+") == wa_id.lstrip("+"):
            return entry
    for entry in entries:
        if user_id and entry.get("user_id") == user_id:
            return entry
    return entries[0] if len(entries) == 1 and not (wa_id and entries[0].get("wa_id")) else {}


def incoming(message: dict[str, Any], value: dict[str, Any]) -> Incoming:
    """The sender of `message` (one of `value.messages`): `from` or the contact's `wa_id` for the
    phone, `from_user_id` or the contact's `user_id` for the BSUID, `profile.username`, `profile.name`."""
    raw_from = message.get("from")
    entry = _matching_contact(message, value, str(raw_from) if isinstance(raw_from, (str, int)) and raw_from else None,
                              user_id_of(message.get("from_user_id")))
    phone = phone_of(raw_from) or phone_of(entry.get("wa_id"))
    user_id = user_id_of(message.get("from_user_id")) or user_id_of(entry.get("user_id")) or user_id_of(raw_from)
    parent = user_id_of(message.get("from_parent_user_id")) or user_id_of(entry.get("parent_user_id"))
    profile = entry.get("profile") if isinstance(entry.get("profile"), dict) else {}
    username = _text(profile.get("username") if profile else entry.get("username"), MAX_USERNAME)
    return Incoming(phone, user_id, parent, username.lstrip("@") if username else None, _text(profile.get("name"), MAX_NAME) or "")


@dataclass
class Decision:
    """What to do: the contact the message belongs to (None: make one), its changes, notes."""

    contact_id: Any | None
    changes: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def decide(person: Incoming, holders: list[Any]) -> Decision:
    """`holders`: the contacts holding the person's phone or BSUID (rows with id, phone,
    user_id, parent_user_id, username, name)."""
    by_phone = next((h for h in holders if person.phone and h.phone == person.phone), None)
    by_user = next((h for h in holders if person.user_id and h.user_id == person.user_id), None)
    target = by_phone or by_user
    if target is None:
        return Decision(None)
    out = Decision(target.id)
    if by_phone is not None and by_user is not None and by_phone.id != by_user.id:
        out.notes.append(f"BSUID {person.user_id} belongs to another contact ({by_user.id}): kept apart")
    if person.phone and not target.phone:
        out.changes["phone"] = person.phone  # known by BSUID, now writes with a number
    elif person.phone and target.phone != person.phone:
        out.notes.append(f"contact {target.id} wrote from {person.phone} (its number is {target.phone}): number kept")
    if person.user_id and target.user_id != person.user_id and by_user is None:
        out.changes["user_id"] = person.user_id  # new to us, or regenerated by Meta
    if person.parent_user_id and person.parent_user_id != target.parent_user_id:
        out.changes["parent_user_id"] = person.parent_user_id
    if person.username and person.username != target.username:
        out.changes["username"] = person.username
    if person.name and not target.name:
        out.changes["name"] = person.name
    return out


def notice_text(value: Any, limit: int) -> str:
    """A system notice's text ("User Sheena Nelson changed from ... to ..."), kept as Meta wrote it."""
    return _text(value, limit) or ""


def label(phone: str | None, username: str | None, user_id: str | None) -> str:
    """How a person is written where a number would be: the phone, else @username, else the BSUID."""
    return phone or (f"@{username}" if username else "") or user_id or "unknown"


__all__ = ["MAX_BSUID", "Decision", "Incoming", "decide", "incoming", "label", "notice_text", "phone_of", "user_id_of"]
