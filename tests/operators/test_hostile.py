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


def fails_cleanly(
    out: Path, run: Callable[[], Any], cause: str, caplog: pytest.LogCaptureFixture
) -> BaseException:
    """Run the export over a previous file: it fails naming ``cause``, the file is untouched,
    nothing else is in the folder, and nothing secret is in the exception or the logs."""
    caplog.set_level(logging.DEBUG)
    out.write_bytes(PREVIOUS)
    with pytest.raises(Exception) as info:
        run()
    text = everything_about(info.value)
    assert cause in str(info.value), str(info.value)
    assert out.read_bytes() == PREVIOUS
    assert [p.name for p in out.parent.iterdir()] == [out.name]
    assert leaks(text + caplog.text) == []
    return info.value


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
@pytest.mark.parametrize("status", [401, 403, 500, 302])
def test_echoed_credentials_never_leave(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    status: int,
    echo: str,
) -> None:
    server = serve(echo_handler(status, echo))
    use(server)
    exc = fails_cleanly(
        tmp_path / "glexport.xml", lambda: export(tmp_path / "glexport.xml"), f"HTTP {status}", caplog
    )
    assert isinstance(exc, ConnectWiseError)
    if echo == "text" and status != 302:  # the page is shown, one line, its credentials redacted
        assert "Request headers: Authorization: [redacted] clientId: [redacted]" in str(exc)
    assert server.count(EXPORT) == (4 if status == 500 else 1)  # only 5xx is retried
    assert server.requests[0].headers["authorization"] == f"Basic {BASIC}"  # the echo was real
    ok, message = ConnectWiseHook().test_connection()
    assert not ok and f"HTTP {status}" in message
    assert leaks(message) == []


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_redirect_is_an_error_naming_the_location(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    # A redirect whose body would make a plausible GLExport: it must never become the file.
    server = serve(
        lambda r, conn: respond_json(
            conn, {"message": "moved"}, status, Location="https://cw.elsewhere.example/moved"
        )
    )
    use(server)
    exc = fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml"),
        f"(HTTP {status}): Redirect: redirected to https://cw.elsewhere.example/moved; redirects are not followed",
        caplog,
    )
    assert "set the connection's host" in str(exc)
    assert server.count(EXPORT) == 1 and len(server.requests) == 1  # never followed


def test_any_2xx_is_success(
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path
) -> None:
    server = serve(lambda r, conn: respond(conn, 203, sample_export(server.site)))
    use(server)
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
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    where: str,
    call: str,
) -> None:
    body = b"[" + b" " * 100_000 + b"]"
    if where == "headers":
        handler = drip(b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000 + b"\r\n\r\n")
    else:
        handler = drip(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode(), body)
    server = serve(handler)
    use(server, request_deadline=1, timeout=0.5)
    settings = {"location_name": "Tampa"} if call != "export" else {}
    fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml", **settings),
        "DeadlineExceeded: the whole request took longer than request_deadline=1s",
        caplog,
    )
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
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    next_page: Callable[[int], int],
    requests: int,
    cause: str,
) -> None:
    server = serve(paging(next_page))
    use(server, max_pages=5)
    fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml", location_name="Tampa"),
        cause,
        caplog,
    )
    assert server.count("system/locations") == requests
    assert server.count(EXPORT) == 0


