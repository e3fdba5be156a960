"""A scripted Xero on loopback (tests/hostile_server.py underneath: raw HTTP, one request per
connection) and a fake clock whose sleep moves it; the fixtures ``xero`` and ``fake_time``
(registered in tests/conftest.py)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hostile_server import HostileServer, Request, respond, respond_json

from airflow_provider_cwgl.xero import XeroClient, XeroSettings

CLIENT_ID = "8F1C2B7A9D3E4F5A6B7C8D9E0F1A2B3C"
CLIENT_SECRET = "xS3cr3t-Kq9-Zm2pW7vLr4Tn8YbHc1Jd"
TENANT = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
OTHER_TENANT = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
API = "/api.xro/2.0/"

# An answer to an accounting call: (status, JSON body, headers).
Answer = tuple[int, Any, dict[str, str]]


@dataclass
class FakeXero:
    """Token endpoint, ``/connections`` and the accounting API, as Xero answers them.

    Accounting calls are answered from ``script`` (first in, first out) and then ``default``;
    a scripted answer may be a callable, or the string ``"drop"`` (the connection closes unanswered).
    Tokens are ``tok-1``-style values padded to look like Xero's; ``revoked`` ones get a 401.
    """

    tenants: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"tenantId": TENANT, "tenantName": "Demo Company (NZ)", "tenantType": "ORGANISATION"}
        ]
    )
    expires_in: int = 1800
    token_status: int = 200
    delay: float = 0.0
    script: deque[Answer | str] = field(default_factory=deque)
    default: Answer = (200, {"Invoices": []}, {})
    tokens: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    in_flight: int = 0
    most_in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.server = HostileServer(self.handle).start()

    @property
    def url(self) -> str:
        return self.server.site

    def api_requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.target.startswith(API)]

    def token_requests(self) -> list[Request]:
        return [r for r in self.server.requests if r.target == "/connect/token"]

    def handle(self, request: Request, conn: socket.socket) -> None:
        path = request.target.split("?", 1)[0]
        if path == "/connect/token":
            self._token(request, conn)
        elif path != "/connections" and not path.startswith(API):
            respond(conn, 404)
        elif not self._authorised(request):
            respond_json(
                conn, {"Title": "Unauthorized", "Status": 401, "Detail": "AuthenticationUnsuccessful"}, 401
            )
        elif path == "/connections":
            respond_json(conn, self.tenants)
        else:
            self._api(request, conn)

    def _token(self, request: Request, conn: socket.socket) -> None:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.token_status != 200:
            respond_json(conn, {"error": "server_error"}, self.token_status)
        elif (
            request.headers.get("authorization") != expected
            or request.body != b"grant_type=client_credentials"
        ):
            respond_json(conn, {"error": "invalid_client"}, 400)
        else:
            with self._lock:
                token = f"eyJhbGciOi.tok{len(self.tokens) + 1}.{'Q' * 40}"
                self.tokens.append(token)
            respond_json(conn, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _authorised(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        return auth.startswith("Bearer ") and token in self.tokens and token not in self.revoked

    def _api(self, request: Request, conn: socket.socket) -> None:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            answer = self.script.popleft() if self.script else self.default
        try:
            if self.delay:
                time.sleep(self.delay)
            if answer == "drop":
                return
            status, body, headers = answer(request) if callable(answer) else answer  # type: ignore[misc]
        finally:
            # Done before the answer goes out: the client may send its next call the moment it has it.
            with self._lock:
                self.in_flight -= 1
        respond_json(conn, body, status, **headers)


class FakeTime:
    """A monotonic clock that only ``sleep`` moves; every sleep is recorded."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def xero() -> Iterator[FakeXero]:
    fake = FakeXero()
    yield fake
    fake.server.stop()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def settings_for(fake: FakeXero, **overrides: Any) -> XeroSettings:
    values: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "host": fake.url,
        "token_url": f"{fake.url}/connect/token",
        "timeout": 5.0,
        "max_attempts": 4,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
    }
    values.update(overrides)
    return XeroSettings(**values)


def client_for(fake: FakeXero, time_: FakeTime, **overrides: Any) -> XeroClient:
    return XeroClient(settings_for(fake, **overrides), sleep=time_.sleep, clock=time_.clock)


def json_body(request: Request) -> Any:
    return json.loads(request.body)
