"""Logging: JSON lines or readable text, a request id and a submitted_message_id on every line
they concern, and secrets scrubbed from everything written.

- `configure_logging(settings)` installs one handler on the root logger (uvicorn's loggers
  propagate to it). `WACAST_LOG_FORMAT=json|text`; default text in development, json otherwise.
- `bind(...)` / `log_context(...)` put fields (request_id, submitted_message_id, ...) in a
  context variable; every record logged in that context carries them.
- Secrets never reach the output: API keys (`wac_...`), bearer tokens, Meta access tokens
  (`EAA...`), Fernet ciphertexts, `key=value` pairs whose key names a secret, and every exact
  secret value registered with `register_secret` (the settings' secrets, every decrypted token).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TextIO

import orjson

_context: ContextVar[dict[str, Any]] = ContextVar("wacast_log_context", default={})  # noqa: B039 (never mutated)

REDACTED = "[REDACTED]"


# --- context ---------------------------------------------------------------------------------


def current() -> dict[str, Any]:
    return _context.get()


def bind(**fields: Any) -> Token:
    """Add fields to the current context (this task and what it awaits or starts)."""
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def fresh(**fields: Any) -> Token:
    """Start a new context holding only these fields (a new request)."""
    return _context.set({k: str(v) for k, v in fields.items() if v is not None})


def reset(token: Token) -> None:
    _context.reset(token)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def bind_message(message_id: Any) -> None:
    """Mark the rest of this task as being about one message (its submitted_message_id)."""
    bind(submitted_message_id=message_id)


# --- redaction ------------------------------------------------------------------------------

_PATTERNS = [
    # key=value / "key": "value" where the key names a secret.
    re.compile(
        r"""(?ix)
        ((?:access_token|accesstoken|api_key|apikey|app_secret|appsecret|client_secret|secret_key|secret|password|
            passwd|token|authorization|x-hub-signature-256|signature)
         ["']?\s*[:=]\s*["']?(?:bearer\s+)?)
        ([^"'&,;\s}]{4,})"""
    ),
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/=\-]{8,})"),
    re.compile(r"()(wac_[A-Za-z0-9_\-]{16,})"),  # wacast API keys
    re.compile(r"()(EAA[A-Za-z0-9]{20,})"),  # Meta access tokens
    re.compile(r"()(gAAAAA[A-Za-z0-9_\-=]{20,})"),  # Fernet ciphertexts
    re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]+:)([^@\s]+)(?=@)"),  # passwords in database URLs
]
# A line none of _PATTERNS can match holds none of these cues (each pattern starts with one of
# them, compared here in lower case): a few substring tests instead of six substitutions per line.
# (A case-insensitive alternation regex for the same test cost 11 µs per access line.)
_SECRET_CUES = ("secret", "passw", "token", "authorization", "signature", "apikey", "api_key", "bearer", "wac_", "eaa", "gaaaaa",
                "postgres")
_secrets: set[str] = set()
_MAX_SECRETS = 10_000


_secrets_re: re.Pattern[str] | None = None


def register_secret(value: str | None) -> None:
    """Scrub this exact value from every log line from now on."""
    global _secrets_re
    if value and len(value) >= 6 and value not in _secrets and len(_secrets) < _MAX_SECRETS:
        _secrets.add(value)
        _secrets_re = None


def redact(text: str) -> str:
    global _secrets_re
    if not text:
        return text
    if _secrets:
        if _secrets_re is None:  # one alternation, longest first, rebuilt when a secret is added
            _secrets_re = re.compile("|".join(re.escape(v) for v in sorted(_secrets, key=len, reverse=True)))
        text = _secrets_re.sub(REDACTED, text)
    lowered = text.lower()
    if any(cue in lowered for cue in _SECRET_CUES):  # most lines (every access line) hold none
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_cue, text)
    return text


def _keep_cue(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


# --- formatters -----------------------------------------------------------------------------

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, context fields, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        out.update(getattr(record, "wacast_context", None) or current())
        for key, value in _extras(record).items():
            if key == "wacast_context":
                continue
            out[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(ctx)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        ctx = getattr(record, "wacast_context", None) or current()
        record.ctx = "".join(f" {k}={v}" for k, v in ctx.items())  # extras go to JSON only
        return redact(super().format(record))


class ContextFilter(logging.Filter):
    """Capture the context when the record is made (a handler may format it later)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "wacast_context"):
            record.wacast_context = current()
        return True


_HANDLER_MARK = "_wacast_handler"


def configure_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> logging.Handler:
    """Install wacast's handler on the root logger (replacing one installed before)."""
    # What no wacast line shows (the caller's file and line, thread and process names), left
    # uncomputed: the logging HOWTO's "Optimization" settings (each access line cost 5 µs more).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler


def settings_secrets(settings: Any) -> list[str]:
    """The settings' values that are secrets: never written in a log line."""
    return [*settings.secret_keys, settings.meta_app_secret, settings.meta_verify_token, settings.metrics_token, settings.smtp_password]


def configure_from_settings(settings: Any) -> logging.Handler:
    for secret in settings_secrets(settings):
        register_secret(secret)
    return configure_logging(settings.log_level, settings.effective_log_format)
