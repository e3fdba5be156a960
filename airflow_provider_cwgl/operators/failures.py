"""Fail a task at once, without retries, when retrying cannot help."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cwgl.errors import CwglError

F = TypeVar("F", bound=Callable[..., Any])


def fail_without_retry(execute: F) -> F:
    """Decorate ``execute``: a permanent ``CwglError`` (a bad setting, an unknown location, a batch
    identifier taken by other records, a connection missing a field: the next try would fail the
    same way) is re-raised as an ``AirflowFailException`` that is also an instance of the original
    class (same message and attributes), so Airflow fails the task without retries while callers
    can still catch ``ExportSettingError`` and the like. ``ConnectWiseError`` is not permanent and
    keeps the task's retries."""

    @functools.wraps(execute)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return execute(*args, **kwargs)
        except CwglError as exc:
            if not exc.permanent:
                raise
            raise as_failure(exc) from exc

    return wrapper  # type: ignore[return-value]


@functools.cache
def _failure_class(cls: type[Exception]) -> type[Exception]:
    return type(cls.__name__, (AirflowFailException, cls), {"__module__": cls.__module__})


def as_failure(exc: Exception) -> Exception:
    """``exc`` as an ``AirflowFailException`` of its own class."""
    failure_class = _failure_class(type(exc))
    failure = failure_class.__new__(failure_class)
    Exception.__init__(failure, *exc.args)
    failure.__dict__.update(exc.__dict__)
    return failure
