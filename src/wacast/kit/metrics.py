"""Prometheus metrics (prometheus-client): the metric objects and one-line helpers that the
rest of wacast calls where things happen. GET /metrics renders them (ops/endpoints.py) with
figures computed from the database at scrape time (queue depth, oldest message age, halted
senders, dispatcher heartbeats, webhook backlogs; ops/snapshot.py).

Each process counts what it did: scrape every `wacast serve` and `wacast worker` process
(WACAST_WORKER_METRICS_PORT), and for `wacast serve --workers N` set PROMETHEUS_MULTIPROC_DIR
to an empty directory so the N processes' counters are summed (docs/deployment.md).
The `project` label is the project's name.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from wacast.kit.clock import utcnow

__all__ = ["CONTENT_TYPE_LATEST"]
log = logging.getLogger("wacast.send")
disable_created_metrics()  # no *_created series: half the output, nothing an operator reads

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 24 * 3600.0)

MESSAGES_ACCEPTED = Counter("wacast_messages_accepted_total", "Messages accepted (queued) by the API, per project.", ["project"])
MESSAGE_STATUS = Counter(
    "wacast_message_status_total",
    "Messages reaching a status (sent by this dispatcher; delivered, read and failed as Meta reports them).",
    ["project", "status"],
)
MESSAGES_FAILED = Counter("wacast_messages_failed_total", "Messages failed, by Meta error code (none: no code).", ["project", "error_code"])
PROVIDER_ERRORS = Counter(
    "wacast_provider_errors_total", "Send attempts refused by the provider, by Meta error code (retried or not).", ["project", "error_code"]
)
THROUGHPUT_REACHED = Counter(
    "wacast_meta_throughput_reached_total", "Meta error 130429 (the number's throughput was reached), per project.", ["project"]
)
PROVIDER_LATENCY = Histogram(
    "wacast_provider_request_seconds", "Time of one send to the provider (Meta's Cloud API or the sandbox).",
    ["provider", "outcome"], buckets=LATENCY_BUCKETS,
)
RATE_LIMIT_WAITS = Counter(
    "wacast_rate_limit_waits_total", "Sends that had to wait for a rate limit (throughput: the number's cap; pair: one recipient).",
    ["project", "limit"],
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "wacast_rate_limit_wait_seconds_total", "Seconds sends waited for rate limits.", ["project", "limit"]
)
WEBHOOK_INTAKE_LAG = Histogram(
    "wacast_webhook_intake_lag_seconds", "From the event's own timestamp (Meta's) to its processing by wacast.",
    ["source"], buckets=LAG_BUCKETS,
)
HTTP_LATENCY = Histogram(
    "wacast_http_request_duration_seconds", "API request latency by route template and status.",
    ["method", "route", "status"], buckets=LATENCY_BUCKETS,
)
LINK_REQUESTS = Counter("wacast_link_requests_total", "Requests of tracked links (/r/{token}) by client class; class browser is a counted click.", ["client_class"])
CONVERSIONS = Counter("wacast_conversions_total", "Conversions recorded through the API, by what earned them (clicked, read, delivered, none).", ["touch"])
HTTP_IN_FLIGHT = Gauge("wacast_http_requests_in_flight", "Requests being served.", multiprocess_mode="livesum")

# project id -> name, for the `project` label (filled wherever a project is at hand and at
# every scrape; an id not seen yet is labelled by its id).
_project_names: dict[uuid.UUID, str] = {}


def remember_project(project_id: Any, name: str) -> None:
    try:
        _project_names[project_id if isinstance(project_id, uuid.UUID) else uuid.UUID(str(project_id))] = name
    except ValueError:
        pass


def project_label(project_id: Any) -> str:
    if isinstance(project_id, str):
        try:
            project_id = uuid.UUID(project_id)
        except ValueError:
            return project_id
    return _project_names.get(project_id) or str(project_id)


# --- helpers called from the code that does the work ---------------------------------------


_name_loader: Any = None


def configure_names(loader: Any) -> None:
    """An async callable project_id -> name, used once per project the process has not seen."""
    global _name_loader
    _name_loader = loader


async def message_accepted(project_id: Any) -> None:
    if project_id not in _project_names and _name_loader is not None:
        try:
            name = await _name_loader(project_id)
        except Exception:  # noqa: BLE001 (a metric label is never worth failing a request)
            name = None
        if name:
            remember_project(project_id, name)
    MESSAGES_ACCEPTED.labels(project_label(project_id)).inc()


def message_status(project_id: Any, status: str, error_code: int | None = None) -> None:
    project = project_label(project_id)
    MESSAGE_STATUS.labels(project, status).inc()
    if status == "failed":
        MESSAGES_FAILED.labels(project, str(error_code) if error_code is not None else "none").inc()


def status_reported(project: Any, status: str, changed: bool, error: dict | None, event_time: datetime | None) -> None:
    """A status event (Meta's webhook or the sandbox's report) was processed."""
    remember_project(project.id, project.name)
    intake_lag("meta" if project.provider == "cloud" else "sandbox", event_time)
    if changed and status != "sent":  # `sent` is counted by the dispatcher when Meta accepts
        message_status(project.id, status, (error or {}).get("code"))


def rate_limit_wait(project_id: Any, limit: str, seconds: float) -> None:
    if seconds > 0:
        project = project_label(project_id)
        RATE_LIMIT_WAITS.labels(project, limit).inc()
        RATE_LIMIT_WAIT_SECONDS.labels(project, limit).inc(seconds)


def intake_lag(source: str, event_time: datetime | None) -> None:
    if event_time is not None:
        WEBHOOK_INTAKE_LAG.labels(source).observe(max(0.0, (utcnow() - event_time).total_seconds()))


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_LATENCY.labels(method, route, str(status)).observe(seconds)


# --- exposition ------------------------------------------------------------------------------


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def render(extra: Iterable[Metric] = ()) -> bytes:
    """The process's metrics (or every process's, in multiprocess mode) plus `extra`."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Families(extra))
    return counters + generate_latest(scrape)


def link_request(client_class: str) -> None:
    LINK_REQUESTS.labels(client_class).inc()


def conversion(touch: str) -> None:
    CONVERSIONS.labels(touch).inc()
