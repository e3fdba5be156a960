"""The package's errors, all in this file. Every error it raises on purpose derives from ``CwglError``.

One attribute, ``retry``, says whether retrying can help (see ``Retry``): the client retries a
``NOW`` failure within the call, the operators fail a task at once on a ``NEVER`` one, and leave a
``LATER`` one to the task's own retries.

Hierarchy::

    CwglError                              NEVER unless noted
     ├── SettingError (ValueError)          a setting is invalid or names nothing that exists
     │    ├── ConnectWiseConfigError        a connection setting (checked before any request)
     │    ├── XeroConfigError               a Xero connection setting (checked before any request)
     │    ├── XeroTenantError               the token reaches no Xero organisation, or several
     │    │                                 and the connection names none of them
     │    └── ExportSettingError            a GL export setting
     │         ├── OutputStoreError         the object store refuses the output (checked first)
     │         └── NotOnThisWorkerError     a local export file is not on this worker's disk
     ├── OutputStoreUnavailable             LATER: the object store did not answer the probe
     ├── ConnectWiseError                   a ConnectWise call failed: NOW for 429, 502-504, a
     │                                      timeout 500 and no response; NEVER for any other
     │                                      500; else LATER (the client has retried enough)
     ├── XeroError                          a Xero call failed: NOW for 429, 5xx and no response,
     │    │                                 NEVER for another 4xx (Xero refused what was sent)
     │    ├── XeroAuthError                 the token endpoint refused the client id or secret
     │    └── XeroLimitError                LATER: the tenant's calls for the day are spent
     ├── XeroRefusedError                   Xero (or the mapping) refused documents of a load
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
     ├── ConditionError (ValueError)        the local ConnectWise got an invalid ``conditions``
     └── XeroQueryError (ValueError)        the local Xero got an invalid ``where`` filter

Every module imports its errors from here; no other module re-exports them.
"""

from __future__ import annotations

import enum
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The most of a server-supplied text (code, message, one field error) an exception keeps.
MAX_SERVER_TEXT = 300

