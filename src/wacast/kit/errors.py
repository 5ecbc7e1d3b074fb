"""One error type and one envelope: {"message", "code", "details"} with a conventional status."""

from __future__ import annotations

from typing import Any


class WacastError(Exception):
    """A rejection a client can act on. `message` is for people (AiSensy's strings where they
    exist), `code` is stable for programs, `details` says exactly what was wrong."""

    status_code = 400

    def __init__(
        self,
        message: str,
        code: str,
        details: dict[str, Any] | None = None,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


class Unauthorized(WacastError):
    status_code = 401

    def __init__(self, details: dict[str, Any] | None = None) -> None:
        super().__init__("Unauthorized", "UNAUTHORIZED", details)

    def body(self) -> dict[str, Any]:
        # AiSensy's exact shape, which clients match on, plus our code.
        return {"name": "ERR401", **super().body()}


class Forbidden(WacastError):
    status_code = 403


class NotFound(WacastError):
    status_code = 404


class Conflict(WacastError):
    status_code = 409
