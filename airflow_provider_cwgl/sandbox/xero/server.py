"""The sandbox Xero's HTTP face: the token endpoint, the tenants, and the accounting API at
``/api.xro/2.0`` with Xero's envelopes, errors, limits and idempotency keys.

``XeroSandbox`` runs an ASGI app under uvicorn in a background thread on 127.0.0.1, as the
ConnectWise ``Sandbox`` does.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.errors import XeroQueryError
from airflow_provider_cwgl.sandbox.faults import Faults, RequestLog, RequestRecord
from airflow_provider_cwgl.sandbox.jsonio import dumps
from airflow_provider_cwgl.sandbox.serving import LoopbackServer
from airflow_provider_cwgl.sandbox.xero import where
from airflow_provider_cwgl.sandbox.xero.limits import LimitTracker, Refusal, XeroLimits
from airflow_provider_cwgl.sandbox.xero.store import ID_FIELD, WRITABLE, Record, XeroStore, now_utc, xero_date

API_PREFIX = "/api.xro/2.0"
TOKEN_PATH = "/connect/token"
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_IDEMPOTENCY_KEY = 128
# Xero's client ids are 32 hexadecimal characters, its secrets 48 characters.
DEFAULT_XERO_CREDENTIALS = {
    "client_id": "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
    "client_secret": "sandbox-xero-secret-Q2hhbmdlTWUtTm90LVJlYWwtMDE",
}
SCOPES = "accounting.transactions accounting.contacts accounting.settings.read"
PROVIDER_NAME = "cwgl sandbox"
READ_ONLY = ("Accounts", "TaxRates")
# Collections by the lower-cased name a request uses: Xero's paths are not case-sensitive.
_COLLECTIONS = {name.lower(): name for name in (*WRITABLE, *READ_ONLY)}
# GET list parameters that filter on a field, comma-separated (Invoices and Contacts declare them).
_LIST_FILTERS: dict[str, str | None] = {
    "ids": None,
    "invoicenumbers": "InvoiceNumber",
    "contactids": "Contact.ContactID",
}
_LIST_FILTERS |= {"statuses": "Status"}


@dataclass
class _Answer:
    """An answer to send, and whether to drop the connection instead (the write is kept)."""

    response: Response
    drop: bool = False


def xero_json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON as Xero sends it: money as exact decimals."""
    return Response(dumps(content), status, headers, "application/json; charset=utf-8")


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The problem document Xero's gateway answers a refused token or tenant with."""
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4())}
    return JSONResponse(body | {"Extensions": {}}, status, headers)


def _api_exception(number: int, kind: str, message: str, elements: list[Record] | None = None) -> Response:
    """Xero's 400 ``ApiException`` (the spec's ``Error`` schema)."""
    body: Record = {"ErrorNumber": number, "Type": kind, "Message": message}
    return xero_json(body | ({"Elements": elements} if elements is not None else {}), 400)


