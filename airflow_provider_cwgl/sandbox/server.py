"""The sandbox's HTTP face: ConnectWise Manage's URLs, auth, paging, conditions and error bodies.

``Sandbox`` runs a Starlette app under uvicorn in a background thread on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_cwgl.connectwise.client import loads
from airflow_provider_cwgl.errors import SandboxError
from airflow_provider_cwgl.glexport.request import FLAG_NAMES, SUMMARIZE_INVOICES
from airflow_provider_cwgl.sandbox import condition_eval
from airflow_provider_cwgl.sandbox.catalogue import API_VERSION
from airflow_provider_cwgl.sandbox.faults import Faults, RequestLog
from airflow_provider_cwgl.sandbox.jsonio import dumps
from airflow_provider_cwgl.sandbox.store import (
    BASE_PLACEHOLDER,
    EXPORT_ID_LISTS,
    UNPOSTED_ENDPOINT,
    ExportFilter,
    SandboxStore,
)

# What a 2025.1 tenant answers with (whatever version the client pins, the sandbox serves 2025.1).
MEDIA_TYPE = f"application/vnd.connectwise.com+json; version={API_VERSION}"
MAX_URL_LENGTH = 2000
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25

DEFAULT_CREDENTIALS = {
    "company_id": "cwsandbox",
    "public_key": "sandboxPublicKey01",
    "private_key": "sandbox-private-key-7f3a9c",
    "client_id": "5f0c2a1e-7d3b-4e8a-9c1f-0a2b3c4d5e6f",
}


def error(status: int, code: str, message: str, errors: Any = None, headers: Any = None) -> Response:
    # ErrorResponseMessage; a live ConnectWise sends ``"errors": null`` when there are none.
    return CWResponse({"code": code, "message": message, "errors": errors}, status, headers)


def _invalid_field(
    field: str, code: str, message: str, resource: str = "batchExportParameters", summary: str = ""
) -> Response:
    """ConnectWise's 400 for one bad field of a request body (``resource``)."""
    errors = [{"code": code, "field": field, "resource": resource, "message": message}]
    return error(400, "InvalidObject", summary or f"{resource} object is invalid", errors)


class CWResponse(Response):
    """JSON as ConnectWise sends it: exact decimals; with ``base``, stored ``_info`` hrefs made
    absolute for this server."""

    media_type = MEDIA_TYPE

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        base: str | None = None,
    ) -> None:
        text = dumps(content)
        super().__init__(text.replace(BASE_PLACEHOLDER, base) if base else text, status_code, headers)


