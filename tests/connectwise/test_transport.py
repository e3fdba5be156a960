"""The client's socket layer (connectwise/transport.py) and its log filter (connectwise/logfilter.py):
a whole-request deadline kept at the socket through public httpx/httpcore API, httpcore's errors
seen as httpx's, and the library log filter installed by the client, not by an import."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from conftest import settings_for

from airflow_provider_cwgl.connectwise import ConnectWiseClient
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


def test_the_library_log_filter_is_installed_by_a_client_not_by_an_import() -> None:
    script = """
import json, logging
from airflow_provider_cwgl.connectwise.client import ConnectWiseClient
from airflow_provider_cwgl.connectwise import ConnectWiseSettings
from airflow_provider_cwgl.connectwise.logfilter import LIBRARY_LOGGERS
def filters():
    return [len(logging.getLogger(name).filters) for name in LIBRARY_LOGGERS]
before = filters()
settings = ConnectWiseSettings(site="http://127.0.0.1:1", company_id="c", public_key="p",
                               private_key="k", client_id="i")
ConnectWiseClient(settings).close()
ConnectWiseClient(settings).close()
print(json.dumps([before, filters()]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = json.loads(done.stdout)
    assert set(before) == {0} and set(after) == {1}
