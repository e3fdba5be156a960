"""How both sandboxes serve: uvicorn in a background thread on a loopback port, until stopped."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import Any

import uvicorn
from typing_extensions import Self

from airflow_provider_cwgl.errors import SandboxError


class LoopbackServer:
    """Serves ``asgi_app()`` on ``host:port`` (port 0: a free one, known once started). Start with
    ``start()`` or as a context manager."""

    name = "sandbox"  # the thread's
    title = "sandbox"  # in errors
    host: str
    port: int
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    def asgi_app(self) -> Any:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.asgi_app(), log_level="critical", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise SandboxError(f"the {self.title} did not start within 10 seconds")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_until_stopped(server: LoopbackServer, what: str) -> None:
    """Say on stderr what is served where, block until Ctrl-C or SIGTERM, then stop ``server`` (the
    command lines' main loop)."""
    print(f"{what}. Ctrl-C stops it.", file=sys.stderr, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
