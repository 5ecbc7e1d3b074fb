"""The provider protocol the dispatcher sends through; the runtime fills it in with the Cloud
API client (whatsapp/cloud.py) or the sandbox (whatsapp/sandbox.py)."""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from wacast.kit import metrics
from wacast.kit.logs import bind_message
from wacast.meta.errors import ErrorClass, classify
from wacast.meta.types import OutgoingMessage, ProviderError, SendResult

__all__ = ["OutgoingMessage", "Provider", "ProviderError", "SendResult", "timed_send"]

log = logging.getLogger("wacast.send")


class Provider(Protocol):
    name: str

    async def send(self, project: Any, message: OutgoingMessage, template: Any) -> SendResult: ...

    async def close(self) -> None: ...


async def timed_send(provider: Any, project: Any, message: Any, template: Any) -> Any:
    """provider.send, measured: latency, errors by code, 130429s. Marks the task's log lines
    with the message's submitted_message_id."""
    bind_message(message.message_id)
    metrics.remember_project(project.id, project.name)
    started = time.perf_counter()
    outcome = "exception"
    try:
        result = await provider.send(project, message, template)
        outcome = "ok" if result.error is None else "error"
    finally:
        metrics.PROVIDER_LATENCY.labels(provider.name, outcome).observe(time.perf_counter() - started)
    if result.error is not None:
        code = result.error.code
        metrics.PROVIDER_ERRORS.labels(project.name, str(code) if code is not None else "none").inc()
        if code == 130429:
            metrics.THROUGHPUT_REACHED.labels(project.name).inc()
        kind = classify(code, result.error.http_status)
        # Transient refusals (retried) are routine under load: info; anything else: warning.
        log.log(
            logging.INFO if kind in (ErrorClass.retry, ErrorClass.recipient, ErrorClass.defer) else logging.WARNING,
            "%s refused the send: (%s) %s", provider.name, code, result.error.title,
            extra={"project": project.name, "error_code": code, "error_class": str(kind), "http_status": result.error.http_status},
        )
    return result