class XeroSandbox(LoopbackServer):
    """A local Xero. Start with ``start()`` or as a context manager; ``url`` is the host root (the
    connection's host), the accounting API is under ``api_url``.

    ``tenants``: the organisations a token reaches (``GET /connections``); by default ``[store]``.
    Set it to ``[]`` or add a second ``XeroStore`` to test how a client picks its tenant.
    ``token_lifetime``: seconds an access token lives (Xero: 1800).
    """

    name, title = "xero-sandbox", "Xero sandbox"

    def __init__(
        self,
        store: XeroStore | None = None,
        *,
        tenants: Sequence[XeroStore] | None = None,
        limits: XeroLimits | None = None,
        faults: Faults | None = None,
        credentials: dict[str, str] | None = None,
        token_lifetime: float = 1800.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store = store if store is not None else XeroStore()
        self.tenants: list[XeroStore] = list(tenants) if tenants is not None else [self.store]
        self.limits = limits or XeroLimits()
        self.faults = faults or Faults()
        self.credentials = {**DEFAULT_XERO_CREDENTIALS, **(credentials or {})}
        self.token_lifetime = token_lifetime
        self.host = host
        self.port = port
        self.log = RequestLog()
        self.tokens: dict[str, float] = {}  # access token -> when it expires (time.monotonic)
        self._tracker = LimitTracker(self.limits)
        # (tenant, path, key) -> the first answer: (status, body, content type)
        self._idempotent: dict[tuple[str, str, str], tuple[int, bytes, str]] = {}
        self._write_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------
    def asgi_app(self) -> XeroSandbox:
        return self

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def token_url(self) -> str:
        return self.url + TOKEN_PATH

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far: method, path (below ``/api.xro/2.0`` for the API, e.g. ``Invoices``;
        whole otherwise, e.g. ``/connect/token``), query, headers (without ``Authorization``), body,
        and the answer's status, headers and body."""
        return list(self.log.records)

    def connection(
        self, *, host: str | None = None, with_tenant: bool = True, **extra: Any
    ) -> dict[str, Any]:
        """The Airflow connection (JSON form, conn_type ``xero``) that reaches this sandbox.

        ``host``: another API root in front of it (a validating proxy); the token URL stays here.
        ``with_tenant``: name the tenant in the extras (else the client asks ``/connections``).
        """
        extras: dict[str, Any] = {"token_url": self.token_url}
        if with_tenant:
            extras["tenant_id"] = self.store.tenant_id
        return {
            "conn_type": "xero",
            "host": host or self.url,
            "login": self.credentials["client_id"],
            "password": self.credentials["client_secret"],
            "extra": extras | extra,
        }

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    # -- ASGI -------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path: str = scope["path"]
        headers = Headers(scope=scope)
        record = self.log.begin(
            scope["method"],
            path[len(API_PREFIX) :].strip("/") if path.startswith(API_PREFIX + "/") else path,
            scope.get("query_string", b"").decode("latin-1"),
            {k: v for k, v in headers.items() if k != "authorization"},
        )
        record.body = body
        status = 500
        try:
            answer = await self._answer(
                scope["method"], path, headers, QueryParams(scope["query_string"]), body, record
            )
            status = answer.response.status_code
            if answer.drop:
                # The write is committed; the answer is lost on the way: promise a body, send none.
                await send(
                    {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"64")]}
                )
                raise ConnectionAbortedError("sandbox: dropped the answer on purpose")

            async def no_body() -> Message:
                return {"type": "http.disconnect"}

            async def recorded(message: Message) -> None:
                if message["type"] == "http.response.start":
                    record.response_headers = {k.decode(): v.decode() for k, v in message.get("headers", [])}
                elif message["type"] == "http.response.body" and path != TOKEN_PATH:  # a token is a secret
                    record.response_body += message.get("body", b"")
                await send(message)

            await answer.response(scope, no_body, recorded)
        finally:
            self.log.end(record, status)

    async def _answer(
        self, method: str, path: str, headers: Headers, query: QueryParams, body: bytes, record: RequestRecord
    ) -> _Answer:
        if path == TOKEN_PATH:
            return _Answer(self._token(method, headers, body))
        if path.lower() == "/connections" and method == "GET":
            return _Answer(self._authenticated(headers) or self._connections())
        if not path.startswith(API_PREFIX + "/"):
            return _Answer(PlainTextResponse("The resource you're looking for cannot be found", 404))
        refused = self._authenticated(headers)
        if refused is not None:
            return _Answer(refused)
        tenant = next((t for t in self.tenants if t.tenant_id == headers.get("xero-tenant-id")), None)
        if tenant is None:
            return _Answer(_problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        over = self._tracker.enter(tenant.tenant_id)
        if over is not None:
            return _Answer(self._with_limits(tenant, _over_limit(over)))
        try:
            answer = await self._accounting(method, record.path, headers, query, body, tenant)
            answer.response = self._with_limits(tenant, answer.response)
            return answer
        finally:
            self._tracker.leave(tenant.tenant_id)

    def _with_limits(self, tenant: XeroStore, response: Response) -> Response:
        response.headers.update(self._tracker.remaining(tenant.tenant_id))
        return response

    # -- auth -------------------------------------------------------------------------------------
    def _token(self, method: str, headers: Headers, body: bytes) -> Response:
        """OAuth 2 client credentials (Xero Custom Connections): client id and secret by HTTP Basic."""
        if method != "POST":
            return PlainTextResponse("Method Not Allowed", 405)
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        authorization = headers.get("authorization", "")
        try:
            given = (
                base64.b64decode(authorization[6:], validate=True).decode()
                if authorization.startswith("Basic ")
                else ""
            )
        except (binascii.Error, UnicodeDecodeError):
            given = ""
        expected = f"{self.credentials['client_id']}:{self.credentials['client_secret']}"
        if not secrets.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": "invalid_client"}, 401)
        token = secrets.token_urlsafe(48)
        self.tokens[token] = time.monotonic() + self.token_lifetime
        expires_in = max(1, math.ceil(self.token_lifetime))
        return JSONResponse(
            {"access_token": token, "expires_in": expires_in, "token_type": "Bearer", "scope": SCOPES}
        )

    def _authenticated(self, headers: Headers) -> Response | None:
        """None when the bearer token is valid, else Xero's 401."""
        authorization = headers.get("authorization", "")
        expiry = self.tokens.get(authorization[7:]) if authorization.startswith("Bearer ") else None
        if expiry is not None and expiry > time.monotonic():
            return None
        detail = "TokenExpired: token expired" if expiry is not None else "AuthenticationUnsuccessful"
        return _problem(401, "Unauthorized", detail, {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def _connections(self) -> Response:
        # Xero writes these without a zone (the spec's example too), which is not an RFC 3339
        # date-time as the spec's format says; the sandbox sends the zone.
        stamp = now_utc().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return JSONResponse(
            [
                {
                    "id": tenant.connection_id,
                    "authEventId": tenant.connection_id,
                    "tenantId": tenant.tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": tenant.name,
                    "createdDateUtc": stamp,
                    "updatedDateUtc": stamp,
                }
                for tenant in self.tenants
            ]
        )

    # -- the accounting API -----------------------------------------------------------------------
    async def _accounting(
        self, method: str, path: str, headers: Headers, query: QueryParams, body: bytes, tenant: XeroStore
    ) -> _Answer:
        if "application/json" not in headers.get("accept", ""):
            # Xero answers XML unless asked for JSON; the sandbox speaks JSON only.
            return _Answer(
                PlainTextResponse("The sandbox Xero answers JSON only: send Accept: application/json", 406)
            )
        fault = self.faults.for_request(method, path)
        if fault.latency:
            await asyncio.sleep(fault.latency)
        if fault.status == 429:
            return _Answer(_over_limit(Refusal("minute", math.ceil(fault.retry_after or 1))))
        if fault.status is not None:
            return _Answer(PlainTextResponse("The sandbox injected this failure.", fault.status))
        key = headers.get("idempotency-key")
        if method in ("PUT", "POST") and key:
            if len(key) > MAX_IDEMPOTENCY_KEY:
                message = f"The Idempotency-Key must be {MAX_IDEMPOTENCY_KEY} characters or fewer."
                return _Answer(_api_exception(10, "ValidationException", message))
            response = await asyncio.to_thread(self._idempotent_write, tenant, method, path, query, body, key)
        else:
            response = await asyncio.to_thread(self._dispatch, tenant, method, path, query, body)
        return _Answer(response, drop=fault.drop)

    def _idempotent_write(
        self, tenant: XeroStore, method: str, path: str, query: QueryParams, body: bytes, key: str
    ) -> Response:
        """The first answer to this key on this path, replayed; nothing is written twice."""
        slot = (tenant.tenant_id, path.lower(), key)
        with self._write_lock:
            if slot not in self._idempotent:
                first = self._dispatch(tenant, method, path, query, body)
                self._idempotent[slot] = (first.status_code, bytes(first.body), first.media_type or "")
            status, content, media_type = self._idempotent[slot]
        return Response(content, status, media_type=media_type)

    def _dispatch(
        self, tenant: XeroStore, method: str, path: str, query: QueryParams, body: bytes
    ) -> Response:
        parts = path.split("/")
        collection = _COLLECTIONS.get(parts[0].lower())
        if collection is None or len(parts) > 2:
            return PlainTextResponse("The resource you're looking for cannot be found", 404)
        identifier = parts[1] if len(parts) == 2 else None
        if method == "GET":
            return self._read(tenant, collection, identifier, query)
        if method in ("PUT", "POST") and collection in WRITABLE and not (method == "PUT" and identifier):
            return self._write(tenant, collection, identifier, method, query, body)
        return PlainTextResponse("Method Not Allowed", 405)

    def _read(
        self, tenant: XeroStore, collection: str, identifier: str | None, query: QueryParams
    ) -> Response:
        with tenant.lock:
            records = _all_records(tenant, collection)
        if identifier is not None:
            wanted = identifier.lower()
            found = [r for r in records if str(r.get(ID_FIELD[collection], "")).lower() == wanted]
            if not found and collection == "Contacts":
                found = [r for r in records if str(r.get("ContactNumber", "")).lower() == wanted]
            if not found:
                return PlainTextResponse("The resource you're looking for cannot be found", 404)
            return xero_json(_envelope(collection, found))
        try:
            if query.get("where"):
                predicate = where.parse(query["where"])
                records = [r for r in records if predicate(r)]
        except XeroQueryError as exc:
            return _api_exception(16, "QueryParseException", str(exc))
        for name, value in query.items():
            if name.lower() not in _LIST_FILTERS or not value:
                continue
            wanted_values = {v.strip().strip('"').lower() for v in value.split(",") if v.strip()}
            field_path = _LIST_FILTERS[name.lower()] or ID_FIELD[collection]
            records = [r for r in records if str(_lookup(r, field_path) or "").lower() in wanted_values]
        if query.get("order"):
            field_name, _, direction = query["order"].strip().partition(" ")
            records.sort(key=lambda r: str(_lookup(r, field_name) or ""), reverse=direction.upper() == "DESC")
        if "page" not in query:
            return xero_json(_envelope(collection, records))
        try:
            page = max(1, int(query["page"]))
            size = min(MAX_PAGE_SIZE, max(1, int(query.get("pageSize", PAGE_SIZE))))
        except ValueError:
            return _api_exception(16, "QueryParseException", "page and pageSize must be whole numbers.")
        chunk = records[(page - 1) * size : page * size]
        pagination = {"page": page, "pageSize": size, "pageCount": max(1, -(-len(records) // size))}
        return xero_json(_envelope(collection, chunk, pagination | {"itemCount": len(records)}))

    def _write(
        self,
        tenant: XeroStore,
        collection: str,
        identifier: str | None,
        method: str,
        query: QueryParams,
        body: bytes,
    ) -> Response:
        try:
            document = loads(body) if body else None
        except ValueError:
            return _api_exception(17, "PostDataInvalidException", "The request body is not valid JSON.")
        if isinstance(document, dict) and isinstance(document.get(collection), list):
            elements: list[Any] = document[collection]
        elif isinstance(document, dict) and collection not in document:
            elements = [document]  # Xero also takes one element without its collection's wrapper
        else:
            message = f'The body must be {{"{collection}": [...]}}.'
            return _api_exception(17, "PostDataInvalidException", message)
        if identifier is not None:
            elements = [
                {**e, ID_FIELD[collection]: identifier} if isinstance(e, dict) else e for e in elements
            ]
        summarize = query.get("summarizeErrors", "true").lower() != "false"
        result = tenant.write(collection, elements, match_numbers=method == "POST", atomic=summarize)
        if result.errors and summarize:
            failed = [e for e in result.elements if e.get("ValidationErrors")]
            return _api_exception(10, "ValidationException", "A validation exception occurred", failed)
        return xero_json(_envelope(collection, result.elements))


def _all_records(tenant: XeroStore, collection: str) -> list[Record]:
    if collection == "Accounts":
        return list(tenant.accounts)
    if collection == "TaxRates":
        return list(tenant.tax_rates)
    return list(tenant.records[collection].values())


def _lookup(record: Record, dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _envelope(collection: str, records: list[Record], pagination: dict[str, int] | None = None) -> Record:
    """Xero's answer around a collection: its id, status, the app's name and the time."""
    envelope: Record = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME}
    envelope["DateTimeUTC"] = xero_date(now_utc()).replace("+0000", "")
    if pagination is not None:
        envelope["pagination"] = pagination
    return envelope | {collection: records}


def _over_limit(refusal: Refusal) -> Response:
    headers = {"Retry-After": str(refusal.retry_after), "X-Rate-Limit-Problem": refusal.problem}
    return PlainTextResponse("Rate limit exceeded", 429, headers)


__all__ = ["API_PREFIX", "DEFAULT_XERO_CREDENTIALS", "TOKEN_PATH", "XeroSandbox"]
