"""Exceptions raised by the ConnectWise client. Messages never carry credentials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Statuses ConnectWise's guide says to retry: throttling and server-side failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class ConnectWiseConfigError(ValueError):
    """A setting is missing or malformed; raised before any request is sent."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class ConnectWiseError(Exception):
    """A ConnectWise call failed: an HTTP error status, a dropped connection or an unreadable body.

    ``status`` is None when no HTTP response arrived. ``code``, ``message`` and ``errors`` come from
    ConnectWise's error body (``{"code", "message", "errors": [{code, message, resource, field}]}``).
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        code: str | None = None,
        message: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__()

    @property
    def transient(self) -> bool:
        """A failure worth retrying: throttling, a server error, or no response at all."""
        return self.status is None or self.status in RETRYABLE_STATUSES

    @property
    def field_errors(self) -> list[str]:
        out = []
        for err in self.errors:
            field = err.get("field") or err.get("resource") or "?"
            out.append(f"{field}: {err.get('message') or err.get('code')}")
        return out

    def __str__(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        detail = ": ".join(p for p in (self.code, self.message) if p)
        text = f"ConnectWise {self.method} {self.path} failed ({what})"
        if detail:
            text += f": {detail}"
        if self.errors:
            text += " [" + "; ".join(self.field_errors) + "]"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        return text
