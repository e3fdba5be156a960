"""A deliberately hostile ConnectWise: a raw HTTP/1.1 server on loopback whose every answer a
caller scripts (a ``Handler`` writes raw bytes to the socket). Shared by tests/operators/test_hostile.py and
bench/decompression_bomb.py; plain Python, no pytest."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

COMPANY, PUBLIC = "acme", "hostilePub01"
PRIVATE = "Hx7-privATE-key-Q9w2e8R4t6Y1"
CLIENT_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
BASIC = base64.b64encode(f"{COMPANY}+{PUBLIC}:{PRIVATE}".encode()).decode()
CODEBASE = "v2025_1/"
API = f"/{CODEBASE}apis/3.0/"


# -- the server -------------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        """The API path (``finance/accounting/export``) without the query."""
        path = self.target.split("?", 1)[0]
        return path[len(API) :] if path.startswith(API) else path.lstrip("/")


Handler = Callable[[Request, socket.socket], None]


@dataclass
class HostileServer:
    """One thread per connection, one request per connection; ``handler`` writes raw bytes."""

    handler: Handler
    host: str = "127.0.0.1"
    requests: list[Request] = field(default_factory=list)

    def start(self) -> HostileServer:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, 0))
        self._sock.listen(32)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        # shutdown() wakes the accept() below; close() alone would leave it waiting on a descriptor
        # number the next server may be given, whose connections would then reach this handler.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)

    @property
    def site(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path.startswith(path))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                    if data.startswith(b"\x16"):  # a TLS ClientHello: answer as a plain http server does
                        self.requests.append(Request("TLS", "", {}, data))
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                        return
                head, body = data.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:])}
                while len(body) < int(headers.get("content-length", 0)):
                    body += conn.recv(65536)
                request = Request(method, target, headers, body)
                self.requests.append(request)
                self.handler(request, conn)
            except OSError:
                pass  # the client hung up: expected when it stops reading a bomb or a drip


def respond(
    conn: socket.socket, status: int, body: bytes | str = b"", headers: dict[str, str] | None = None
) -> None:
    data = body.encode() if isinstance(body, str) else body
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(data)}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)


def respond_json(conn: socket.socket, body: Any, status: int = 200, **headers: str) -> None:
    respond(conn, status, json.dumps(body), {"Content-Type": "application/json", **headers})


def bomb(size: int, encoding: str = "gzip", prefix: bytes = b"[") -> Handler:
    """A body that inflates to ``size`` bytes, compressed as it is sent (about 1 MB per GiB)."""

    def handler(request: Request, conn: socket.socket) -> None:
        wbits = {"gzip": 31, "deflate": 15}[encoding]
        packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nConnection: close\r\n\r\n".encode()
            + packer.compress(prefix)
        )
        block = b" " * (1 << 20)
        for _ in range(size >> 20):
            conn.sendall(packer.compress(block))
        conn.sendall(packer.flush())

    return handler