# -- 4. decompression bombs -------------------------------------------------------------------
def test_gzip_bomb_on_a_listing_stops_at_an_eighth_of_the_maximum(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve(bomb(1 << 30))  # 1 GiB of JSON whitespace in about 1 MB
    use(server)  # default max_response_mb 1024: 128 MiB for a response read into memory
    fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml", location_name="Tampa"),
        "(HTTP 200): ResponseTooLarge: the response body is larger than 128 MiB once decompressed (max_response_mb=1024 MiB",
        caplog,
    )
    assert len(server.requests) == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bomb_on_the_export_stops_at_the_maximum(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
) -> None:
    server = serve(bomb(64 << 20, encoding, prefix=b'{"transactions": ['))
    use(server, max_response_mb=4)
    fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml"),
        "ResponseTooLarge: the response body is larger than 4 MiB once decompressed",
        caplog,
    )
    assert server.count(EXPORT) == 1


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
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path, encoding: str
) -> None:
    plain = serve(lambda r, conn: respond(conn, 200, sample_export(plain.site)))
    use(plain)
    expected = export(tmp_path / "plain.xml")
    header = "deflate" if encoding == "raw deflate" else encoding
    packed = serve(
        lambda r, conn: respond(
            conn, 200, compressed(encoding, sample_export(plain.site)), {"Content-Encoding": header}
        )
    )
    use(packed)
    summary = export(tmp_path / "packed.xml")
    assert summary["sha256"] == expected["sha256"]
    assert (tmp_path / "packed.xml").read_bytes() == (tmp_path / "plain.xml").read_bytes()
    assert "gzip" in packed.requests[0].headers["accept-encoding"]


def test_unsupported_encoding_is_a_clear_failure(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, b"\x1b\x00garbage", {"Content-Encoding": "br"}))
    use(server)
    fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml"),
        "unsupported Content-Encoding 'br'",
        caplog,
    )
    assert server.count(EXPORT) == 4


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
    serve: Callable[..., HostileServer], make: Callable[[HostileServer], Handler]
) -> HostileServer:
    """A server whose handler needs the server's own address (for the export's hrefs)."""
    server = serve(lambda r, conn: handler(r, conn))
    handler = make(server)
    return server


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_a_reference_record_is_rejected_like_the_export(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    constant: str,
) -> None:
    body = f'[{{"id": 8, "identifier": "Angry Fox, Co.", "balance": {constant}}}]'.encode()
    server = serve_with(serve, export_and_companies(body))
    use(server)
    fails_cleanly(
        tmp_path / "glexport.xml",
        lambda: export(tmp_path / "glexport.xml", references_to_fetch=["customer/company"]),
        f"MalformedBody: response body is not valid JSON ({constant} is not valid JSON) after 4 attempts",
        caplog,
    )
    assert server.count("company/companies") == 4


