"""Redaction of what httpx and httpcore log: status lines (INFO) and headers (DEBUG) carry whatever
a server chose to send, a reason phrase or a Location echoing our credentials."""

from __future__ import annotations

import logging
import weakref

from airflow_provider_cwgl.connectwise.redact import Redactor

LIBRARY_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


class RedactLibraryLogs(logging.Filter):
    """Applies every registered (live) redactor to a record before any handler sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.redactors: weakref.WeakSet[Redactor] = weakref.WeakSet()

    def filter(self, record: logging.LogRecord) -> bool:
        redactors = list(self.redactors)
        if redactors:
            text = record.getMessage()
            for redact in redactors:
                text = redact(text)
            record.msg, record.args = text, ()
        return True


LIBRARY_LOG_FILTER = RedactLibraryLogs()


def redact_library_logs(redact: Redactor) -> None:
    """Install the filter on the HTTP libraries' loggers (once; adding it again is a no-op) and
    apply ``redact`` for as long as it lives."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(LIBRARY_LOG_FILTER)
    LIBRARY_LOG_FILTER.redactors.add(redact)
