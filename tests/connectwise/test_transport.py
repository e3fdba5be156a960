"""The client's socket layer (connectwise/transport.py): a whole-request deadline kept at the socket
through public httpx/httpcore API, httpcore's errors seen as httpx's; and what the HTTP libraries log
of the client's requests, redacted without a filter on their loggers."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from conftest import settings_for
from hostile_server import HostileServer, Request

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseSettings, RetryPolicy
from airflow_provider_cwgl.connectwise.transport import DeadlineExceeded, DeadlineTransport, deadline
from airflow_provider_cwgl.errors import ConnectWiseError
from airflow_provider_cwgl.sandbox import Sandbox


@pytest.fixture
def dripping() -> Iterator[Callable[[bytes], str]]:
    """A loopback server that answers every connection with ``prefix`` then a byte every 50 ms."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket, prefix: bytes) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(prefix)
            for _ in range(200):  # 10 s at most
                if stop.is_set():
                    return
                try:
                    conn.sendall(b"a")
                except OSError:
                    return
                time.sleep(0.05)

    def start(prefix: bytes) -> str:
        def serve() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=answer, args=(conn, prefix), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    listener.close()


@pytest.mark.parametrize(
    "prefix",
    [b"HTTP/1.1 200 OK\r\nX-Slow: ", b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n["],
    ids=["headers", "body"],
)
def test_the_transport_ends_a_dripping_response_at_the_deadline(
    dripping: Callable[[bytes], str], prefix: bytes
) -> None:
    """Each read succeeds within its own timeout; only the shared deadline can end the request."""
    url = dripping(prefix)
    with httpx.Client(transport=DeadlineTransport(), timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded), deadline(0.6):
            client.get(url).read()
        elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 2.0


def test_the_clients_whole_request_deadline_holds_on_dripping_headers(
    cw_sandbox: Sandbox, dripping: Callable[[bytes], str]
) -> None:
    site = dripping(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    settings = settings_for(cw_sandbox, site=site, codebase="v2025_1", timeout=0.5, request_deadline=1)
    started = time.monotonic()
    with ConnectWiseClient(settings) as client, pytest.raises(ConnectWiseError) as info:
        client.get("system/info")
    assert info.value.code == "DeadlineExceeded" and info.value.attempts == 1
    assert time.monotonic() - started < 3.0


def test_httpcore_errors_reach_the_caller_as_httpx_errors() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with httpx.Client(transport=DeadlineTransport()) as client, pytest.raises(httpx.ConnectError):
        client.get(f"http://127.0.0.1:{port}/")


def test_the_transport_speaks_to_a_real_server(cw_sandbox: Sandbox) -> None:
    with httpx.Client(transport=DeadlineTransport()) as client:
        response = client.get(f"{cw_sandbox.url}/login/companyinfo/{cw_sandbox.credentials['company_id']}")
    assert response.status_code == 200 and response.json()["Codebase"]


def test_the_libraries_loggers_get_no_filter_and_their_lines_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server echoing the key in its reason phrase and a header: httpx's INFO line and httpcore's
    DEBUG trace of the client's request carry none of it, and no logger of httpx's or httpcore's
    has a filter (nor the root logger) once a client has been made and used."""
    key = "Hx7-privATE-key-Q9w2e8R4t6Y1"

    def handler(request: Request, conn: socket.socket) -> None:
        head = f"HTTP/1.1 401 Bad key {key}\r\nWWW-Authenticate: Basic {key}\r\nContent-Length: 0\r\n\r\n"
        conn.sendall(head.encode())

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # Airflow, once imported, sets it to WARNING
    server = HostileServer(handler).start()
    settings = ConnectWiseSettings(
        site=server.site,
        company_id="acme",
        public_key="pub01",
        private_key=key,
        client_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        codebase="v1",
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        with ConnectWiseClient(settings) as client, pytest.raises(ConnectWiseError, match=r"\(HTTP 401\)"):
            client.get("system/info")
    finally:
        server.stop()
    lines = {
        r.name: r.getMessage() for r in caplog.records if r.name.startswith(("httpx", "httpcore.http11"))
    }
    assert '"HTTP/1.1 401 Unauthorized"' in lines["httpx"]  # the standard phrase, not the server's
    assert "[redacted]" in caplog.text and key[:8].casefold() not in caplog.text.casefold()
    libraries = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("httpx", "httpcore")]
    assert "httpx" in libraries and "httpcore.http11" in libraries
    assert [n for n in libraries if logging.getLogger(n).filters] == [] and logging.root.filters == []
