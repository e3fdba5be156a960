"""A deliberately hostile ConnectWise: a raw HTTP/1.1 server on loopback whose every
answer a test scripts — redirects, header echoes, drip-fed bodies, endless paging, decompression
bombs, NaN, TLS mismatches — driven through the operator. Each case ends in a correct file, or in a
clean failure naming the cause with the previous file untouched, no temporary file left, and no
12-character fragment of the private key, the Basic value or the client id anywhere."""

from __future__ import annotations

import base64
import fcntl
import gzip
import json
import logging
import os
import re
import socket
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, airflow_kept, fails_task, secret_fragments
from hostile_server import (
    API,
    BASIC,
    CLIENT_ID,
    CODEBASE,
    COMPANY,
    PRIVATE,
    PUBLIC,
    Handler,
    HostileServer,
    Request,
    bomb,
    respond,
    respond_json,
)
from lxml import etree

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseSettings
from airflow_provider_cwgl.errors import ConnectWiseConfigError, ConnectWiseError, ExportSettingError
from airflow_provider_cwgl.glexport.documents import DOCUMENTS_SUFFIX
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

EXPORT = "finance/accounting/export"
PREVIOUS = b"<GLExport>yesterday's good file</GLExport>"


@pytest.fixture
def serve() -> Iterator[Callable[..., HostileServer]]:
    servers: list[HostileServer] = []

    def start(handler: Handler, host: str = "127.0.0.1") -> HostileServer:
        servers.append(HostileServer(handler, host).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def sample_export(site: str) -> bytes:
    """The spec's invoice sample: a real GLExport body, its hrefs pointing at ``site``."""
    samples = json.loads((REPO / "airflow_provider_cwgl/sandbox/fixtures/spec_samples.json").read_text())
    return json.dumps(samples["invoices"]).replace("__CWBASE__", site + API.rstrip("/")).encode()


def connection(server: HostileServer, **extra: Any) -> dict[str, Any]:
    return {
        "conn_type": "connectwise",
        "host": server.site,
        "login": PUBLIC,
        "password": PRIVATE,
        "extra": {
            "company_id": COMPANY,
            "client_id": CLIENT_ID,
            "codebase": CODEBASE,
            "timeout": 2,
            "max_attempts": 4,
            "retry_backoff": 0.01,
            "retry_backoff_max": 0.02,
            "retry_after_default": 0.01,
            **extra,
        },
    }


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point ``connectwise_default`` at a server, with extras."""

    def point(server: HostileServer, **extra: Any) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(connection(server, **extra)))

    return point


@pytest.fixture
def answer(serve: Callable[..., HostileServer], use: Callable[..., None]) -> Callable[..., HostileServer]:
    """``answer(handler, **extra)``: a server that runs ``handler``, with ``connectwise_default``
    pointed at it (``extra``: the connection's extras)."""

    def start(handler: Handler, **extra: Any) -> HostileServer:
        server = serve(handler)
        use(server, **extra)
        return server

    return start


def export(out: Path, **settings: Any) -> dict[str, Any]:
    settings = {"thru_date": "2026-03-01", **settings}
    return GLBatchExportOperator(task_id="export", output_file=str(out), **settings).execute({})


# -- what every case checks -------------------------------------------------------------------
def leaks(text: str, size: int = 12) -> list[str]:
    """Every ``size``-character fragment of a secret that occurs in ``text``."""
    return secret_fragments(text, (PRIVATE, BASIC, CLIENT_ID), size)


def everything_about(exc: BaseException) -> str:
    """The exception as a task log shows it: message, repr, and the whole chained traceback."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc)


@pytest.fixture
def fails_cleanly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Callable[..., BaseException]:
    """``fails_cleanly(cause, **settings)``: the export into ``tmp_path/glexport.xml``, over a
    previous file, fails naming ``cause``; the file is untouched, nothing else is in the folder, and
    nothing secret is in the exception or the logs. Returns the exception."""

    def run(cause: str, **settings: Any) -> BaseException:
        out = tmp_path / "glexport.xml"
        caplog.set_level(logging.DEBUG)
        out.write_bytes(PREVIOUS)
        with pytest.raises(Exception) as info:
            export(out, **settings)
        text = everything_about(info.value)
        assert cause in str(info.value), str(info.value)
        assert out.read_bytes() == PREVIOUS
        assert [p.name for p in out.parent.iterdir()] == [out.name]
        assert leaks(text + caplog.text) == []
        return info.value

    return run


@pytest.fixture
def sample_server(answer: Callable[..., HostileServer]) -> HostileServer:
    """A server that answers every request with the spec's invoice sample; ``connectwise_default``
    points at it."""
    server = answer(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    return server


# -- 1. only 2xx is success; 2. nothing secret from an echoing error page ---------------------
ECHOES = {
    # an error page echoing the request headers, as text
    "text": lambda: f"Request headers:\r\nAuthorization: Basic {BASIC}\r\nclientId: {CLIENT_ID}\r\n",
    # cut two characters short, as a 200-character limit on the error text would leave it
    "truncated": lambda: f"bad credentials for Basic {BASIC[:-2]}",
    # the key in the clear and the Basic value in JSON
    "json": lambda: json.dumps(
        {
            "code": "Unauthorized",
            "message": f"key {PRIVATE} rejected",
            "headers": {"authorization": f"Basic {BASIC}"},
            "errors": [{"field": "auth", "message": f"echo {BASIC[3:40]} / {CLIENT_ID.upper()}"}],
        }
    ),
    # fragments re-encoded: base64 of the key inside another value, and URL-encoded
    "encoded": lambda: (
        "<html>"
        + base64.b64encode(b"u=" + PRIVATE.encode() + b"&x").decode()
        + " "
        + PRIVATE.replace("-", "%2D")
        + "</html>"
    ),
}


def echo_handler(status: int, echo: str) -> Handler:
    def handler(request: Request, conn: socket.socket) -> None:
        headers = {"Location": f"https://elsewhere.example/{BASIC[:20]}/x"} if 300 <= status < 400 else {}
        respond(conn, status, ECHOES[echo](), headers)

    return handler


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("status", [401, 403, 503, 302])
def test_echoed_credentials_never_leave(
    answer: Callable[..., HostileServer],
    fails_cleanly: Callable[..., BaseException],
    status: int,
    echo: str,
) -> None:
    server = answer(echo_handler(status, echo))
    exc = fails_cleanly(f"HTTP {status}")
    assert isinstance(exc, ConnectWiseError)
    if echo == "text" and status != 302:  # the page is shown, one line, its credentials redacted
        assert "Request headers: Authorization: [redacted] clientId: [redacted]" in str(exc)
    assert server.count(EXPORT) == (4 if status == 503 else 1)  # only 5xx is retried
    assert server.requests[0].headers["authorization"] == f"Basic {BASIC}"  # the echo was real
    ok, message = ConnectWiseHook().test_connection()
    assert not ok and f"HTTP {status}" in message
    assert leaks(message) == []


# ConnectWise's 500s that are not passing (../shared/reference: what real tenants send).
DETERMINISTIC_500 = [
    "Error converting value \"x\" to type 'System.Int32'. Path 'locationId', line 1, position 17.",
    "String was not recognized as a valid Boolean.",
]


@pytest.mark.parametrize("message", DETERMINISTIC_500)
def test_a_deterministic_500_is_sent_once_and_fails_the_task_without_retries(
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path, message: str
) -> None:
    echo = f" (request: Authorization: Basic {BASIC})"
    server = serve(
        lambda request, conn: respond_json(conn, {"code": "ConnectWiseApi", "message": message + echo}, 500)
    )
    use(server)
    with fails_task(ConnectWiseError, match=re.escape(message)) as failure:
        export(tmp_path / "glexport.xml")
    assert server.count(EXPORT) == 1
    assert failure.value.status == 500 and failure.value.attempts == 1
    assert "Authorization: [redacted]" in str(failure.task_error)
    assert leaks(everything_about(failure.task_error)) == []


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"code": "ConnectWiseApi", "message": "A timeout has occured. Please try again."}),
        "Timeout expired.  The timeout period elapsed prior to obtaining a connection from the pool.",
        json.dumps({"code": "ConnectWiseApi", "message": "the connection from the POOL was lost"}),
        "The operation timed out",
    ],
)
def test_a_timeout_500_is_retried_and_keeps_the_tasks_retries(
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path, body: str
) -> None:
    server = serve(lambda request, conn: respond(conn, 500, body))
    use(server)
    with pytest.raises(ConnectWiseError, match=r"\(HTTP 500\).* after 4 attempts$"):
        export(tmp_path / "glexport.xml")
    assert server.count(EXPORT) == 4


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_redirect_is_an_error_naming_the_location(
    answer: Callable[..., HostileServer],
    fails_cleanly: Callable[..., BaseException],
    status: int,
) -> None:
    # A redirect whose body would make a plausible GLExport: it must never become the file.
    server = answer(
        lambda r, conn: respond_json(
            conn, {"message": "moved"}, status, Location="https://cw.elsewhere.example/moved"
        )
    )
    exc = fails_cleanly(
        f"(HTTP {status}): Redirect: redirected to https://cw.elsewhere.example/moved; redirects are not followed"
    )
    assert "set the connection's host" in str(exc)
    assert server.count(EXPORT) == 1 and len(server.requests) == 1  # never followed


def test_any_2xx_is_success(answer: Callable[..., HostileServer], tmp_path: Path) -> None:
    server = answer(lambda r, conn: respond(conn, 203, sample_export(server.site)))
    summary = export(tmp_path / "glexport.xml")
    assert summary["counts"]["transactions"] == 1


# -- 3. bounded time: the whole request, and listings ----------------------------------------
def drip(prefix: bytes, then: bytes, every: float = 0.05, limit: float = 10.0) -> Handler:
    """Send ``prefix`` at once, then ``then`` one byte at a time: each read succeeds, none ends."""

    def handler(request: Request, conn: socket.socket) -> None:
        conn.sendall(prefix)
        started = time.monotonic()
        for byte in then:
            if time.monotonic() - started > limit:
                return
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return handler


@pytest.mark.parametrize("where", ["headers", "body"])
@pytest.mark.parametrize("call", ["export", "locations listing"])
def test_dripping_server_meets_the_request_deadline(
    answer: Callable[..., HostileServer],
    fails_cleanly: Callable[..., BaseException],
    where: str,
    call: str,
) -> None:
    body = b"[" + b" " * 100_000 + b"]"
    if where == "headers":
        handler = drip(b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000 + b"\r\n\r\n")
    else:
        handler = drip(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode(), body)
    server = answer(handler, request_deadline=1, timeout=0.5)
    settings = {"location_name": "Tampa"} if call != "export" else {}
    fails_cleanly("DeadlineExceeded: the whole request took longer than request_deadline=1s", **settings)
    assert len(server.requests) == 1  # not retried: a retry would drip as slowly


def paging(next_page: Callable[[int], int]) -> Handler:
    def handler(request: Request, conn: socket.socket) -> None:
        page = int(re.search(r"[?&]page=(\d+)", request.target).group(1))  # type: ignore[union-attr]
        link = f'<http://x.example{API}system/locations?page={next_page(page)}&pageSize=1000&fields=id%2Cname>; rel="next"'
        respond_json(conn, [{"id": page, "name": f"Office {page}"}], Link=link)

    return handler


@pytest.mark.parametrize(
    ("next_page", "requests", "cause"),
    [
        (lambda page: page + 1, 5, "TooManyPages: the listing goes on past max_pages=5 pages"),
        (lambda page: 1, 1, "PagingLoop: Link rel=\"next\" points back to page '1', already read"),
        (lambda page: 1 if page == 2 else 2, 2, "PagingLoop"),
    ],
    ids=["endless", "same page", "two-page cycle"],
)
def test_endless_or_looping_listing_stops(
    answer: Callable[..., HostileServer],
    fails_cleanly: Callable[..., BaseException],
    next_page: Callable[[int], int],
    requests: int,
    cause: str,
) -> None:
    server = answer(paging(next_page), max_pages=5)
    fails_cleanly(cause, location_name="Tampa")
    assert server.count("system/locations") == requests
    assert server.count(EXPORT) == 0


# -- 4. decompression bombs, and bodies that cannot be read or written ------------------------
BAD_BODIES: dict[str, tuple[Handler, dict[str, Any], dict[str, Any], str, str, int]] = {
    # handler, connection extras, export settings, the cause, and how often the path was asked for.
    # 1 GiB of JSON whitespace in about 1 MB; a listing is read into memory: an eighth of the default
    # max_response_mb 1024, 128 MiB.
    "gzip bomb on a listing": (
        bomb(1 << 30),
        {},
        {"location_name": "Tampa"},
        "(HTTP 200): ResponseTooLarge: the response body is larger than 128 MiB once decompressed "
        "(max_response_mb=1024 MiB",
        "",
        1,
    ),
    **{
        f"{encoding} bomb on the export": (
            bomb(64 << 20, encoding, prefix=b'{"transactions": ['),
            {"max_response_mb": 4},
            {},
            "ResponseTooLarge: the response body is larger than 4 MiB once decompressed",
            EXPORT,
            1,
        )
        for encoding in ("gzip", "deflate")
    },
    "unsupported encoding": (
        lambda r, conn: respond(conn, 200, b"\x1b\x00garbage", {"Content-Encoding": "br"}),
        {},
        {},
        "unsupported Content-Encoding 'br'",
        EXPORT,
        4,
    ),
    # A complete body that cannot be written: refused at once, not fetched again.
    "NaN in the export": (
        lambda r, conn: respond(conn, 200, b'{"transactions": [{"id": 1, "total": NaN}]}'),
        {},
        {},
        "NaN is not a number",
        EXPORT,
        1,
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_a_body_too_large_or_unreadable_fails_cleanly(
    answer: Callable[..., HostileServer],
    fails_cleanly: Callable[..., BaseException],
    case: str,
) -> None:
    handler, extras, settings, cause, path, requests = BAD_BODIES[case]
    server = answer(handler, **extras)
    fails_cleanly(cause, **settings)
    assert server.count(path) == requests


def compressed(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "raw deflate":
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush()
    return gzip.compress(gzip.compress(data))


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate", "gzip, gzip"])
def test_compressed_export_within_bounds_gives_the_same_file(
    answer: Callable[..., HostileServer], tmp_path: Path, encoding: str
) -> None:
    plain = answer(lambda r, conn: respond(conn, 200, sample_export(plain.site)))
    expected = export(tmp_path / "plain.xml")
    header = "deflate" if encoding == "raw deflate" else encoding
    packed = answer(
        lambda r, conn: respond(
            conn, 200, compressed(encoding, sample_export(plain.site)), {"Content-Encoding": header}
        )
    )
    summary = export(tmp_path / "packed.xml")
    assert summary["sha256"] == expected["sha256"]
    assert (tmp_path / "packed.xml").read_bytes() == (tmp_path / "plain.xml").read_bytes()
    assert "gzip" in packed.requests[0].headers["accept-encoding"]


# -- 6. NaN / Infinity and lone surrogates in reference records --------------------------------
def export_and_companies(companies: bytes) -> Callable[[HostileServer], Handler]:
    def make(server: HostileServer) -> Handler:
        def handler(request: Request, conn: socket.socket) -> None:
            if request.path == EXPORT:
                respond(conn, 200, sample_export(server.site))
            elif request.path.startswith("company/companies"):
                respond(conn, 200, companies, {"Content-Type": "application/json"})
            else:
                respond_json(conn, {"code": "NotFound", "message": request.path}, 404)

        return handler

    return make


def serve_with(
    answer: Callable[..., HostileServer], make: Callable[[HostileServer], Handler]
) -> HostileServer:
    """A server (started by ``answer``) whose handler needs the server's own address (for the
    export's hrefs)."""
    server = answer(lambda r, conn: handler(r, conn))
    handler = make(server)
    return server


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_a_reference_record_is_rejected_like_the_export(
    answer: Callable[..., HostileServer],
    fails_cleanly: Callable[..., BaseException],
    constant: str,
) -> None:
    body = f'[{{"id": 8, "identifier": "Angry Fox, Co.", "balance": {constant}}}]'.encode()
    server = serve_with(answer, export_and_companies(body))
    fails_cleanly(
        f"MalformedBody: response body is not valid JSON ({constant} is not valid JSON) after 4 attempts",
        references_to_fetch=["customer/company"],
    )
    assert server.count("company/companies") == 4


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"id": 8, "name": "a\\udfffb\\ud800c"}]',
        '[{"id": 8, "name": "a\udfffb\ud800c"}]'.encode("utf-8", "surrogatepass"),
    ],
    ids=["escaped", "utf-8 encoded"],
)
def test_lone_surrogates_in_records_load(serve: Callable[..., HostileServer], raw: bytes) -> None:
    server = serve(lambda r, conn: respond(conn, 200, raw, {"Content-Type": "application/json"}))
    settings = ConnectWiseSettings(
        site=server.site,
        company_id=COMPANY,
        public_key=PUBLIC,
        private_key=PRIVATE,
        client_id=CLIENT_ID,
        codebase=CODEBASE,
    )
    with ConnectWiseClient(settings) as client:
        records = list(client.list("company/companies", conditions="id in (8)"))
    assert records == [{"id": 8, "name": "a\udfffb\ud800c"}]


