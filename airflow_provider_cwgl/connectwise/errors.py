"""Exceptions raised by the ConnectWise client. Messages never carry credentials: everything taken
from a server's answer passes through the client's ``Redactor`` (``connectwise/redact.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_provider_cwgl.errors import CwglError, SettingError

# The most of a server-supplied text (code, message, one field error) an exception keeps.
MAX_SERVER_TEXT = 300

# Statuses ConnectWise's guide says to retry: throttling and server-side failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class ConnectWiseConfigError(SettingError):
    """A connection setting is missing or malformed; raised before any request is sent."""


class ConnectWiseError(CwglError):
    """A ConnectWise call failed: an HTTP error status, a dropped connection or an unreadable body.

    ``status`` is None when no HTTP response arrived. ``code``, ``message`` and ``errors`` come from
    ConnectWise's error body (``{"code", "message", "errors": [{code, message, resource, field}]}``);
    ``redact`` is applied to each before it is stored, and each is cut to ``MAX_SERVER_TEXT``.
    ``final`` marks a failure that retrying cannot fix (a response too large or too slow as a whole).

    Not ``permanent``: the client has retried what it may within the call, and the task's own retries
    (later, when ConnectWise may have recovered) are left to the DAG author.
    """

    permanent = False

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
        redact: Callable[[str], str] | None = None,
        final: bool = False,
    ) -> None:
        def clean(value: Any) -> Any:
            if value is None or isinstance(value, (bool, int, float)):
                return value
            text = str(value)
            return (redact(text) if redact else text)[:MAX_SERVER_TEXT]

        self.method = method
        self.path = path
        self.status = status
        self.code = clean(code)
        self.message = clean(message)
        self.errors = [{str(k): clean(v) for k, v in err.items()} for err in errors]
        self.final = final
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__()

    @property
    def transient(self) -> bool:
        """A failure worth retrying: throttling, a server error, or no response at all."""
        if self.final:
            return False
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
