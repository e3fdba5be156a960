"""Fail a task at once, without retries, when retrying cannot help."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_cwgl.errors import CwglError, Retry

P = ParamSpec("P")
R = TypeVar("R")


def fail_without_retry(execute: Callable[P, R]) -> Callable[P, R]:
    """Decorate ``execute``: a ``CwglError`` whose ``retry`` is ``NEVER`` (a bad setting, an
    unknown location, a batch identifier taken by other records, a ConnectWise 500 that is not a
    timeout: the next try would fail the same way) becomes an ``AirflowFailException`` with its
    message, so Airflow fails the task without retries; the package's error is its ``__cause__``.
    Every other error (most ``ConnectWiseError`` among them) keeps the task's retries."""

    @functools.wraps(execute)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return execute(*args, **kwargs)
        except CwglError as exc:
            if exc.retry is not Retry.NEVER:
                raise
            raise AirflowFailException(str(exc)) from exc

    return wrapper
