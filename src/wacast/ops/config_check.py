"""Configuration checked at start: every problem reported at once, one clear line each.

Problems: a value of the wrong type or out of range, a bad URL, a missing secret outside
development and test, an unknown WACAST_* variable (a typo is named and the known names are
listed, so a misspelt setting never silently falls back to its default).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import ValidationError

from wacast.config import DEV_SECRET_KEY, Settings
from wacast.db.engine import async_url
from wacast.whatsapp import sandbox_failures

PREFIX = "WACAST_"
# WACAST_* variables read by tools around wacast, not by the Settings class.
OTHER_NAMES = {"WACAST_TEST_DATABASE_URL", "WACAST_REQUIRE_POSTGRES"}
OTHER_PREFIXES = ("WACAST_TEST_", "WACAST_BENCH_")
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def known_names() -> list[str]:
    return sorted(PREFIX + name.upper() for name in Settings.model_fields)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    known = set(known_names())
    problems = []
    for name in sorted(environ):
        if not name.upper().startswith(PREFIX) or name.upper() in known or name.upper() in OTHER_NAMES:
            continue
        if name.upper().startswith(OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(f"{name}: unknown setting{hint}; known settings: {', '.join(known_names())}")
    return problems


def check(settings: Settings) -> list[str]:
    problems: list[str] = []
    problems += _database_url(settings.database_url)
    problems += sandbox_failures.settings_problems(settings)  # WACAST_SANDBOX_FAIL_CODE / _NUMBERS
    for name, url, required in (("WACAST_GRAPH_API_URL", settings.graph_api_url, True), ("WACAST_PUBLIC_URL", settings.public_url, False)):
        if url or required:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(f"{name}: {url!r} is not an http(s) URL")
            elif name == "WACAST_PUBLIC_URL" and settings.environment == "production" and parts.scheme != "https":
                problems.append(f"{name}: Meta only calls https webhook URLs; use https://")
    if not 1 <= settings.port <= 65535:
        problems.append(f"WACAST_PORT: {settings.port} is not a port (1-65535)")
    if settings.worker_metrics_port and not 1 <= settings.worker_metrics_port <= 65535:
        problems.append(f"WACAST_WORKER_METRICS_PORT: {settings.worker_metrics_port} is not a port (1-65535, or 0 for none)")
    if settings.log_level.upper() not in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
        problems.append(f"WACAST_LOG_LEVEL: {settings.log_level!r} is not one of critical, error, warning, info, debug")
    for name, value in (("WACAST_DISPATCHER_BATCH_SIZE", settings.dispatcher_batch_size), ("WACAST_DISPATCHER_CONCURRENCY", settings.dispatcher_concurrency),
                        ("WACAST_MESSAGE_LEASE_SECONDS", settings.message_lease_seconds), ("WACAST_SENDER_LEASE_SECONDS", settings.sender_lease_seconds),
                        ("WACAST_MAX_SEND_ATTEMPTS", settings.max_send_attempts)):
        if value < 1:
            problems.append(f"{name}: must be at least 1 (got {value})")
    if settings.environment not in ("development", "test"):
        keys = settings.secret_keys
        if not keys or DEV_SECRET_KEY in keys:
            problems.append(
                "WACAST_SECRET_KEY: not set; outside development wacast needs its own key to encrypt Meta tokens and sign sessions "
                "(generate one with `wacast secrets generate-key`)"
            )
        elif any(len(k) < MIN_SECRET_LENGTH for k in keys):
            problems.append(f"WACAST_SECRET_KEY: every key must be at least {MIN_SECRET_LENGTH} characters (use `wacast secrets generate-key`)")
    return problems


def _database_url(url: str) -> list[str]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError


    try:
        parsed = make_url(async_url(url))
    except ArgumentError:
        return [f"WACAST_DATABASE_URL: {_hide(url)!r} is not a database URL (sqlite:///path.db or postgresql://user@host/db)"]
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        return [f"WACAST_DATABASE_URL: backend {backend!r} is not supported (sqlite or postgresql)"]
    if backend == "postgresql" and not parsed.host and not parsed.query.get("host"):
        return ["WACAST_DATABASE_URL: no host in the PostgreSQL URL (postgresql://user@host/db)"]
    if backend == "postgresql" and not parsed.database:
        return ["WACAST_DATABASE_URL: no database name in the PostgreSQL URL (postgresql://user@host/db)"]
    return []


def _hide(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment, or ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    problems = unknown_variables(environ)
    try:
        settings = Settings()
    except ValidationError as error:
        for e in error.errors():
            name = PREFIX + "_".join(str(p) for p in e.get("loc", ())).upper()
            given = e.get("input")
            shown = "" if isinstance(given, dict) or "SECRET" in name or "TOKEN" in name else f" (got {given!r})"
            problems.append(f"{name}: {e.get('msg')}{shown}")
        raise ConfigError(problems) from None
    problems += check(settings)
    if problems:
        raise ConfigError(problems)
    return settings