class Sandbox:
    """A local ConnectWise Manage. Start with ``start()`` or as a context manager."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        codebase: str = "v2025_1/",
        faults: Faults | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.codebase = codebase
        self.faults = faults or Faults()
        self.log = RequestLog()
        self.credentials = {**DEFAULT_CREDENTIALS, **(credentials or {})}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = _FaultMiddleware(
            self,
            Starlette(
                routes=[
                    Route("/login/companyinfo/{company}", self._company_info, methods=["GET"]),
                    Route("/_sandbox/stats", self._stats, methods=["GET"]),
                    Route("/_sandbox/log", self._clear_log, methods=["DELETE"]),
                    Route("/_sandbox/faults", self._set_faults, methods=["POST", "DELETE"]),
                    Route("/{codebase}/apis/3.0/{path:path}", self._api, methods=["GET", "POST", "DELETE"]),
                ]
            ),
        )

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/{self.codebase}apis/3.0/"

    def start(self) -> Sandbox:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="critical", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="cw-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise SandboxError("the ConnectWise sandbox did not start within 10 seconds")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connection(self, **extra: Any) -> dict[str, Any]:
        """The Airflow connection (JSON form) that reaches this sandbox."""
        return {
            "conn_type": "connectwise",
            "host": self.url,
            "login": self.credentials["public_key"],
            "password": self.credentials["private_key"],
            "extra": {
                "company_id": self.credentials["company_id"],
                "client_id": self.credentials["client_id"],
                **extra,
            },
        }

    # -- auth -------------------------------------------------------------------------------------
    def _authenticate(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        expected = (
            f"{self.credentials['company_id']}+{self.credentials['public_key']}:"
            f"{self.credentials['private_key']}"
        )
        try:
            given = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else None
        except (binascii.Error, UnicodeDecodeError):
            given = None
        if given != expected:
            return error(401, "Unauthorized", "Authentication failed: check company, public and private key.")
        if request.headers.get("clientid") != self.credentials["client_id"]:
            return error(401, "Unauthorized", "A valid clientId header is required.")
        return None

    # -- routes -----------------------------------------------------------------------------------
    async def _company_info(self, request: Request) -> Response:
        company = request.path_params["company"]
        if company.lower() != self.credentials["company_id"].lower():
            return Response("null", media_type="application/json")
        info = {"CompanyName": "ConnectWise Sandbox", "Codebase": self.codebase, "CompanyID": company}
        info |= {"VersionCode": f"v{API_VERSION}", "VersionNumber": f"v{API_VERSION}.0", "IsCloud": False}
        return CWResponse(info | {"SiteUrl": self.url})

    # -- admin (the sandbox's own knobs, for a sandbox run as a separate process) ----------------
    async def _stats(self, request: Request) -> Response:
        log = self.log
        return CWResponse(
            {"requests": len(log), "counts": dict(log.counts()), "peak_in_flight": log.peak_in_flight}
        )

    async def _clear_log(self, request: Request) -> Response:
        self.log.clear()
        return Response(status_code=204)

    async def _set_faults(self, request: Request) -> Response:
        """POST a rule (``{"path": "company/*", "status": 503, "times": 2}``, or ``{"latency": 0.02}``
        for all requests); DELETE removes every rule."""
        if request.method == "DELETE":
            self.faults.clear()
            return Response(status_code=204)
        rule = loads(await request.body() or b"{}")
        if set(rule) == {"latency"}:
            self.faults.latency = float(rule["latency"])
        else:
            try:
                self.faults.add(**rule)
            except TypeError as exc:
                return error(400, "InvalidObject", f"not a fault rule: {exc}")
        return Response(status_code=204)

    async def _api(self, request: Request) -> Response:
        if request.path_params["codebase"] + "/" != self.codebase:
            return error(404, "NotFound", "The resource cannot be found.")
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        path = request.path_params["path"].strip("/")
        body = None
        if request.method == "POST":
            raw = await request.body()
            try:
                body = loads(raw) if raw else {}
            except ValueError:
                return error(400, "InvalidObject", "The request body is not valid JSON.")
        try:
            return await asyncio.to_thread(self._dispatch, request, path, body)
        except condition_eval.ConditionError as exc:
            return error(400, "InvalidCondition", str(exc))

    def _dispatch(self, request: Request, path: str, body: Any) -> Response:
        method = request.method
        base = self.api_url
        if method == "POST" and path == "finance/accounting/export":
            return self._export(body, base)
        if path.startswith("finance/accounting/batches"):
            return self._batches(request, path[len("finance/accounting/batches") :].strip("/"), body, base)
        if method == "GET" and path == "system/info":
            info = {"version": f"v{API_VERSION}.0", "isCloud": False, "serverTimeZone": "UTC"}
            return CWResponse(info | {"licenseBits": [], "cloudRegion": "SANDBOX"})
        match = re.fullmatch(r"finance/accounting/(unposted\w+)(?:/(count|\d+))?", path)
        if method == "GET" and match and match.group(1) in UNPOSTED_ENDPOINT.values():
            kind = {v: k for k, v in UNPOSTED_ENDPOINT.items()}[match.group(1)]
            records = [d.unposted for d in self.store.unposted_documents() if d.kind == kind]
            return self._collection(request, records, match.group(2))
        if method == "GET":
            found = self._resource_records(path)
            if found is not None:
                records, tail = found
                return self._collection(request, records, tail)
        return error(404, "NotFound", f"No endpoint {method} {path}.")

    def _resource_records(self, path: str) -> tuple[list[dict[str, Any]], str | None] | None:
        store = self.store
        tail: str | None = None
        head = path
        last = path.rsplit("/", 1)
        if len(last) == 2 and (last[1].isdigit() or last[1] == "count") and last[0]:
            head, tail = last
        if head in store.resources:
            return list(store.resources[head].values()), tail
        for template, by_parent in store.children.items():
            pattern = re.escape(template).replace(r"\{\}", r"(\d+)")
            match = re.fullmatch(pattern, head)
            if match:
                return list(by_parent.get(int(match.group(1)), {}).values()), tail
        return None

    def _collection(self, request: Request, records: list[dict[str, Any]], tail: str | None) -> Response:
        params = request.query_params
        base = self.api_url
        if tail is not None and tail.isdigit():
            for record in records:
                if str(record.get("id")) == tail:
                    return CWResponse(record, base=base)
            return error(404, "NotFound", f"Record {tail} was not found.")
        if params.get("conditions"):
            predicate = condition_eval.parse(params["conditions"])
            records = [r for r in records if predicate(r)]
        if tail == "count":
            return CWResponse({"count": len(records)})
        if params.get("orderBy"):
            field, _, direction = params["orderBy"].strip().partition(" ")
            records = sorted(
                records,
                key=lambda r: _sort_key(condition_eval.lookup(r, field.split("/"))),
                reverse=direction.lower() == "desc",
            )
        try:
            page = max(1, int(params.get("page", 1)))
            size = min(MAX_PAGE_SIZE, max(1, int(params.get("pageSize", DEFAULT_PAGE_SIZE))))
        except ValueError:
            return error(400, "InvalidObject", "page and pageSize must be integers.")
        chunk = records[(page - 1) * size : page * size]
        if params.get("fields"):
            chunk = [_trim(r, params["fields"].split(",")) for r in chunk]
        last_page = max(1, -(-len(records) // size))
        links = []
        query = {k: v for k, v in params.items() if k not in ("page", "pageSize")}

        def link(p: int, rel: str) -> str:
            return f'<{request.url.replace(query=urlencode({**query, "pageSize": size, "page": p}))}>; rel="{rel}"'

        links.append(link(1, "first"))
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last_page:
            links.append(link(page + 1, "next"))
        links.append(link(last_page, "last"))
        return CWResponse(chunk, base=base, headers={"Link": ", ".join(links)})

    def _export_filter(self, body: Any) -> ExportFilter | Response:
        if not isinstance(body, dict):
            return error(400, "InvalidObject", "batchExportParameters is required.")
        flags = {kind: bool(body.get(flag)) for kind, flag in FLAG_NAMES.items()}
        if not any(flags.values()):
            what = "Batch export must include invoices, expenses, or products (procurement)."
            return _invalid_field("exportInvoicesFlag", "Required", what)
        thru = None
        if body.get("thruDate"):
            try:
                thru = datetime.fromisoformat(str(body["thruDate"]).replace("Z", "+00:00")).date()
            except ValueError:
                return _invalid_field("thruDate", "InvalidValue", "thruDate must be an ISO 8601 date-time.")
        location = body.get("locationId")
        if location is not None and (isinstance(location, bool) or not isinstance(location, int)):
            return error(400, "InvalidObject", "locationId must be an integer.")
        summarize = body.get("summarizeInvoices")
        if summarize is not None and summarize not in SUMMARIZE_INVOICES:
            allowed = f"summarizeInvoices must be one of: {', '.join(SUMMARIZE_INVOICES)}."
            return _invalid_field("summarizeInvoices", "InvalidValue", allowed)
        lists: dict[str, set[Any]] = {}
        for field, (_, _, of_type) in EXPORT_ID_LISTS.items():
            ids = body.get(field)
            if ids is None:
                ids = []
            if not isinstance(ids, list) or not all(
                isinstance(i, of_type) and not isinstance(i, bool) for i in ids
            ):
                kind = "integers" if of_type is int else "strings"
                return _invalid_field(field, "InvalidValue", f"{field} must be an array of {kind}.")
            lists[field] = set(ids)
        return ExportFilter(
            thru_date=thru,
            location_id=location,
            included={kind: lists[f] for f, (kind, inc, _) in EXPORT_ID_LISTS.items() if inc},
            excluded={kind: lists[f] for f, (kind, inc, _) in EXPORT_ID_LISTS.items() if not inc},
            **flags,
        )

    def _export(self, body: Any, base: str) -> Response:
        flt = self._export_filter(body)
        if isinstance(flt, Response):
            return flt
        return _stream(self.store.export_chunks(self.store.select(flt), base))

    def _batches(self, request: Request, rest: str, body: Any, base: str) -> Response:
        store = self.store
        method = request.method
        if method == "POST" and rest == "":
            return self._create_batch(body, base)
        if rest in ("", "count") and method == "GET":
            records = [store.batch_record(b, base) for b in store.batches.values()]
            return self._collection(request, records, rest or None)
        match = re.fullmatch(r"(\d+)(?:/(entries|export))?", rest)
        batch = store.batches.get(int(match.group(1))) if match else None
        if batch is None or match is None:
            return error(404, "NotFound", f"Batch {rest} was not found.")
        if method == "GET" and match.group(2) is None:
            return CWResponse(store.batch_record(batch, base))
        if method == "GET" and match.group(2) == "entries":
            return self._collection(request, store.batch_entries(batch), None)
        if method == "POST" and match.group(2) == "export":
            return _stream(store.export_chunks(store.batch_documents(batch), base))
        return error(405, "MethodNotAllowed", f"{method} is not allowed here.")

    def _create_batch(self, body: Any, base: str) -> Response:
        resource = "accountingBatchParameters"
        if not isinstance(body, dict) or not isinstance(body.get("processedRecordIds"), list):
            return _invalid_field(
                "processedRecordIds", "Required", "processedRecordIds is required.", resource
            )
        identifier = str(body.get("batchIdentifier") or datetime.now().strftime("%Y%m%d%H%M%S"))
        if len(identifier) > 50:
            too_long = "batchIdentifier is too long"
            return _invalid_field("batchIdentifier", "MaxLength", "Max length: 50", resource, too_long)
        with self.store.lock:
            if any(b.identifier == identifier for b in self.store.batches.values()):
                taken = f"A batch with identifier {identifier} already exists."
                return _invalid_field("batchIdentifier", "ObjectExists", taken, resource)
            flags = {kind: bool(body.get(flag)) for kind, flag in FLAG_NAMES.items()}
            batch = self.store.create_batch(identifier, flags, [int(i) for i in body["processedRecordIds"]])
        return _stream(self.store.export_chunks(self.store.batch_documents(batch), base), status=201)


def _stream(chunks: Any, status: int = 200) -> Response:
    async def body() -> AsyncIterator[bytes]:
        buffer: list[str] = []
        size = 0
        for chunk in chunks:
            buffer.append(chunk)
            size += len(chunk)
            if size >= 1 << 16:
                yield "".join(buffer).encode()
                buffer, size = [], 0
                await asyncio.sleep(0)
        yield "".join(buffer).encode()

    return StreamingResponse(body(), status_code=status, media_type=MEDIA_TYPE)


def _trim(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in fields:
        parts = spec.strip().split("/")
        source, target = record, out
        for i, part in enumerate(parts):
            if not isinstance(source, dict) or part not in source:
                break
            if i == len(parts) - 1:
                target[part] = source[part]
            else:
                source = source[part]
                target = target.setdefault(part, {})
    return out


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)) or hasattr(value, "is_nan"):
        return (1, value)
    return (2, str(value).lower())


class _FaultMiddleware:
    """Request log, URL length limit and injected faults, around the whole app."""

    def __init__(self, sandbox: Sandbox, app: ASGIApp) -> None:
        self.sandbox = sandbox
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        raw_path: str = scope["path"]
        if raw_path.startswith("/_sandbox/"):  # the admin knobs are neither logged nor faulted
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        marker = "/apis/3.0/"
        api_path = raw_path.split(marker, 1)[1].strip("/") if marker in raw_path else raw_path.strip("/")
        record = sandbox.log.begin(scope["method"], api_path, query)
        status_box = {"status": 0}

        async def logged_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                record.body += message.get("body", b"")
            return message

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
            await send(message)

        try:
            url_length = len(sandbox.url) + len(scope.get("raw_path", raw_path.encode())) + 1 + len(query)
            if url_length > MAX_URL_LENGTH:
                too_long = f"The request URL is {url_length} characters; ConnectWise accepts at most"
                await error(414, "RequestTooLong", f"{too_long} {MAX_URL_LENGTH}.")(
                    scope, logged_receive, logged_send
                )
                return
            fault = sandbox.faults.for_request(scope["method"], api_path)
            if fault.latency:
                await asyncio.sleep(fault.latency)
            response = _refusal(sandbox, fault)
            if response is not None:
                await response(scope, logged_receive, logged_send)
            elif fault.drop or fault.malformed or fault.slow_body or fault.change_total:
                await self._distorted(scope, logged_receive, logged_send, fault)
            else:
                await self.app(scope, logged_receive, logged_send)
        finally:
            sandbox.log.end(record, status_box["status"])

    async def _distorted(
        self, scope: Scope, receive: Receive, send: Callable[[Message], Any], fault: Any
    ) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if fault.change_total:
            body = _change_first_total(body, Decimal(fault.change_total))
        if fault.malformed:
            body = body[: max(1, len(body) // 2)]
        if fault.drop:
            # Promise more than we send, then stop: the client sees the connection cut mid-body.
            headers.append((b"content-length", str(len(body) + 1000).encode()))
            await send(
                {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
            )
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ConnectionAbortedError("sandbox: dropped the connection on purpose")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        step = max(1, len(body) // 8)
        for offset in range(0, len(body), step):
            await send(
                {"type": "http.response.body", "body": body[offset : offset + step], "more_body": True}
            )
            if fault.slow_body:
                await asyncio.sleep(fault.slow_body)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _refusal(sandbox: Sandbox, fault: Any) -> Response | None:
    """The answer an injected fault puts in place of the app's: a moved tenant, a status."""
    if fault.move_codebase:
        sandbox.codebase = fault.move_codebase
        return error(404, "NotFound", "The resource cannot be found.")
    if fault.status is None:
        return None
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
    if fault.status == 429:
        body = {"error": "ConnectWiseAPI", "message": "Too many requests. Please try again later."}
        return JSONResponse(body, status_code=429, headers=headers)
    return error(fault.status, "ServerError", "The sandbox injected this failure.", headers=headers)


def _change_first_total(body: bytes, amount: Decimal) -> bytes:
    """The GLExport answer with ``amount`` added to its first document's ``total``."""
    document = loads(body)
    for key, items in document.items() if isinstance(document, dict) else ():
        if key in ("vendors", "customers") or not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("total"), (int, Decimal)):
                item["total"] = Decimal(item["total"]) + amount
                return dumps(document).encode()
    return body


__all__ = ["DEFAULT_CREDENTIALS", "Sandbox"]