# -- 7. the output target is checked before the first request --------------------------------
def no_filesystem_for(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """As without the scheme's extra: Airflow knows no filesystem for it (the registry lookup is
    what the missing package changes; the packages are installed here for the storage tests)."""
    from airflow.sdk.io import fs

    monkeypatch.setattr(fs, "_register_filesystems", lambda: {"file": fs._file, "local": fs._file})
    return url


OUTPUTS: dict[str, tuple[Callable[[Path, pytest.MonkeyPatch], Any], str]] = {
    "s3 without the extra": (
        lambda tmp, mp: no_filesystem_for("s3://bucket/gl/glexport.xml", mp),
        "No filesystem registered for scheme s3 (install 'airflow-provider-cwgl[s3]')",
    ),
    "gs without the extra": (
        lambda tmp, mp: no_filesystem_for("gs://bucket/glexport.xml", mp),
        "No filesystem registered for scheme gs (install 'airflow-provider-cwgl[gcs]')",
    ),
    "abfs without the extra": (
        lambda tmp, mp: no_filesystem_for("abfs://container/glexport.xml", mp),
        "No filesystem registered for scheme abfs (install 'airflow-provider-cwgl[azure]')",
    ),
    "memory://": (lambda tmp, mp: "memory://gl/glexport.xml", "would vanish when the task ends"),
    "NUL byte": (lambda tmp, mp: f"{tmp}/gl\0export.xml", "contains a NUL byte"),
    "name too long for the temp file": (
        lambda tmp, mp: str(tmp / ("g" * 245 + ".xml")),
        "the file name is too long: 249 bytes, and the temporary file beside it needs 267",
    ),
    "parent is a file": (lambda tmp, mp: str(tmp / "afile" / "glexport.xml"), "cannot write"),
    "unwritable folder": (lambda tmp, mp: "/proc/cwgl/glexport.xml", "cannot write /proc/cwgl/glexport.xml"),
    "None": (lambda tmp, mp: None, "expected a file path or URL, got None"),
    "empty": (lambda tmp, mp: "  ", "expected a file path or URL"),
    "rendered None": (lambda tmp, mp: "None", "what a template renders from an empty value"),
    "relative": (lambda tmp, mp: "gl/glexport.xml", "is a relative path; give an absolute path"),
    "relative file://": (lambda tmp, mp: "file://gl/glexport.xml", "is a relative path"),
}


@pytest.mark.parametrize("case", list(OUTPUTS))
def test_bad_output_fails_before_any_request(
    sample_server: HostileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    (tmp_path / "afile").write_text("a file, not a folder")
    make, cause = OUTPUTS[case]
    output = make(tmp_path, monkeypatch)
    server = sample_server
    with fails_task(ExportSettingError) as info:
        GLBatchExportOperator(task_id="export", output_file=output, thru_date="2026-03-01").execute({})
    assert str(info.value).startswith("output_file: ")
    assert cause in str(info.value)
    assert server.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_longest_name_that_fits_is_written(sample_server: HostileServer, tmp_path: Path) -> None:
    # The longest temporary name is the documents file's:
    # '.' + name + '.gl-docs.jsonl' + '.' + 8 random + '.partial' = 255.
    name = "g" * (255 - 18 - len(DOCUMENTS_SUFFIX) - 4) + ".xml"
    export(tmp_path / name)
    assert etree.parse(str(tmp_path / name)).getroot().tag == "GLExport"
    with fails_task(ExportSettingError, match="the file name is too long"):
        export(tmp_path / ("g" + name))


# -- output files people can use --------------------------------------------------------------
@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_gets_the_mode_a_plain_write_would(
    sample_server: HostileServer,
    tmp_path: Path,
    umask: Callable[[int], None],
    mask: int,
    mode: int,
) -> None:
    umask(mask)
    export(tmp_path / "glexport.xml")
    assert (tmp_path / "glexport.xml").stat().st_mode & 0o777 == mode


def test_replaced_file_keeps_its_mode(
    sample_server: HostileServer,
    tmp_path: Path,
    umask: Callable[[int], None],
) -> None:
    out = tmp_path / "glexport.xml"
    out.write_bytes(PREVIOUS)
    out.chmod(0o640)  # e.g. readable by the accounting import's group only
    export(out)
    assert out.read_bytes() != PREVIOUS
    assert out.stat().st_mode & 0o777 == 0o640


def test_leftovers_of_killed_runs_are_removed_but_not_live_ones(
    sample_server: HostileServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = time.time() - 3600
    killed = tmp_path / ".glexport.xml.k1ll3d00.partial"
    fresh = tmp_path / ".glexport.xml.fr35h000.partial"  # a run that just started writing
    live = tmp_path / ".glexport.xml.l1ve0000.partial"  # an older run still writing (it holds the lock)
    other = tmp_path / ".other.xml.k1ll3d00.partial"  # another target's: not ours to judge
    for path in (killed, fresh, live, other):
        path.write_bytes(b"<GLExport><transactions>")
    for path in (killed, live, other):
        os.utime(path, (old, old))
    with open(live, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        caplog.set_level(logging.INFO)
        export(tmp_path / "glexport.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            "glexport.xml",
            "glexport.xml" + DOCUMENTS_SUFFIX,
            fresh.name,
            live.name,
            other.name,
        ]
    )
    assert "Removed 1 leftover temporary file(s)" in caplog.text


# -- 8. minor ----------------------------------------------------------------------------------
def test_ipv6_host_keeps_its_port(
    serve: Callable[..., HostileServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)), host="::1")
    port = server.port
    for host, site in (
        ("::1", f"https://[::1]:{port}"),  # no scheme: https, as for any host
        ("[::1]", f"https://[::1]:{port}"),
        ("http://::1", f"http://[::1]:{port}"),
        ("http://[::1]", f"http://[::1]:{port}"),
    ):
        conn = connection(server)
        conn.update(host=host, port=port)
        monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(conn))
        assert ConnectWiseHook().settings.site == site
    conn = connection(server)
    conn.update(host=f"http://[::1]:{port}", port=1)  # a port in the host wins over the port field
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(conn))
    export(tmp_path / "glexport.xml")
    assert server.count(EXPORT) == 1


