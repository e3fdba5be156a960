"""Fault injection and the request log of the sandbox.

Faults are rules matched per request on method and API path (``fnmatch`` patterns such as
``finance/accounting/export`` or ``company/*``). Each applies to the next ``times`` matching calls
(after letting ``skip`` of them through: ``skip=2, times=1`` fails the third), to a random ``rate``
of them, or to all of them; several may apply to one call.

``change_total`` (a decimal amount as text) alters a GLExport answer: the first document that
has a ``total`` gets that amount added, e.g. on ``finance/accounting/batches/*/export`` to make a
batch's re-export differ from the file that was approved.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Fault:
    """What the server does to one request: the merged effect of every rule that fired."""

    latency: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    drop: bool = False
    malformed: bool = False
    slow_body: float = 0.0
    move_codebase: str | None = None  # the tenant moves to this codebase; the old URL then gives 404
    change_total: str | None = None

    @property
    def distorts(self) -> bool:
        """Whether the app's answer is changed on its way out (rather than replaced or left alone)."""
        return bool(self.drop or self.malformed or self.slow_body or self.change_total)


@dataclass
class FaultRule(Fault):
    """A fault, and which requests it fires on: ``path`` and ``method`` patterns, the next ``times``
    of them or a random ``rate``."""

    path: str = "*"
    method: str = "*"
    times: int | None = None
    rate: float | None = None
    skip: int = 0
    hits: int = 0
    skipped: int = 0

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method.upper()) and fnmatch.fnmatchcase(path, self.path)


class Faults:
    """The fault rules in force. Safe to change while the server runs."""

    def __init__(self, seed: int = 0, latency: float = 0.0) -> None:
        self.latency = latency  # added to every request
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def add(self, **rule: object) -> FaultRule:
        """Add a rule; e.g. ``add(path="finance/accounting/export", status=503, times=2)``."""
        new = FaultRule(**rule)  # type: ignore[arg-type]
        with self._lock:
            self._rules.append(new)
        return new

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.latency = 0.0

    def for_request(self, method: str, path: str) -> Fault:
        with self._lock:
            fired = [rule for rule in self._rules if self._fires(rule, method, path)]
        status = next((rule for rule in fired if rule.status is not None), Fault())
        return Fault(
            latency=sum((rule.latency for rule in fired), self.latency),
            status=status.status,
            retry_after=status.retry_after,
            drop=any(rule.drop for rule in fired),
            malformed=any(rule.malformed for rule in fired),
            slow_body=max([0.0] + [rule.slow_body for rule in fired]),
            move_codebase=next((rule.move_codebase for rule in fired if rule.move_codebase), None),
            change_total=next((rule.change_total for rule in fired if rule.change_total), None),
        )

    def _fires(self, rule: FaultRule, method: str, path: str) -> bool:
        """Whether ``rule`` applies to this request, counting it as a hit if so."""
        if not rule.matches(method, path) or (rule.times is not None and rule.hits >= rule.times):
            return False
        if rule.skipped < rule.skip:
            rule.skipped += 1
            return False
        if rule.rate is not None and self._rng.random() >= rule.rate:
            return False
        rule.hits += 1
        return True


_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")


@dataclass
class RequestRecord:
    method: str
    path: str
    query: str
    status: int = 0
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # as sent, less any secret
    # The answer as sent (the Xero sandbox records it, for its conformance tests).
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def json(self) -> object:
        """The request body as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None

    @property
    def endpoint(self) -> str:
        """``GET company/companies/{id}``: the path with numeric ids folded, for counting."""
        return f"{self.method} {_ID_SEGMENT.sub('/{id}', '/' + self.path)[1:]}"


class RequestLog:
    """Every request the sandbox saw, with the peak number in flight at once."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()

    def begin(
        self, method: str, path: str, query: str, headers: dict[str, str] | None = None
    ) -> RequestRecord:
        record = RequestRecord(method, path, query, headers=headers or {})
        with self._lock:
            self.records.append(record)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return record

    def end(self, record: RequestRecord, status: int) -> None:
        with self._lock:
            record.status = status
            record.finished = time.monotonic()
            self.in_flight -= 1

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self.peak_in_flight = self.in_flight

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(r.endpoint for r in self.records)

    def matching(self, method: str, pattern: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.records if r.method == method and fnmatch.fnmatchcase(r.path, pattern)]

    def count(self, method: str, pattern: str) -> int:
        """How many requests matched ``method`` and the path pattern (fnmatch)."""
        return len(self.matching(method, pattern))

    def __len__(self) -> int:
        return len(self.records)
