"""Xero's limits per tenant, kept on our side: calls in any minute, calls at once, calls in a day.

Xero answers 429 past a limit; pacing keeps a client under them so that 429s stay rare. Sliding
windows of send times (not fixed buckets) are what Xero counts, and the ``X-MinLimit-Remaining`` /
``X-DayLimit-Remaining`` headers of each answer correct our count when other apps share the tenant.
``clock`` and ``sleep`` are injected so tests run a minute of pacing in no time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping

from airflow_provider_cwgl.errors import XeroLimitError

log = logging.getLogger(__name__)

MINUTE = 60.0
DAY = 86400.0


class Pacer:
    """Admits one call at a time per free slot: never more than ``concurrent`` in flight, nor more
    than ``per_minute`` sent in any 60 s, nor ``per_day`` in any 24 h (then ``XeroLimitError``)."""

    def __init__(
        self,
        per_minute: int,
        concurrent: int,
        per_day: int,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self._clock = clock
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(concurrent)
        self._lock = threading.Lock()
        self._minute: deque[float] = deque()
        self._day: deque[float] = deque()
        self._resume_at = -math.inf
        self._day_spent = False

    @contextlib.contextmanager
    def slot(self, method: str, path: str) -> Iterator[None]:
        """Hold one of the concurrent slots while the call is in flight. The send time is taken
        once the slot is held, so a call waiting for a slot is not counted before it is sent."""
        with self._slots:
            self._admit(method, path)
            yield

    def _admit(self, method: str, path: str) -> None:
        while True:
            with self._lock:
                if self._day_spent:
                    raise XeroLimitError(method=method, path=path, status=None)
                now = self._clock()
                _drop_older(self._minute, now - MINUTE)
                _drop_older(self._day, now - DAY)
                if len(self._day) >= self.per_day:
                    raise XeroLimitError(method=method, path=path, status=None)
                wait = self._resume_at - now
                if len(self._minute) >= self.per_minute:
                    wait = max(wait, self._minute[0] + MINUTE - now)
                if wait <= 0:
                    self._minute.append(now)
                    self._day.append(now)
                    return
            log.info(
                "Xero pacing: waiting %.1f s before %s %s (the tenant's minute is spent)", wait, method, path
            )
            self._sleep(wait)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read Xero's remaining counts from an answer: no call left in the minute holds every call
        until our window frees one; none left in the day stops every call before it is sent."""
        minute_left = _count(headers.get("X-MinLimit-Remaining"))
        day_left = _count(headers.get("X-DayLimit-Remaining"))
        with self._lock:
            if day_left is not None and day_left <= 0:
                self._day_spent = True
            if minute_left is not None and minute_left <= 0:
                oldest = self._minute[0] if self._minute else self._clock()
                self._resume_at = max(self._resume_at, oldest + MINUTE)

    def pause(self, seconds: float) -> None:
        """Hold every call for ``seconds`` (a 429 for the minute or for concurrency)."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)

    def day_spent(self) -> None:
        """Stop every further call: Xero said the day's calls are spent."""
        with self._lock:
            self._day_spent = True


def _drop_older(window: deque[float], limit: float) -> None:
    while window and window[0] <= limit:
        window.popleft()


def _count(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