@pytest.mark.parametrize(
    "extra", ["timeout", "request_deadline", "max_response_mb", "max_pages", "retry_backoff"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_bounds_are_rejected(
    sample_server: HostileServer, use: Callable[..., None], tmp_path: Path, extra: str, value: str
) -> None:
    server = sample_server
    use(server, **{extra: value})
    with fails_task(ConnectWiseConfigError) as info:
        export(tmp_path / "glexport.xml")
    assert f"connection 'connectwise_default' extra.{extra}:" in str(info.value)
    assert "finite" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize(
    ("thru_date", "sent"),
    [
        ("0001-01-01", "0001-01-01T00:00:00Z"),
        ("9999-12-31", "9999-12-31T00:00:00Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
        ("0001-01-01T00:00:00+01:00", None),
        ("9999-12-31T23:00:00-05:00", None),
    ],
)
def test_thru_date_at_the_ends_of_the_calendar(
    sample_server: HostileServer,
    tmp_path: Path,
    thru_date: str,
    sent: str | None,
) -> None:
    server = sample_server
    if sent is None:
        with fails_task(ExportSettingError, match="thru_date: .* is outside the years 1 to 9999"):
            export(tmp_path / "glexport.xml", thru_date=thru_date)
        assert server.requests == []
    else:
        export(tmp_path / "glexport.xml", thru_date=thru_date)
        assert json.loads(server.requests[0].body)["thruDate"] == sent


@pytest.mark.parametrize("text", ["[" * 100_000, "(" * 100_000, "[" * 50_000 + "]" * 50_000])
def test_deeply_nested_references_are_a_clean_error(
    sample_server: HostileServer, tmp_path: Path, text: str
) -> None:
    server = sample_server
    with fails_task(ExportSettingError) as info:
        export(tmp_path / "glexport.xml", references_to_fetch=text)
    assert str(info.value).startswith("references_to_fetch: ")
    assert len(str(info.value)) < 400
    assert server.requests == []


def test_totals_are_exact_beyond_28_digits(answer: Callable[..., HostileServer], tmp_path: Path) -> None:
    body = (
        b'{"transactions": [{"id": 1, "total": 123456789012345678901234567890.01, "detail": []},'
        b' {"id": 2, "total": 0.001, "detail": []}]}'
    )
    answer(lambda r, conn: respond(conn, 200, body))
    summary = export(tmp_path / "glexport.xml")
    assert summary["totals"]["transactions"] == "123456789012345678901234567890.011"


def test_tls_failure_is_worded_as_tls(
    serve: Callable[..., HostileServer],
    monkeypatch: pytest.MonkeyPatch,
    fails_cleanly: Callable[..., BaseException],
) -> None:
    server = serve(lambda r, conn: respond(conn, 400, "plain http here"))
    conn = connection(server)
    conn["host"] = f"https://127.0.0.1:{server.port}"  # https to a server that speaks plain http
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(conn))
    exc = fails_cleanly("TLSError")
    assert f"TLS handshake with https://127.0.0.1:{server.port} failed" in str(exc)
    assert "speaks https with a certificate this machine trusts" in str(exc)
    assert "after 4 attempts" in str(exc)
    assert server.count("") == 4


# -- under Airflow: task logs, exceptions and XCom of real task runs ---------------------------
DAG_FILE = """
from airflow.sdk import DAG, timezone
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

with DAG({dag_id!r}, schedule=None, start_date=timezone.datetime(2026, 1, 1), catchup=False):
    GLBatchExportOperator(
        task_id="export",
        output_file={out!r},
        thru_date="2026-03-01",
        references_to_fetch=["customer/company"],
    )
"""


@pytest.fixture
def run_under_airflow(
    airflow_db: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> Callable[[str], tuple[Any, str]]:
    """``run_under_airflow(dag_id)``: a one-task DAG file exporting into ``tmp_path/glexport.xml``,
    run with ``dag.test`` (a real task run on the SQLite metadata DB; its folder is added as a DAG
    bundle, which ``dag.test`` syncs). Returns the run and all it left where one would look: the
    output and logs of the process, and what Airflow kept."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone

    def run(dag_id: str) -> tuple[Any, str]:
        folder = tmp_path.parent / f"{tmp_path.name}-dags"
        folder.mkdir()
        (folder / f"{dag_id}.py").write_text(
            DAG_FILE.format(dag_id=dag_id, out=str(tmp_path / "glexport.xml"))
        )
        local = "airflow.dag_processing.bundles.local.LocalDagBundle"
        bundles = [
            {"name": "dags-folder", "classpath": local, "kwargs": {}},
            {"name": f"hostile-{dag_id}", "classpath": local, "kwargs": {"path": str(folder)}},
        ]
        monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        dag_run = DagBag(dag_folder=str(folder)).dags[dag_id].test(logical_date=timezone.datetime(2026, 3, 1))
        captured = capfd.readouterr()
        return dag_run, captured.out + captured.err + caplog.text + airflow_kept(dag_run)

    return run


@pytest.mark.parametrize("status", [401, 500])
def test_echo_under_airflow_fails_the_task_without_a_fragment(
    answer: Callable[..., HostileServer],
    run_under_airflow: Callable[[str], tuple[Any, str]],
    tmp_path: Path,
    status: int,
) -> None:
    answer(echo_handler(status, "text"))
    out = tmp_path / "glexport.xml"
    out.write_bytes(PREVIOUS)
    run, everything = run_under_airflow(f"hostile_echo_{status}")
    assert run.state == "failed"
    assert f"HTTP {status}" in everything  # the failure was logged where we look
    assert leaks(everything) == []
    assert out.read_bytes() == PREVIOUS and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_echo_on_a_reference_fetch_recovered_under_airflow(
    answer: Callable[..., HostileServer],
    run_under_airflow: Callable[[str], tuple[Any, str]],
    tmp_path: Path,
) -> None:
    """A 500 echoing the headers on the first reference fetch, then the record: a green task whose
    logs (with the retry warning), XCom and file carry no fragment."""
    company = json.dumps([{"id": 8, "identifier": "Angry Fox, Co.", "name": "Angry Fox"}]).encode()
    seen: list[int] = []

    def make(server: HostileServer) -> Handler:
        good = export_and_companies(company)(server)

        def handler(request: Request, conn: socket.socket) -> None:
            if request.path.startswith("company/companies") and not seen:
                seen.append(1)
                respond(conn, 500, "A timeout has occured. Please try again. " + ECHOES["text"]())
            else:
                good(request, conn)

        return handler

    server = serve_with(answer, make)
    out = tmp_path / "glexport.xml"
    run, everything = run_under_airflow("hostile_echo_recovered")
    assert run.state == "success"
    everything += out.read_text()
    assert "retrying" in everything and "sha256" in everything
    assert leaks(everything) == []
    assert server.count("company/companies") == 2
    assert etree.parse(str(out)).getroot().find("customers/customer/company/record") is not None