# Statuses ConnectWise's guide says to retry: throttling and a gateway's failures.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# ConnectWise answers its own timeouts as 500 ("A timeout has occured. Please try again.",
# "Timeout expired ... obtaining a connection from the pool"), but also what the same request meets
# again ("Error converting value ... to type ...", "String was not recognized as a valid Boolean.").
TRANSIENT_500 = re.compile(r"time[ds]?[ -]?out|connection from the pool", re.IGNORECASE)


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
    """A local export file (or its documents file) is not on this worker's disk."""

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
    ConnectWise's error body (``{"code", "message", "errors": [{code, message, resource, field}]}``),
    each passed through ``redact`` (the client's ``Redactor``: no credentials) and cut to
    ``MAX_SERVER_TEXT``.

    ``retry``, unless given: ``NOW`` for 429, 502-504, a 500 whose text says timeout or connection
    pool, and no response; ``NEVER`` for any other 500 (ConnectWise failed on what it was sent, and
    would again); else ``LATER`` (the client has retried what it may; the task's retries are the
    DAG author's).
    """

    retry = Retry.LATER

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None = None,
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
            if status == 500:
                said = " ".join(str(v) for v in (self.code, self.message, *self.field_errors))
                retry = Retry.NOW if TRANSIENT_500.search(said) else Retry.NEVER
        self.retry = retry
        self.attempts = attempts
        self.retry_after = retry_after
        super().__init__()

    @property
    def field_errors(self) -> list[str]:
        return [
            f"{e.get('field') or e.get('resource') or '?'}: {e.get('message') or e.get('code')}"
            for e in self.errors
        ]

    def __str__(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        detail = ": ".join(p for p in (self.code, self.message) if p)
        text = f"ConnectWise {self.method} {self.path} failed ({what})" + (f": {detail}" if detail else "")
        if self.errors:
            text += " [" + "; ".join(self.field_errors) + "]"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        return text


class XeroConfigError(SettingError):
    """A Xero connection setting is missing or malformed; raised before any request is sent."""


class XeroTenantError(SettingError):
    """The connection names no tenant and its token reaches none, or several, Xero organisations.
    The message lists each reachable one (id and name) and says to set the ``tenant_id`` extra."""


class XeroError(CwglError):
    """A Xero call failed: an HTTP error status, a dropped connection or an unreadable body.

    ``status`` is None when no HTTP response arrived. ``message`` is Xero's ``Message`` (or the
    ``Detail`` / ``Title`` of its authorisation errors), ``validation_errors`` the ``Message`` of
    each ``Elements[].ValidationErrors[]``; each is redacted by the client and cut to
    ``MAX_SERVER_TEXT``. Neither the client secret nor a token is ever part of it.

    ``retry`` is ``NOW`` for throttling, a server error or no response (the client retries those
    within the call) and ``NEVER`` for any other 4xx: Xero refuses the same request the same way.
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        message: str | None = None,
        validation_errors: Sequence[str] = (),
        attempts: int = 1,
        retry_after: float | None = None,
        retry: Retry | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message[:MAX_SERVER_TEXT] if message else None
        self.validation_errors = [str(text)[:MAX_SERVER_TEXT] for text in validation_errors]
        self.attempts = attempts
        self.retry_after = retry_after
        if retry is None:
            # Unlike ConnectWise's, Xero's 500s carry no sign of being deterministic: retried.
            retry = (
                Retry.NOW if status is None or status == 500 or status in RETRYABLE_STATUSES else Retry.NEVER
            )
        self.retry = retry
        super().__init__()

    def __str__(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"Xero {self.method} {self.path} failed ({what})"
        if self.message:
            text += f": {self.message}"
        if self.validation_errors:
            text += " [" + "; ".join(self.validation_errors) + "]"
        if self.attempts > 1:
            text += f" after {self.attempts} attempts"
        return text


class XeroAuthError(XeroError):
    """Xero's token endpoint refused the client credentials (an unknown client id, a wrong secret,
    an app that is not a Custom Connection): the same credentials fail the same way."""

    def __str__(self) -> str:
        return (
            f"Xero's token endpoint refused the client credentials (HTTP {self.status}"
            f"{': ' + self.message if self.message else ''}): check the connection's login (the "
            "Custom Connection app's client id) and password (its client secret)"
        )


class XeroLimitError(XeroError):
    """The tenant's calls for the day are spent (``X-DayLimit-Remaining: 0`` or a 429 with
    ``X-Rate-Limit-Problem: day``): nothing more is sent. A later try of the task, once Xero's day
    has rolled over, may succeed; ``retry_after`` is Xero's ``Retry-After`` when it gave one."""

    retry = Retry.LATER

    def __init__(
        self, *, method: str, path: str, status: int | None, retry_after: float | None = None
    ) -> None:
        super().__init__(method=method, path=path, status=status, retry_after=retry_after, retry=Retry.LATER)

    def __str__(self) -> str:
        when = f" (Xero says to retry in {self.retry_after:g} s)" if self.retry_after is not None else ""
        what = "refused (HTTP 429)" if self.status == 429 else "not sent"
        return (
            f"Xero {self.method} {self.path} {what}: the tenant's calls for the day are spent{when}; "
            "a later try of the task, after Xero's daily limit resets, can go on"
        )


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


class XeroRefusedError(CwglError):
    """Documents of a load were refused (by Xero's validation, or by the mapping before sending):
    they stay unposted in ConnectWise and the next export carries them. ``refused`` lists each
    (collection, id, reason, Xero's messages); the message names at most ``MAX_LISTED_REFUSALS``."""

    def __init__(self, refused: Sequence[Mapping[str, Any]]) -> None:
        self.refused = list(refused)
        super().__init__()

    def __str__(self) -> str:
        lines = [
            f"- {r.get('collection')} {r.get('id')}: "
            + "; ".join([*(str(m) for m in r.get("messages") or []), str(r.get("reason"))])
            for r in self.refused[:MAX_LISTED_REFUSALS]
        ]
        more = len(self.refused) - len(lines)
        tail = f"\n… and {more} more (the load task's XCom 'refused' lists all)" if more > 0 else ""
        return (
            f"{len(self.refused)} document(s) not loaded into Xero; they stay unposted and the next "
            "export carries them:\n" + "\n".join(lines) + tail
        )


MAX_LISTED_REFUSALS = 50


class XeroQueryError(CwglError, ValueError):
    """A ``where`` filter the sandbox Xero was sent is not valid Xero syntax."""
