"""Xero's rate limits, per tenant: calls a minute (a sliding window), calls at once, calls a day; and
the app's calls a minute across tenants. Lengths are settable so tests need not wait a real minute.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class XeroLimits:
    """The limits a sandbox enforces; Xero's own by default. ``minute`` and ``day`` are the windows'
    lengths in seconds (e.g. ``minute=1.0`` makes 60 calls a second the limit)."""

    per_minute: int = 60
    concurrent: int = 5
    per_day: int = 5000
    app_per_minute: int = 10_000
    minute: float = 60.0
    day: float = 86_400.0


@dataclass
class Refusal:
    """A call over a limit: ``problem`` as ``X-Rate-Limit-Problem`` says it, seconds to wait."""

    problem: str
    retry_after: int


@dataclass
class LimitTracker:
    """The calls each tenant made, counted against ``limits``. Safe to call from any thread."""

    limits: XeroLimits
    _minute: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _day: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _app: deque[float] = field(default_factory=deque)
    _in_flight: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, tenant: str) -> Refusal | None:
        """Count a call that starts now, or say which limit refuses it (a refused call is not counted)."""
        limits, now = self.limits, time.monotonic()
        with self._lock:
            minute, day = (
                self._trim(self._minute[tenant], limits.minute, now),
                self._trim(self._day[tenant], limits.day, now),
            )
            app = self._trim(self._app, limits.minute, now)
            if self._in_flight[tenant] >= limits.concurrent:
                return Refusal("concurrent", 1)
            if len(day) >= limits.per_day:
                return Refusal("day", _wait(day[0] + limits.day - now))
            if len(minute) >= limits.per_minute:
                return Refusal("minute", _wait(minute[0] + limits.minute - now))
            if len(app) >= limits.app_per_minute:
                return Refusal("appminute", _wait(app[0] + limits.minute - now))
            for window in (minute, day, app):
                window.append(now)
            self._in_flight[tenant] += 1
            return None

    def leave(self, tenant: str) -> None:
        with self._lock:
            self._in_flight[tenant] -= 1

    def remaining(self, tenant: str) -> dict[str, str]:
        """The ``X-*Limit-Remaining`` headers Xero puts on every answer."""
        limits, now = self.limits, time.monotonic()
        with self._lock:
            minute = len(self._trim(self._minute[tenant], limits.minute, now))
            day = len(self._trim(self._day[tenant], limits.day, now))
            app = len(self._trim(self._app, limits.minute, now))
        return {
            "X-MinLimit-Remaining": str(max(0, limits.per_minute - minute)),
            "X-DayLimit-Remaining": str(max(0, limits.per_day - day)),
            "X-AppMinLimit-Remaining": str(max(0, limits.app_per_minute - app)),
        }

    @staticmethod
    def _trim(window: deque[float], length: float, now: float) -> deque[float]:
        while window and window[0] <= now - length:
            window.popleft()
        return window


def _wait(seconds: float) -> int:
    """Xero's ``Retry-After``: whole seconds, at least one."""
    return max(1, math.ceil(seconds))
