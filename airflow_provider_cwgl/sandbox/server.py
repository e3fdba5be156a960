"""The sandbox's HTTP face: ConnectWise Manage's URLs, auth, paging, conditions and error bodies.

``Sandbox`` runs a Starlette app under uvicorn in a background thread on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.errors import ConditionError
from airflow_provider_cwgl.glexport.request import FLAG_NAMES, SUMMARIZE_INVOICES
from airflow_provider_cwgl.sandbox import condition_eval
from airflow_provider_cwgl.sandbox.catalogue import API_VERSION
from airflow_provider_cwgl.sandbox.faults import Fault, Faults, RequestLog
from airflow_provider_cwgl.sandbox.jsonio import dumps
from airflow_provider_cwgl.sandbox.serving import LoopbackServer
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
    """ConnectWise's ErrorResponseMessage; a live ConnectWise sends ``"errors": null`` when there are none."""
    return cw_json({"code": code, "message": message, "errors": errors}, status, headers)


class _Refused(Exception):
    """Raised anywhere below a route: the ConnectWise error answer to send instead."""

    def __init__(self, status: int, code: str, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.response = error(status, code, message, errors)


def _invalid_field(
    field: str, code: str, message: str, resource: str = "batchExportParameters", summary: str = ""
) -> _Refused:
    """ConnectWise's 400 for one bad field of a request body (``resource``)."""
    errors = [{"code": code, "field": field, "resource": resource, "message": message}]
    return _Refused(400, "InvalidObject", summary or f"{resource} object is invalid", errors)


Handler = Callable[..., Response | None]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Serve ``method`` (``*``: any) on the API paths ``pattern`` matches whole, its groups passed to
    the handler. Routes are tried in the order they are defined; a handler returning None passes."""

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, re.compile(pattern), handler))
        return handler

    return register


def cw_json(content: Any, status: int = 200, headers: Any = None, base: str | None = None) -> Response:
    """JSON as ConnectWise sends it: exact decimals; with ``base``, stored ``_info`` hrefs made
    absolute for this server."""
    text = dumps(content)
    return Response(text.replace(BASE_PLACEHOLDER, base) if base else text, status, headers, MEDIA_TYPE)


class Sandbox(LoopbackServer):
    """A local ConnectWise Manage. Start with ``start()`` or as a context manager."""

    name, title = "cw-sandbox", "ConnectWise sandbox"

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
    def asgi_app(self) -> ASGIApp:
        return self.app

    @property
    def api_url(self) -> str:
        return f"{self.url}/{self.codebase}apis/3.0/"

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
    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        creds = self.credentials
        expected = f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}"
        try:
            given = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else None
        except (binascii.Error, UnicodeDecodeError):
            given = None
        if given != expected:
            raise _Refused(
                401, "Unauthorized", "Authentication failed: check company, public and private key."
            )
        if request.headers.get("clientid") != creds["client_id"]:
            raise _Refused(401, "Unauthorized", "A valid clientId header is required.")

    # -- routes -----------------------------------------------------------------------------------
    async def _company_info(self, request: Request) -> Response:
        company = request.path_params["company"]
        if company.lower() != self.credentials["company_id"].lower():
            return Response("null", media_type="application/json")
        info = {"CompanyName": "ConnectWise Sandbox", "Codebase": self.codebase, "CompanyID": company}
        info |= {"VersionCode": f"v{API_VERSION}", "VersionNumber": f"v{API_VERSION}.0", "IsCloud": False}
        return cw_json(info | {"SiteUrl": self.url})

    # -- admin (the sandbox's own knobs, for a sandbox run as a separate process) ----------------
    async def _stats(self, request: Request) -> Response:
        log = self.log
        return cw_json(
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

    # -- the API ----------------------------------------------------------------------------------
    async def _api(self, request: Request) -> Response:
        try:
            if request.path_params["codebase"] + "/" != self.codebase:
                raise _Refused(404, "NotFound", "The resource cannot be found.")
            self._authenticate(request)
            body = None
            if request.method == "POST":
                raw = await request.body()
                try:
                    body = loads(raw) if raw else {}
                except ValueError:
                    raise _Refused(400, "InvalidObject", "The request body is not valid JSON.") from None
            return await asyncio.to_thread(self._dispatch, request, body)
        except _Refused as exc:
            return exc.response
        except ConditionError as exc:
            return error(400, "InvalidCondition", str(exc))

    def _dispatch(self, request: Request, body: Any) -> Response:
        path = request.path_params["path"].strip("/")
        for method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(path)
            if match and method in ("*", request.method):
                response = handler(self, request, body, *match.groups())
                if response is not None:
                    return response
        return error(404, "NotFound", f"No endpoint {request.method} {path}.")

    @_route("POST", "finance/accounting/export")
    def _export(self, request: Request, body: Any) -> Response:
        documents = self.store.select(self._export_filter(body))
        return _stream(self.store.export_chunks(documents, self.api_url))

    @_route("POST", "finance/accounting/batches")
    def _create_batch(self, request: Request, body: Any) -> Response:
        resource = "accountingBatchParameters"
        if not isinstance(body, dict) or not isinstance(body.get("processedRecordIds"), list):
            raise _invalid_field(
                "processedRecordIds", "Required", "processedRecordIds is required.", resource
            )
        identifier = str(body.get("batchIdentifier") or datetime.now().strftime("%Y%m%d%H%M%S"))
        if len(identifier) > 50:
            too_long = "batchIdentifier is too long"
            raise _invalid_field("batchIdentifier", "MaxLength", "Max length: 50", resource, too_long)
        with self.store.lock:
            if any(b.identifier == identifier for b in self.store.batches.values()):
                taken = f"A batch with identifier {identifier} already exists."
                raise _invalid_field("batchIdentifier", "ObjectExists", taken, resource)
            flags = {kind: bool(body.get(flag)) for kind, flag in FLAG_NAMES.items()}
            batch = self.store.create_batch(identifier, flags, [int(i) for i in body["processedRecordIds"]])
        return _stream(self.store.export_chunks(self.store.batch_documents(batch), self.api_url), status=201)

    @_route("GET", r"finance/accounting/batches/*(count)?")
    def _batch_list(self, request: Request, body: Any, tail: str | None) -> Response:
        records = [self.store.batch_record(b, self.api_url) for b in self.store.batches.values()]
        return self._collection(request, records, tail)

    @_route("GET", r"finance/accounting/batches/*(\d+)(/entries)?")
    def _batch(self, request: Request, body: Any, batch_id: str, entries: str | None) -> Response | None:
        batch = self.store.batches.get(int(batch_id))
        if batch is None:
            return None  # a batch that is not there: see _batch_refused
        if entries:
            return self._collection(request, self.store.batch_entries(batch), None)
        return cw_json(self.store.batch_record(batch, self.api_url))

    @_route("POST", r"finance/accounting/batches/*(\d+)/export")
    def _batch_export(self, request: Request, body: Any, batch_id: str) -> Response | None:
        batch = self.store.batches.get(int(batch_id))
        if batch is None:
            return None
        return _stream(self.store.export_chunks(self.store.batch_documents(batch), self.api_url))

    @_route("*", r"finance/accounting/batches/*(.*)")
    def _batch_refused(self, request: Request, body: Any, rest: str) -> Response:
        match = re.fullmatch(r"(\d+)(?:/(entries|export))?", rest)
        if match and int(match[1]) in self.store.batches:
            return error(405, "MethodNotAllowed", f"{request.method} is not allowed here.")
        return error(404, "NotFound", f"Batch {rest} was not found.")

    @_route("GET", "system/info")
    def _system_info(self, request: Request, body: Any) -> Response:
        info = {"version": f"v{API_VERSION}.0", "isCloud": False, "serverTimeZone": "UTC"}
        return cw_json(info | {"licenseBits": [], "cloudRegion": "SANDBOX"})

    @_route("GET", rf"finance/accounting/({'|'.join(UNPOSTED_ENDPOINT.values())})(?:/(count|\d+))?")
    def _unposted(self, request: Request, body: Any, endpoint: str, tail: str | None) -> Response:
        kind = next(k for k, v in UNPOSTED_ENDPOINT.items() if v == endpoint)
        records = [d.unposted for d in self.store.unposted_documents() if d.kind == kind]
        return self._collection(request, records, tail)

    @_route("GET", r"(.+?)(?:/(count|\d+))?")
    def _resource(self, request: Request, body: Any, collection: str, tail: str | None) -> Response | None:
        records = self.store.collection(collection)
        return None if records is None else self._collection(request, records, tail)

    def _collection(self, request: Request, records: list[dict[str, Any]], tail: str | None) -> Response:
        """One record (``tail`` an id), a count, or a page of ``records`` as ConnectWise serves them."""
        params = request.query_params
        if tail is not None and tail.isdigit():
            for record in records:
                if str(record.get("id")) == tail:
                    return cw_json(record, base=self.api_url)
            raise _Refused(404, "NotFound", f"Record {tail} was not found.")
        if params.get("conditions"):
            predicate = condition_eval.parse(params["conditions"])
            records = [r for r in records if predicate(r)]
        if tail == "count":
            return cw_json({"count": len(records)})
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
            raise _Refused(400, "InvalidObject", "page and pageSize must be integers.") from None
        chunk = records[(page - 1) * size : page * size]
        if params.get("fields"):
            chunk = [_trim(r, params["fields"].split(",")) for r in chunk]
        last_page = max(1, -(-len(records) // size))
        query = {k: v for k, v in params.items() if k not in ("page", "pageSize")}
        pages = {"first": 1, "prev": page - 1, "next": page + 1 if page < last_page else 0, "last": last_page}
        links = [
            f'<{request.url.replace(query=urlencode({**query, "pageSize": size, "page": p}))}>; rel="{rel}"'
            for rel, p in pages.items()
            if p > 0
        ]
        return cw_json(chunk, base=self.api_url, headers={"Link": ", ".join(links)})

    def _export_filter(self, body: Any) -> ExportFilter:
        if not isinstance(body, dict):
            raise _Refused(400, "InvalidObject", "batchExportParameters is required.")
        flags = {kind: bool(body.get(flag)) for kind, flag in FLAG_NAMES.items()}
        if not any(flags.values()):
            what = "Batch export must include invoices, expenses, or products (procurement)."
            raise _invalid_field("exportInvoicesFlag", "Required", what)
        thru = None
        if body.get("thruDate"):
            try:
                thru = datetime.fromisoformat(str(body["thruDate"]).replace("Z", "+00:00")).date()
            except ValueError:
                raise _invalid_field(
                    "thruDate", "InvalidValue", "thruDate must be an ISO 8601 date-time."
                ) from None
        location = body.get("locationId")
        if location is not None and (isinstance(location, bool) or not isinstance(location, int)):
            raise _Refused(400, "InvalidObject", "locationId must be an integer.")
        if location == 0:
            location = None  # "all locations", as real integrations send it (connectwise-etl, SmartConnect)
        summarize = body.get("summarizeInvoices")
        if summarize is not None and summarize not in SUMMARIZE_INVOICES:
            allowed = f"summarizeInvoices must be one of: {', '.join(SUMMARIZE_INVOICES)}."
            raise _invalid_field("summarizeInvoices", "InvalidValue", allowed)
        lists: dict[bool, dict[str, set[Any]]] = {True: {}, False: {}}  # included?, kind -> ids
        for field, (kind, included, of_type) in EXPORT_ID_LISTS.items():
            ids = [] if body.get(field) is None else body[field]
            if not isinstance(ids, list) or not all(type(i) is of_type for i in ids):  # no bool for int
                of = "integers" if of_type is int else "strings"
                raise _invalid_field(field, "InvalidValue", f"{field} must be an array of {of}.")
            lists[included][kind] = set(ids)
        return ExportFilter(
            thru_date=thru, location_id=location, included=lists[True], excluded=lists[False], **flags
        )


def _stream(chunks: Iterable[str], status: int = 200) -> Response:
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
        raw_path: str = scope.get("path", "")
        if scope["type"] != "http" or raw_path.startswith("/_sandbox/"):  # admin: not logged, not faulted
            await self.app(scope, receive, send)
            return
        sandbox = self.sandbox
        query = scope.get("query_string", b"").decode("latin-1")
        head, marker, tail = raw_path.partition("/apis/3.0/")
        record = sandbox.log.begin(scope["method"], (tail if marker else head).strip("/"), query)

        async def logged_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                record.body += message.get("body", b"")
            return message

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            await send(message)

        try:
            url_length = len(sandbox.url) + len(scope.get("raw_path", raw_path.encode())) + 1 + len(query)
            if url_length > MAX_URL_LENGTH:
                too_long = f"The request URL is {url_length} characters; ConnectWise accepts at most"
                response = error(414, "RequestTooLong", f"{too_long} {MAX_URL_LENGTH}.")
                await response(scope, logged_receive, logged_send)
                return
            fault = sandbox.faults.for_request(record.method, record.path)
            if fault.latency:
                await asyncio.sleep(fault.latency)
            refusal = _refusal(sandbox, fault)
            if refusal is not None:
                await refusal(scope, logged_receive, logged_send)
            elif fault.distorts:
                await self._distorted(scope, logged_receive, logged_send, fault)
            else:
                await self.app(scope, logged_receive, logged_send)
        finally:
            sandbox.log.end(record, record.status)

    async def _distorted(self, scope: Scope, receive: Receive, send: Send, fault: Fault) -> None:
        """The app's answer, captured whole, then changed, cut short, sent slowly or dropped."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if fault.change_total:
            body = _change_first_total(body, Decimal(fault.change_total))
        if fault.malformed:
            body = body[: max(1, len(body) // 2)]
        # A dropped answer promises more than it sends, then stops: the client sees the connection cut.
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + (1000 if fault.drop else 0)).encode()))
        await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
        step = max(1, len(body) // 8)
        parts = (
            [body[: len(body) // 2]]
            if fault.drop
            else [body[i : i + step] for i in range(0, len(body), step)]
        )
        for part in parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
            if fault.drop:
                raise ConnectionAbortedError("sandbox: dropped the connection on purpose")
            if fault.slow_body:
                await asyncio.sleep(fault.slow_body)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _refusal(sandbox: Sandbox, fault: Fault) -> Response | None:
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
    if fault.status == 500:  # ConnectWise's own timeout: the one 500 a client may retry
        return error(500, "ConnectWiseApi", "A timeout has occured. Please try again.", headers=headers)
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