def test_nan_in_the_export_is_rejected(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, b'{"transactions": [{"id": 1, "total": NaN}]}'))
    use(server)
    # A complete body that cannot be written: refused at once, not fetched again.
    fails_cleanly(
        tmp_path / "glexport.xml", lambda: export(tmp_path / "glexport.xml"), "NaN is not a number", caplog
    )
    assert server.count(EXPORT) == 1


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
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    (tmp_path / "afile").write_text("a file, not a folder")
    make, cause = OUTPUTS[case]
    output = make(tmp_path, monkeypatch)
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
    with fails_task(ExportSettingError) as info:
        GLBatchExportOperator(task_id="export", output_file=output, thru_date="2026-03-01").execute({})
    assert str(info.value).startswith("output_file: ")
    assert cause in str(info.value)
    assert server.requests == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_longest_name_that_fits_is_written(
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
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
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    umask: Callable[[int], None],
    mask: int,
    mode: int,
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
    umask(mask)
    export(tmp_path / "glexport.xml")
    assert (tmp_path / "glexport.xml").stat().st_mode & 0o777 == mode


def test_replaced_file_keeps_its_mode(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    umask: Callable[[int], None],
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
    out = tmp_path / "glexport.xml"
    out.write_bytes(PREVIOUS)
    out.chmod(0o640)  # e.g. readable by the accounting import's group only
    export(out)
    assert out.read_bytes() != PREVIOUS
    assert out.stat().st_mode & 0o777 == 0o640


def test_leftovers_of_killed_runs_are_removed_but_not_live_ones(
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
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
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path, extra: str, value: str
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
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
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    thru_date: str,
    sent: str | None,
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
    if sent is None:
        with fails_task(ExportSettingError, match="thru_date: .* is outside the years 1 to 9999"):
            export(tmp_path / "glexport.xml", thru_date=thru_date)
        assert server.requests == []
    else:
        export(tmp_path / "glexport.xml", thru_date=thru_date)
        assert json.loads(server.requests[0].body)["thruDate"] == sent


@pytest.mark.parametrize("text", ["[" * 100_000, "(" * 100_000, "[" * 50_000 + "]" * 50_000])
def test_deeply_nested_references_are_a_clean_error(
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path, text: str
) -> None:
    server = serve(lambda r, conn: respond(conn, 200, sample_export(server.site)))
    use(server)
    with fails_task(ExportSettingError) as info:
        export(tmp_path / "glexport.xml", references_to_fetch=text)
    assert str(info.value).startswith("references_to_fetch: ")
    assert len(str(info.value)) < 400
    assert server.requests == []


def test_totals_are_exact_beyond_28_digits(
    serve: Callable[..., HostileServer], use: Callable[..., None], tmp_path: Path
) -> None:
    body = (
        b'{"transactions": [{"id": 1, "total": 123456789012345678901234567890.01, "detail": []},'
        b' {"id": 2, "total": 0.001, "detail": []}]}'
    )
    server = serve(lambda r, conn: respond(conn, 200, body))
    use(server)
    summary = export(tmp_path / "glexport.xml")
    assert summary["totals"]["transactions"] == "123456789012345678901234567890.011"


def test_tls_failure_is_worded_as_tls(
    serve: Callable[..., HostileServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve(lambda r, conn: respond(conn, 400, "plain http here"))
    conn = connection(server)
    conn["host"] = f"https://127.0.0.1:{server.port}"  # https to a server that speaks plain http
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(conn))
    exc = fails_cleanly(
        tmp_path / "glexport.xml", lambda: export(tmp_path / "glexport.xml"), "TLSError", caplog
    )
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


def run_dag(dag_id: str, out: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A one-task DAG file run with ``dag.test`` (a real task run on the SQLite metadata DB: the
    caller asks for the ``airflow_db`` fixture); its folder is added as a DAG bundle, which
    ``dag.test`` syncs."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone

    folder.mkdir()
    (folder / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id, out=str(out)))
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
        {"name": f"hostile-{dag_id}", "classpath": local, "kwargs": {"path": str(folder)}},
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    dag = DagBag(dag_folder=str(folder)).dags[dag_id]
    return dag.test(logical_date=timezone.datetime(2026, 3, 1))


@pytest.mark.parametrize("status", [401, 500])
def test_echo_under_airflow_fails_the_task_without_a_fragment(
    airflow_db: None,
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    server = serve(echo_handler(status, "text"))
    use(server)
    out = tmp_path / "glexport.xml"
    out.write_bytes(PREVIOUS)
    run = run_dag(f"hostile_echo_{status}", out, tmp_path.parent / f"{tmp_path.name}-dags", monkeypatch)
    assert run.state == "failed"
    captured = capfd.readouterr()
    everything = captured.out + captured.err + caplog.text + airflow_kept(run)
    assert f"HTTP {status}" in everything  # the failure was logged where we look
    assert leaks(everything) == []
    assert out.read_bytes() == PREVIOUS and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_echo_on_a_reference_fetch_recovered_under_airflow(
    airflow_db: None,
    serve: Callable[..., HostileServer],
    use: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
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
                respond(conn, 500, ECHOES["text"]())
            else:
                good(request, conn)

        return handler

    server = serve_with(serve, make)
    use(server)
    out = tmp_path / "glexport.xml"
    run = run_dag("hostile_echo_recovered", out, tmp_path.parent / f"{tmp_path.name}-dags", monkeypatch)
    assert run.state == "success"
    captured = capfd.readouterr()
    everything = captured.out + captured.err + caplog.text + airflow_kept(run) + out.read_text()
    assert "retrying" in everything and "sha256" in everything
    assert leaks(everything) == []
    assert server.count("company/companies") == 2
    assert etree.parse(str(out)).getroot().find("customers/customer/company/record") is not None
