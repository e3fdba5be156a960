"""Hostile export bodies: lone surrogates, wrong JSON shapes, size limits.

Each body is served by a small loopback server of our own (not the sandbox: it could not send
these) to the real operator, and also fed to the writer directly.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import fails_task
from lxml import etree

from airflow_provider_cwgl.errors import ConnectWiseError, ExportBodyError, JsonLimitError
from airflow_provider_cwgl.glexport.json_scan import JsonLimits
from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

CODEBASE = "v2025_1/"
EXPORT = f"/{CODEBASE}apis/3.0/finance/accounting/export"


class HostileServer(ThreadingHTTPServer):
    """Answers companyinfo, the export POST with ``export_body``, and GETs from ``records``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.export_body = b"{}"
        self.records: dict[str, bytes] = {}  # API path -> JSON list body
        self.requests: list[tuple[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p == path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileServer

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.requests.append(("GET", parts.path))
        if parts.path.startswith("/login/companyinfo/"):
            self._send(json.dumps({"Codebase": CODEBASE, "VersionNumber": "v2025.1.0"}).encode())
            return
        path = parts.path.removeprefix(f"/{CODEBASE}apis/3.0/")
        page = int(parse_qs(parts.query).get("page", ["1"])[0])
        self._send(self.server.records.get(path, b"[]") if page == 1 else b"[]")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(("POST", self.path))
        self._send(self.server.export_body if self.path == EXPORT else b"{}")


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = {
        "conn_type": "connectwise",
        "host": server.url,
        "login": "pub",
        "password": "hostile-test-private-key",
        "extra": {"company_id": "acme", "client_id": "c1", "max_attempts": 3, "retry_backoff": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(connection))
    yield server
    server.shutdown()
    server.server_close()


def export(out: Path, **settings: Any) -> dict[str, Any]:
    return GLBatchExportOperator(task_id="export", output_file=str(out), **settings).execute({})


def write(body: str | bytes, **kwargs: Any) -> tuple[bytes, GLExportXmlWriter]:
    data = body.encode() if isinstance(body, str) else body
    out = io.BytesIO()
    writer = GLExportXmlWriter(**kwargs)
    writer.write(io.BytesIO(data), out)
    return out.getvalue(), writer


# -- 4. lone surrogates ---------------------------------------------------------------------------
SURROGATES = '{"transactions":[{"id":1,"memo":"a\\udfffb\\ud800c","description":"\\ud83d\\ude00 pair"}]}'


def test_lone_surrogates_are_removed_and_counted_by_the_writer() -> None:
    data, writer = write(SURROGATES)
    txn = etree.fromstring(data).find("transactions/transaction")
    assert txn.findtext("memo") == "abc"
    assert txn.findtext("description") == "\U0001f600 pair"  # a proper pair is one character, kept
    assert writer.stats.removed_characters == 2


def test_lone_surrogates_in_the_export_reach_the_file_cleaned(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.export_body = SURROGATES.encode()
    summary = export(tmp_path / "gl.xml")
    assert etree.parse(str(tmp_path / "gl.xml")).findtext("transactions/transaction/memo") == "abc"
    assert summary["removed_characters"] == 2
    assert hostile.count("POST", EXPORT) == 1  # valid JSON: not retried as "malformed"


def test_lone_surrogates_in_reference_records_are_removed(
    hostile: HostileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    href = f"{hostile.url}/{CODEBASE}apis/3.0/company/companies/8"
    hostile.export_body = json.dumps(
        {
            "transactions": [
                {"id": 1, "company": {"id": 8, "identifier": "A", "_info": {"company_href": href}}}
            ]
        }
    ).encode()
    hostile.records["company/companies"] = b'[{"id": 8, "name": "X\\udfffY\\ud800"}]'
    summary = export(tmp_path / "gl.xml", references_to_fetch=["transaction/company"])
    root = etree.parse(str(tmp_path / "gl.xml"))
    assert root.findtext("transactions/transaction/company/record/name") == "XY"
    assert summary["removed_characters"] == 2 and summary["references"]["records"] == 1
    assert "References round 1 done: 1 records kept so far" in caplog.text  # progress in the task log


# -- 5. wrong shapes ------------------------------------------------------------------------------
SHAPES = [
    ('{"transactions":{"id":1}}', "'transactions' must be a list of objects, got an object"),
    ('{"transactions":"all of them"}', "'transactions' must be a list of objects, got a string"),
    (
        '{"customers":[],"transactions":[{"id":1},2]}',
        "'transactions' must be a list of objects, but item 1 is a number",
    ),
    ('{"expenses":[[{"id":1}]]}', "'expenses' must be a list of objects, but item 0 is a list"),
    ('{"vendors":[null]}', "'vendors' must be a list of objects, but item 0 is null"),
    ('[{"id":1}]', "the document must be an object, got a list"),
    ('"GLExport"', "the document must be an object, got a string"),
]


@pytest.mark.parametrize(("body", "message"), SHAPES)
def test_wrong_shapes_fail_naming_the_collection_with_no_file(
    hostile: HostileServer, tmp_path: Path, body: str, message: str
) -> None:
    hostile.export_body = body.encode()
    out = tmp_path / "gl.xml"
    out.write_bytes(b"previous export")
    with fails_task(ExportBodyError, match=message):
        export(out)
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gl.xml"]
    assert hostile.count("POST", EXPORT) == 1  # complete JSON: fetching it again would not help


@pytest.mark.parametrize(("body", "message"), SHAPES)
def test_wrong_shapes_fail_in_the_writer(body: str, message: str) -> None:
    with pytest.raises(ExportBodyError, match=message):
        write(body)


def test_a_cut_body_is_still_fetched_again(hostile: HostileServer, tmp_path: Path) -> None:
    hostile.export_body = b'{"transactions":[{"id":1},{"id":'
    with pytest.raises(ConnectWiseError, match="not valid JSON"):
        export(tmp_path / "gl.xml")
    assert hostile.count("POST", EXPORT) == 3  # max_attempts
    assert not (tmp_path / "gl.xml").exists()


# -- 6. limits ------------------------------------------------------------------------------------
LIMITS = [
    ('{"transactions":[{"id":1,"total":1e800000000}]}', "out of range"),
    ('{"transactions":[{"id":1,"total":-1E-800000000}]}', "out of range"),
    ('{"transactions":[{"id":1,"total":' + "9" * 101 + "}]}", "integer of 101 digits"),
    ('{"transactions":[{"id":1,"total":0.' + "1" * 120 + "}]}", "number of 122 characters"),
]


@pytest.mark.parametrize(("body", "message"), LIMITS)
def test_numbers_past_the_limits_fail_with_no_file(
    hostile: HostileServer, tmp_path: Path, body: str, message: str
) -> None:
    hostile.export_body = body.encode()
    with fails_task(JsonLimitError, match=message):
        export(tmp_path / "gl.xml")
    assert list(tmp_path.iterdir()) == []
    assert hostile.count("POST", EXPORT) == 1


def test_numbers_within_the_limits_are_written_exactly() -> None:
    data, _ = write('{"transactions":[{"id":1,"total":1e100,"tax":0.' + "0" * 50 + "1}]}")
    txn = etree.fromstring(data).find("transactions/transaction")
    assert txn.findtext("total") == "1" + "0" * 100
    assert txn.findtext("tax") == "0." + "0" * 50 + "1"
    assert JsonLimits().max_exponent == 100 and JsonLimits().max_number_chars == 100


def test_a_string_past_the_limit_fails(hostile: HostileServer, tmp_path: Path) -> None:
    limit = JsonLimits().max_string_chars
    hostile.export_body = b'{"transactions":[{"id":1,"memo":"' + b"m" * (limit + 1) + b'"}]}'
    with fails_task(JsonLimitError, match=f"a text of {limit + 1} characters in 'transactions' item 0"):
        export(tmp_path / "gl.xml")
    assert list(tmp_path.iterdir()) == []


def test_string_and_item_limits_are_settable() -> None:
    body = '{"transactions":[{"id":1,"memo":"' + "x" * 50 + '"}]}'
    write(body, limits=JsonLimits(max_string_chars=50))
    with pytest.raises(JsonLimitError, match="a text of 51 characters"):
        write(body.replace("x" * 50, "x" * 51), limits=JsonLimits(max_string_chars=50))
    with pytest.raises(JsonLimitError, match="'transactions' item 0 is over the limit of 40 bytes"):
        write(body, limits=JsonLimits(max_item_bytes=40))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_in_the_export_are_refused(
    hostile: HostileServer, tmp_path: Path, constant: str
) -> None:
    hostile.export_body = f'{{"transactions":[{{"id":1,"total":{constant}}}]}}'.encode()
    with fails_task(ExportBodyError, match=f"{constant} is not a number"):
        export(tmp_path / "gl.xml")
    assert list(tmp_path.iterdir()) == []
    assert hostile.count("POST", EXPORT) == 1


def test_nan_in_a_reference_record_is_refused(hostile: HostileServer, tmp_path: Path) -> None:
    href = f"{hostile.url}/{CODEBASE}apis/3.0/company/companies/8"
    hostile.export_body = json.dumps(
        {"transactions": [{"id": 1, "company": {"id": 8, "_info": {"company_href": href}}}]}
    ).encode()
    hostile.records["company/companies"] = b'[{"id": 8, "balance": NaN}]'
    # The client refuses the record's body as malformed JSON (tests/operators/test_hostile.py counts its retries).
    with pytest.raises(ConnectWiseError, match=r"GET company/companies .*NaN is not valid JSON"):
        export(tmp_path / "gl.xml", references_to_fetch=["transaction/company"])
    assert list(tmp_path.iterdir()) == []


# -- the reader across chunk boundaries -------------------------------------------------------------
class Trickle(io.RawIOBase):
    """At most ``size`` bytes per read: every token and UTF-8 sequence gets split somewhere."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size, self.pos = data, size, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        chunk = self.data[self.pos : self.pos + min(self.size, n if n > 0 else self.size)]
        self.pos += len(chunk)
        return chunk


@pytest.mark.parametrize("size", [1, 3, 7])
def test_chunk_boundaries_do_not_change_the_file(size: int) -> None:
    body = json.dumps(
        {
            "exportSettings": {"summarizeExpenses": True},
            "customers": [],
            "transactions": [
                {"id": 12345, "total": 1234.5, "memo": 'caf\u00e9 \u4e2d \U0001f600 \\ " & <', "ok": True},
                {"id": 2, "detail": [{"id": 3, "total": -0.25}], "taxes": [1, 2.50, None]},
            ],
            "expenses": [{"id": 9}],
            "version": 123456,
        },
        ensure_ascii=False,
    ).encode()
    whole, _ = write(body)
    out = io.BytesIO()
    GLExportXmlWriter().write(Trickle(body, size), out)  # type: ignore[arg-type]
    assert out.getvalue() == whole
    assert etree.fromstring(whole).findtext("transactions/transaction/total") == "1234.5"
