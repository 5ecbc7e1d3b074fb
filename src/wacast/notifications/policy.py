"""The rules of a notification, pure (no I/O; tests/unit/test_notification_policy.py).

- What is kept of a warning's text: every control character (but newline in the text), NUL and
  lone surrogate turned to a space, trimmed and capped; a warning is never refused for its
  words (it is written in the transaction of the change that caused it: refusing it would undo
  the change).
- A repeat: the same kind, severity, title, text and link (`fingerprint`) within
  COLLAPSE_WITHIN of the last one, not dismissed, is the same notification (`repeats` + 1).
- An email: the subject on one line (no CR/LF can reach a header), the body in plain text, the
  address checked as one bare addr-spec.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP

SEVERITIES = ("info", "warning", "critical")
# The kinds wacast raises today, with their words in the dashboard's filter; a domain may add
# its own (any `kind` matching KIND_PATTERN is accepted and shown by its name).
KINDS = {
    "account.hold": "Account holds",
    "broadcast.paused": "Broadcasts paused",
    "sender.halted": "Sending halted",
    "template.status": "Templates paused, disabled, rejected or flagged",
    "template.category": "Template category changes",
    "number.quality": "Number quality",
    "budget": "Budgets",
}
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_.]{0,39}")
COLLAPSE_WITHIN = timedelta(minutes=15)
TITLE_MAX, TEXT_MAX, LINK_MAX, SUBJECT_MAX = 200, 4000, 500, 200
SUBJECT_PREFIX = "[wacast]"

_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL_TEXT = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SPACES = re.compile(r"[ \t]{2,}")
_LINK = re.compile(r"/[A-Za-z0-9/_\-.~%?=&+]*")


def _cap(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def line(value: object, limit: int = TITLE_MAX) -> str:
    """One line of text: control characters (newlines too) become spaces, runs of spaces one."""
    cleaned = _SPACES.sub(" ", _CONTROL_LINE.sub(" ", str(value if value is not None else ""))).strip()
    return _cap(cleaned, limit)


def paragraph(value: object, limit: int = TEXT_MAX) -> str:
    """Text that may have lines: control characters but newline become spaces."""
    text = str(value if value is not None else "").replace("\r\n", "\n")
    return _cap(_CONTROL_TEXT.sub(" ", text).strip(), limit)


def kind(value: object) -> str:
    """The kind as given when it matches KIND_PATTERN, else `other`."""
    word = str(value or "").strip().lower()
    return word if KIND_PATTERN.fullmatch(word) else "other"


def severity(value: object) -> str:
    word = str(value or "").strip().lower()
    return word if word in SEVERITIES else "warning"


def link(value: object) -> str | None:
    """A path inside the dashboard (`/broadcasts/...`); anything else (another site, `//host`,
    `javascript:`) is dropped."""
    if not isinstance(value, str) or not _LINK.fullmatch(value) or value.startswith("//") or len(value) > LINK_MAX:
        return None
    return value


def fingerprint(kind_: str, severity_: str, title: str, text: str, link_: str | None) -> str:
    raw = "\x1f".join((kind_, severity_, title, text, link_ or ""))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def absolute(link_: str | None, public_url: str) -> str | None:
    """The dashboard link as a full URL when the public URL is known (emails, webhooks)."""
    if not link_:
        return None
    base = (public_url or "").strip().rstrip("/")
    return base + link_ if base.startswith(("http://", "https://")) else link_


def address(value: object) -> str | None:
    """A bare email address (local@domain) fit for an SMTP envelope and a To header, or None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > 254 or _CONTROL_LINE.search(value) or any(c in value for c in ' <>,;:"()[]\\'):
        return None
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, MessageError):
        return None
    if not parsed.username or not parsed.domain or "." not in parsed.domain.strip("."):
        return None
    return parsed.addr_spec


def subject(project_name: str, title: str) -> str:
    return line(f"{SUBJECT_PREFIX} {line(project_name, 100)}: {title}", SUBJECT_MAX)


def body(project_name: str, severity_: str, title: str, text: str, link_: str | None) -> str:
    parts = [f"{severity_.upper()}: {title}", "", text]
    if link_:
        parts += ["", f"See it in the dashboard: {link_}"]
    parts += ["", "--", f"You get this because you are an owner of the project {line(project_name, 100)} in wacast.",
              "Every warning is also in the dashboard's notifications panel."]
    return "\n".join(parts) + "\n"


def message(sender: str, to: str, subject_: str, body_: str) -> EmailMessage:
    """The email, built with email.message's own API: a header value with CR or LF is refused
    there (ValueError; a malformed address MessageError), and the subject is made one line."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = Address(addr_spec=sender)
    mail["To"] = Address(addr_spec=to)
    mail["Subject"] = line(subject_, SUBJECT_MAX)
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(body_)
    return mail


def backoff(attempt: int, base: float, maximum: float) -> float:
    """Seconds before try `attempt + 1`: base * 2^(attempt-1), at most `maximum`."""
    return min(maximum, base * (2 ** max(0, attempt - 1)))


def permanent(code: int | None) -> bool:
    """An SMTP answer that will not change on a retry (5xx); 4xx and no answer are retried."""
    return code is not None and 500 <= code < 600
