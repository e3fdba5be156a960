"""The package's errors, all in this file. Every error it raises on purpose derives from ``CwglError``.

One attribute, ``retry``, says whether retrying can help (see ``Retry``): the client retries a
``NOW`` failure within the call, the operators fail a task at once on a ``NEVER`` one, and leave a
``LATER`` one to the task's own retries.

Hierarchy::

    CwglError                              NEVER unless noted
     ├── SettingError (ValueError)          a setting is invalid or names nothing that exists
     │    ├── ConnectWiseConfigError        a connection setting (checked before any request)
     │    └── ExportSettingError            a GL export setting
     │         ├── OutputStoreError         the object store refuses the output (checked first)
     │         └── NotOnThisWorkerError     a local export file is not on this worker's disk
     ├── OutputStoreUnavailable             LATER: the object store did not answer the probe
     ├── ConnectWiseError                   a ConnectWise call failed: NOW for 429, 5xx and no
     │                                      response, else LATER (the client has retried enough)
     ├── ExportBodyError (ValueError)       complete JSON, but not a GLExport document we can write
     │    ├── ElementNameError              a field name that cannot be an XML element name
     │    └── JsonLimitError                a value past one of ``JsonLimits``
     ├── ReferenceValueTooLongError         a lookup value too long for any URL
     │   (ValueError)
     ├── BatchConflictError (RuntimeError)  the batch identifier is taken by other records
     ├── BatchOverlapError (RuntimeError)   the batch holds only part of this export's records
     ├── BatchReconcileError (RuntimeError) the batch ConnectWise made differs from what was approved
     ├── BatchNotCreatedError               LATER: every attempt failed and no batch exists
     │   (RuntimeError)
     ├── EmptyExportError                   LATER: nothing to export (the operator skips the task)
     ├── SandboxError (RuntimeError)        the local ConnectWise did not start
     └── ConditionError (ValueError)        the local ConnectWise got an invalid ``conditions``

Every module imports its errors from here; no other module re-exports them.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The most of a server-supplied text (code, message, one field error) an exception keeps.
MAX_SERVER_TEXT = 300

# Statuses ConnectWise's guide says to retry: throttling and server-side failures.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class Retry(enum.Enum):
    """Whether, and when, trying again can succeed."""

    NEVER = "never"
    """The same inputs fail the same way (a bad setting, records we cannot write): fail at once."""
    LATER = "later"
    """Not within this call; a later try of the task may succeed (the server may have recovered)."""
    NOW = "now"
    """A passing fault (throttling, a server error, no response): retried within the call."""


class CwglError(Exception):
    """Base of this package's errors."""

    retry: Retry = Retry.NEVER


class SettingError(CwglError, ValueError):
    """A setting is invalid or names something that does not exist. ``setting`` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class ConnectWiseConfigError(SettingError):
    """A connection setting is missing or malformed; raised before any request is sent."""


class ExportSettingError(SettingError):
    """A GL export setting is invalid. ``setting`` names it."""


class OutputStoreError(ExportSettingError):
    """The object store refuses the output (no bucket or container, no or wrong credentials,
    access denied), found by a probe object before any ConnectWise request."""


class NotOnThisWorkerError(ExportSettingError):
    """A local export file (or its ids file) is not on this worker's disk."""

    def __init__(self, setting: str, path: str) -> None:
        self.path = path
        super().__init__(
            setting,
            f"{path} is not on this worker ({socket.gethostname()}). If the task that wrote it ran on "
            "another worker (Celery or Kubernetes workers share no disk), the file is on that worker's "
            "disk: write the exports to object storage instead (an s3://, gs:// or abfs:// output root "
            "with its output connection; the Variables cwgl_output_root and cwgl_output_conn_id), or "
            "give every worker the same shared folder",
        )


class OutputStoreUnavailable(CwglError):
    """The object store did not answer the probe (unreachable, a timeout, a server error): a later
    try of the task may reach it."""

    retry = Retry.LATER


class ConnectWiseError(CwglError):
    """A ConnectWise call failed: an HTTP error status, a dropped connection or an unreadable body.

    ``status`` is None when no HTTP response arrived. ``code``, ``message`` and ``errors`` come from
    ConnectWise's error body (``{"code", "message", "errors": [{code, message, resource, field}]}``);
    ``redact`` is applied to each before it is stored, and each is cut to ``MAX_SERVER_TEXT``.
    Messages never carry credentials: everything taken from a server's answer passes through the
    client's ``Redactor`` (``connectwise/redact.py``).

    ``retry`` is ``NOW`` for throttling, a server error or no response, unless the caller says
    otherwise (a response too large or too slow as a whole is ``LATER``: retrying at once cannot
    fix it). Never ``NEVER``: the client has retried what it may within the call, and the task's
    own retries (later, when ConnectWise may have recovered) are left to the DAG author.
    """

    retry = Retry.LATER

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
        retry: Retry | None = None,
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
        if retry is None:
            retry = Retry.NOW if status is None or status in RETRYABLE_STATUSES else Retry.LATER
        self.retry = retry
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__()

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


class ExportBodyError(CwglError, ValueError):
    """The export is complete JSON but not a GLExport document we can write. Fetching it again
    would not help: ConnectWise would send the same records (unlike a cut or malformed body, which
    the client fetches again and, when it stays malformed, reports as a ``ConnectWiseError``)."""


class ElementNameError(ExportBodyError):
    """A field name in the export cannot be an XML element name (``bad name``, ``xmlThing``)."""


class JsonLimitError(ExportBodyError):
    """A value in the export is past one of ``JsonLimits``."""


class ReferenceValueTooLongError(CwglError, ValueError):
    """A value to look a reference up by (a document number) is so long that a request asking for
    it alone would pass ConnectWise's URL limit; the same records would fail the same way again."""


class BatchConflictError(CwglError, RuntimeError):
    """A batch with this identifier already exists with records that are not this export's."""


class BatchOverlapError(CwglError, RuntimeError):
    """The batch with this identifier holds only part of this export's records: another batch
    marked the rest exported before (overlapping exports)."""


class BatchReconcileError(CwglError, RuntimeError):
    """The batch ConnectWise holds differs from what was approved (same GL entry ids, yet other
    documents or amounts per collection). Nothing is deleted: the batch is checked by a person."""


class BatchNotCreatedError(CwglError, RuntimeError):
    """Every attempt to create the batch failed and none exists: a later try of the task may succeed."""

    retry = Retry.LATER


class EmptyExportError(CwglError):
    """The export holds no documents and ``skip_when_empty`` was asked: nothing was written.
    The operator catches it and skips the task; a later run may find documents."""

    retry = Retry.LATER


class SandboxError(CwglError, RuntimeError):
    """The sandbox itself failed (it did not start)."""


class ConditionError(CwglError, ValueError):
    """A ``conditions`` string the sandbox was sent is not valid ConnectWise syntax."""


class XeroQueryError(CwglError, ValueError):
    """A ``where`` filter the sandbox Xero was sent is not valid Xero syntax."""
