"""All configuration, read once from WACAST_* environment variables.

Every setting is documented in the README ("Configuration"). Keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

DEV_SECRET_KEY = "dev-insecure-secret-change-me"


# Database URLs (here, below everything, because settings and the engine both read them).
def async_url(url: str) -> str:
    """Accept plain URLs and pick the async driver: sqlite -> aiosqlite, postgresql -> asyncpg."""
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def sqlite_path_of(url: str) -> Path | None:
    u = make_url(async_url(url))
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)



class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WACAST_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    # Plain URLs are accepted: sqlite:///path.db or postgresql://user@host/db.
    database_url: str = "sqlite:///./data/wacast.db"
    host: str = "127.0.0.1"
    port: int = 8000

    # Meta's Graph API (the Cloud API).
    graph_api_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v23.0"
    meta_verify_token: str = ""
    meta_app_secret: str = ""
    # Seconds to wait for an answer from the Graph API before treating the send as failed and
    # retrying it (docs/delivery.md: a timed-out send may have reached Meta).
    graph_api_timeout: float = 20.0
    # Minutes between automatic template syncs from Meta for each project with credentials
    # (the TemplateSync loop of any serve/worker process claims each project in turn); 0 turns it off.
    template_sync_minutes: float = 60

    # Media URL checks on the campaign API.
    allow_private_media_hosts: bool = False
    media_check_timeout: float = 3.0
    media_cache_seconds: int = 300
    # Media of received messages (docs/media.md), fetched from Meta through wacast and cached.
    media_max_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0, description="the largest media file of a received message that wacast fetches "
        "from Meta and keeps; a bigger one is refused (MEDIA_TOO_LARGE) and nothing is cached",
    )
    media_cache_days: float = Field(
        default=30, gt=0, description="days a fetched media file stays cached in the database before the purge loop "
        "removes it (fetched again from Meta on the next view, while Meta still has it)",
    )
    notification_retention_days: int = Field(
        default=90, ge=0, description="days a notification (the dashboard's panel, with its emails) is kept after its "
        "latest repeat; an email still waiting to be sent keeps it; 0 keeps them for ever",
    )
    inbound_event_retention_days: int = Field(
        default=30, ge=0, description="days the stored bodies of Meta's webhook events are kept after they were applied "
        "(at least 8, so that Meta's own retries are still recognised; 0 keeps them for ever); the counts per kind stay",
    )

    # The dispatcher.
    run_dispatcher: bool = Field(
        default=True, description="run the dispatcher inside `wacast serve` (the embedded default)"
    )
    dispatcher_process: bool = Field(
        default=True, description="`wacast serve` runs its dispatcher and other loops in a `wacast worker` process it starts "
        "and stops (a second core); off: inside the server process",
    )
    dispatcher_batch_size: int = 200
    dispatcher_concurrency: int = 200
    dispatcher_poll_seconds: float = 0.2
    message_lease_seconds: int = 60
    sender_lease_seconds: int = 15
    dispatcher_join_seconds: float = Field(
        default=1.0, description="a starting worker heartbeats, then waits this long before taking sender numbers, so that "
        "workers started together share them from the start instead of handing them over",
    )
    max_send_attempts: int = 8
    # Retry backoff for transient errors: base * 2^attempt seconds with jitter, at most max.
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 900.0
    # Meta's per-user marketing limit (131049, docs/delivery.md): how many times a message is
    # deferred (24 h plus a per-message spread each time) before it fails with the reason.
    marketing_limit_max_deferrals: int = Field(default=3, ge=0, le=30)
    # Regions (ISO codes, comma-separated) where Meta does not deliver MARKETING templates
    # (projects/marketing_rules.py; US since 2025-04-01); an empty string turns the rule off.
    marketing_blocked_regions: str = "US"

    # Broadcasts (docs/broadcasts.md): contacts queued per fan-out transaction, batches per
    # engine round, the lease on a campaign being fanned out, the idle poll, and the default
    # auto-pause rule (pause when this share of the last N finished sends failed).
    broadcast_batch_size: int = 500
    broadcast_batches_per_tick: int = 10
    broadcast_lease_seconds: int = 60
    broadcast_poll_seconds: float = 1.0
    broadcast_failure_threshold: float = 0.5
    broadcast_failure_window: int = 50

    # Integrations (docs/integrations.md). Customer webhooks: hosts on private networks are
    # refused unless allowed; the HTTP timeout; retries back off from base to max seconds and
    # stop after the retry window, after which a subscription that kept failing is disabled.
    allow_private_webhook_hosts: bool = False
    webhook_timeout: float = 10.0
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_retry_window_hours: float = 24.0
    webhook_concurrency: int = 20
    webhook_poll_seconds: float = 1.0
    # Notifications by email (docs/notifications.md): the owners of a project get each warning
    # by email when WACAST_SMTP_HOST is set (unset: the dashboard panel and the customer webhook
    # only). TLS: none, starttls (upgrade on the plain port) or tls (implicit, port 465).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str = ""
    smtp_password: str = ""  # a secret: scrubbed from every log line (kit/logs.register_secret)
    smtp_from: str = "wacast@localhost"
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    smtp_timeout: float = Field(default=20.0, gt=0)
    smtp_poll_seconds: float = Field(default=2.0, gt=0)
    smtp_retry_base_seconds: float = Field(default=30.0, ge=0)
    smtp_retry_max_seconds: float = Field(default=3600.0, ge=0)
    smtp_retry_window_hours: float = Field(default=24.0, gt=0)
    # REST and campaign API rate limit per API key: requests per second and burst (a key can
    # carry its own). Counted in memory per server process.
    api_rate_limit: float = 200.0
    api_rate_burst: int = 400

    # Sandbox provider: seconds after the send at which it reports delivered and read.
    sandbox_delivered_after: float = 1.0
    sandbox_read_after: float = 3.0
    # Sandbox failures (docs/delivery.md, "Failures in the sandbox"): the default rule of every
    # sandbox project without one of its own (set from the inbox page or `wacast sandbox fail`).
    # A share of sends (per cent, by message id) and/or given numbers (comma-separated, +CC...,
    # each optionally `=CODE`) fail with a Meta error code, refused at the send (sync) or
    # accepted and then reported failed by a status webhook (webhook).
    sandbox_fail_rate: float = Field(default=0.0, ge=0, le=100)
    sandbox_fail_code: int = 131026
    sandbox_fail_numbers: str = ""
    sandbox_fail_mode: Literal["sync", "webhook"] = "sync"

    # How long API keys and campaigns stay cached in a process. A change made by another
    # process (the CLI, another server) is seen within this time; 0 turns caching off.
    cache_seconds: float = 2.0

    # Dashboard session cookie signing, and the encryption of secrets at rest (Meta access
    # tokens, webhook secrets). A comma-separated list rotates keys: the first encrypts, all
    # decrypt. Required outside development and test (see docs/deployment.md).
    secret_key: str = DEV_SECRET_KEY

    log_level: str = "info"
    # Operations (docs/deployment.md): log format json|text (default text in development,
    # json otherwise), a bearer token for /metrics, how long the scrape-time queue figures
    # are reused, the port of a `wacast worker`'s /metrics and /readyz (0: none), the public
    # URL Meta calls (checked by `wacast doctor`), and how long SIGTERM waits for requests.
    # /readyz and /metrics give up on a database query after readyz_timeout_seconds (a probe
    # must answer before the load balancer's own timeout; a stalled database reads as down).
    log_format: Literal["json", "text"] | None = None
    metrics_token: str = ""
    metrics_cache_seconds: float = 5.0
    readyz_timeout_seconds: float = Field(default=3.0, gt=0)
    worker_metrics_port: int = 0
    public_url: str = ""
    shutdown_timeout: float = 30.0

    @field_validator("marketing_blocked_regions")
    @classmethod
    def _known_regions(cls, value: str) -> str:
        regions = [r.strip().upper() for r in value.split(",") if r.strip()]
        unknown = [r for r in regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"unknown region codes: {', '.join(unknown)} (use ISO codes like US)")
        return ",".join(regions)

    @property
    def blocked_marketing_regions(self) -> frozenset[str]:
        """WACAST_MARKETING_BLOCKED_REGIONS as the codes it names (checked and upper-cased by
        the validator above): MARKETING sends to them are refused (campaign API) or skipped
        (broadcasts, their estimate and dry run). Empty: none."""
        return frozenset(r for r in self.marketing_blocked_regions.split(",") if r)

    @property
    def secret_keys(self) -> list[str]:
        return [k.strip() for k in self.secret_key.split(",") if k.strip()]

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("text" if self.environment == "development" else "json")

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host.strip())

    @property
    def sqlite_path(self) -> Path | None:
        return sqlite_path_of(self.database_url)


@lru_cache
def get_settings() -> Settings:
    return Settings()
