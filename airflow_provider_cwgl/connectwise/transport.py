"""The whole-request deadline, enforced at the socket: an httpx transport over httpcore's pool.

httpx's timeouts apply to each connect, read and write, so a server sending a byte a second never
times out. Here each socket operation gets at most what is left of the deadline ``deadline()`` sets
around one exchange, through public API only: httpcore's ``ConnectionPool(network_backend=...)``.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx


class DeadlineExceeded(Exception):
    """The whole request took longer than its deadline (internal: the client reports it)."""


# The moment (time.monotonic) the current request must be done by; None outside a request.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("cwgl_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket operation inside the block shares one budget of ``seconds``."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def past_deadline() -> bool:
    moment = _DEADLINE.get()
    return moment is not None and time.monotonic() >= moment


def _budget(timeout: float | None) -> float | None:
    """The per-operation timeout, shortened to what is left of the request's deadline."""
    moment = _DEADLINE.get()
    if moment is None:
        return timeout
    left = moment - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded()
    return left if timeout is None else min(timeout, left)


@contextlib.contextmanager
def _deadline_timeouts() -> Iterator[None]:
    """A socket timeout given the deadline's last seconds is the deadline's, not httpx's."""
    try:
        yield
    except httpcore.TimeoutException:
        if past_deadline():
            raise DeadlineExceeded() from None
        raise


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write also respects the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _deadline_timeouts():
            return self._inner.read(max_bytes, _budget(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _deadline_timeouts():
            self._inner.write(buffer, _budget(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _budget(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's ``SyncBackend`` whose TCP streams keep the deadline (the pool is given no ``uds``)."""

    _inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _budget(timeout), local_address, socket_options)
        return _DeadlineStream(stream)


# httpcore's errors -> httpx's of the same name, most specific first (as httpx's own transport maps them).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = tuple(
    (getattr(httpcore, name), getattr(httpx, name))
    for name in (
        *("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException"),
        *("ConnectError", "ReadError", "WriteError", "NetworkError", "ProxyError", "UnsupportedProtocol"),
        *("LocalProtocolError", "RemoteProtocolError", "ProtocolError"),
    )
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        mapped = next((to for source, to in _ERRORS if isinstance(exc, source)), None)
        if mapped is None:
            raise
        raise mapped(str(exc)) from exc


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    """HTTP/1.1 over a pool of deadline-keeping sockets, TLS verified as httpx does by default."""

    def __init__(self, max_connections: int = 16) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,  # httpx's default
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        # Server text that httpx would log at INFO, and that may echo us: httpx logs the standard phrase.
        extensions = {k: v for k, v in response.extensions.items() if k != "reason_phrase"}
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=extensions,
        )

    def close(self) -> None:
        self._pool.close()
