"""HTTP client for Xero's Accounting API (``{host}/api.xro/2.0``), as a Custom Connection app.

Authentication: OAuth 2 client credentials (``POST token_url``, the client id and secret by HTTP
Basic); the token is kept for the client's life and renewed a minute before it expires, or once
when the API answers 401. The tenant is the connection's ``tenant_id``, else the only organisation
``GET {host}/connections`` lists.

Calls: JSON both ways (``Accept: application/json``: Xero answers XML otherwise), numbers read as
exact decimals, query booleans written ``true``/``false``; every write carries an
``Idempotency-Key``. Limits: paced per tenant (``pacing.Pacer``); 429 waits for ``Retry-After``
(a spent day is not waited for: ``XeroLimitError``); 5xx, dropped connections and timeouts are
retried with jittered exponential backoff. Secrets: the client secret and every token obtained go
through the ``Redactor`` before any text reaches an exception or a log.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import tenacity

from airflow_provider_cwgl import __version__
from airflow_provider_cwgl.connectwise.decoding import TooLarge, copy_body
from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.connectwise.redact import Redactor
from airflow_provider_cwgl.connectwise.transport import DeadlineExceeded, DeadlineTransport, deadline
from airflow_provider_cwgl.errors import (
    Retry,
    SettingError,
    XeroAuthError,
    XeroError,
    XeroLimitError,
    XeroTenantError,
)
from airflow_provider_cwgl.xero.pacing import Pacer
from airflow_provider_cwgl.xero.settings import XeroSettings

__all__ = ["MAX_IDEMPOTENCY_KEY", "XeroClient"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_IDEMPOTENCY_KEY = 128
# Renew a token this long before Xero's expiry (a call sent just before it must not arrive after).
TOKEN_MARGIN = 60.0
# An error body is read this far for its message.
ERROR_BODY_LIMIT = 64 * 1024
# The most validation messages one error keeps (a batch of documents can carry hundreds).
MAX_VALIDATION_ERRORS = 20
_IDEMPOTENCY_RE = re.compile(r"^[\x21-\x7e]+$")
_PATH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.\-]*$")


class _MalformedBody(Exception):
    """A 2xx answer whose body is not the JSON it should be (retried like a 5xx)."""


class XeroClient:
    """A synchronous Xero client, safe to share between the threads of a small pool (at most
    ``settings.concurrent`` calls are in flight at once; more threads wait for a slot).

    Use it as a context manager, or call ``close()``. ``on_secret`` is called with every token
    obtained (the hook passes Airflow's ``mask_secret``).
    """

    def __init__(
        self,
        settings: XeroSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._on_secret = on_secret
        pair = base64.b64encode(f"{settings.client_id}:{settings.client_secret}".encode()).decode()
        self._basic = f"Basic {pair}"
        self._secrets: list[str] = [settings.client_secret, pair]
        self.redact = Redactor(self._secrets)
        self._token: str | None = None
        self._token_renew_at = -float("inf")
        self._token_lock = threading.Lock()
        self._tenant_id = settings.tenant_id
        self._tenant_lock = threading.Lock()
        self._calls = 0
        self._calls_lock = threading.Lock()
        self._pacer = Pacer(
            settings.calls_per_minute, settings.concurrent, settings.calls_per_day, clock=clock, sleep=sleep
        )
        self._http = httpx.Client(
            headers={
                "Accept": "application/json",
                # Only what copy_body undoes in bounded steps.
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": f"airflow-provider-cwgl/{__version__}",
            },
            timeout=httpx.Timeout(settings.timeout),
            transport=transport or DeadlineTransport(settings.concurrent + 1),
            follow_redirects=False,
        )

    def __enter__(self) -> XeroClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"XeroClient({self.settings!r})"

    @property
    def calls(self) -> int:
        """Requests sent to the accounting API so far (each retry counts: Xero counts it too)."""
        return self._calls

    # -- tenant -------------------------------------------------------------------------------
    @property
    def tenant_id(self) -> str:
        """The connection's ``tenant_id``, else the one organisation the token reaches."""
        with self._tenant_lock:
            if self._tenant_id is None:
                self._tenant_id = self._only_tenant(self.connections())
            return self._tenant_id

    def connections(self) -> list[dict[str, Any]]:
        """The tenants the token reaches (``GET {host}/connections``), as Xero lists them."""
        body = self._request("GET", self.settings.connections_url, "connections", accounting=False)
        if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
            raise XeroError(
                method="GET",
                path="connections",
                status=200,
                message="expected a JSON array of connections",
                retry=Retry.LATER,
            )
        return body

    def tenant(self) -> dict[str, Any]:
        """The ``/connections`` row of the tenant in use: the configured ``tenant_id`` must be one
        the token reaches (the connection test's check)."""
        rows = self.connections()
        with self._tenant_lock:
            if self._tenant_id is None:
                self._tenant_id = self._only_tenant(rows)
            wanted = self._tenant_id
        for row in rows:
            if str(row.get("tenantId", "")).lower() == wanted.lower():
                return row
        raise XeroTenantError(
            "extra.tenant_id",
            f"{wanted} is not an organisation the connection's token reaches ({self._listing(rows)})",
        )

    def _listing(self, rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "it reaches none"
        return "; ".join(
            self.redact(f"{row.get('tenantId')} ({row.get('tenantName') or 'no name'})") for row in rows
        )

    def _only_tenant(self, connections: list[dict[str, Any]]) -> str:
        if len(connections) == 1 and connections[0].get("tenantId"):
            return str(connections[0]["tenantId"])
        reach = (
            f"reaches {len(connections)} Xero organisations: {self._listing(connections)}"
            if connections
            else "reaches no Xero organisation"
        )
        raise XeroTenantError(
            "extra.tenant_id",
            f"not set, and the connection's token {reach}. Set the connection's extra tenant_id to "
            "the tenantId of the organisation to load into"
            + (
                ""
                if connections
                else " (and connect the Custom Connection app to it in Xero's developer portal)"
            ),
        )

    # -- public calls -------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET ``{api_root}/{path}`` (``Invoices``, ``Contacts``) and return its JSON object."""
        return self._accounting("GET", path, params, None, None)

    def put(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """PUT (Xero: create) a JSON body; ``idempotency_key`` (1 to 128 visible ASCII
        characters) makes a retry of the same write safe."""
        return self._accounting("PUT", path, params, body, idempotency_key)

    def post(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str,
        params: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """POST (Xero: create or update) a JSON body, with an ``Idempotency-Key`` as ``put``."""
        return self._accounting("POST", path, params, body, idempotency_key)

    def _accounting(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        # Everything the caller gave is checked before anything (a token, the tenant) is asked for.
        path = _checked_path(path)
        headers: dict[str, str] = {}
        content = None
        if method != "GET":
            headers["Idempotency-Key"] = _checked_key(idempotency_key)
        if body is not None:
            if not isinstance(body, Mapping):
                raise SettingError("body", f"must be a JSON object (a dict), got {type(body).__name__}")
            content = encode_json(body)
            headers["Content-Type"] = "application/json"
        headers["xero-tenant-id"] = self.tenant_id
        answer = self._request(
            method,
            f"{self.settings.api_root}/{path}",
            path,
            params=query_params(params),
            content=content,
            headers=headers,
        )
        if answer is None:
            return {}
        if not isinstance(answer, dict):
            raise XeroError(
                method=method, path=path, status=200, message="expected a JSON object", retry=Retry.LATER
            )
        return answer

    # -- one call, retried --------------------------------------------------------------------
    def _request(
        self,
        method: str,
        url: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        accounting: bool = True,
    ) -> Any:
        """One call with retries. A write is safe to retry (after a 5xx, a timeout or a dropped
        connection, when Xero may have done it) only because it carries the same Idempotency-Key
        on every attempt: Xero answers a repeated key with the first attempt's outcome."""
        renewed = False

        def send(token: str) -> Any:
            request = self._http.build_request(
                method,
                url,
                params=params,
                content=content,
                headers={**(headers or {}), "Authorization": f"Bearer {token}"},
            )
            if not accounting:
                return self._exchange(request, method, path)[1]
            with self._pacer.slot(method, path):
                with self._calls_lock:
                    self._calls += 1
                return self._exchange(request, method, path, observe=True)[1]

        def attempt() -> Any:
            nonlocal renewed
            token = self._access_token()
            try:
                return send(token)
            except XeroError as exc:
                if exc.status != 401 or renewed or isinstance(exc, XeroAuthError):
                    raise
            # A token Xero revoked or no longer accepts: one new token, one more try.
            renewed = True
            log.info("Xero %s %s: the access token was refused (401); renewing it once", method, path)
            self._forget_token(token)
            return send(self._access_token())

        return self._retried(method, path, attempt)

    def _exchange(
        self, request: httpx.Request, method: str, path: str, *, observe: bool = False
    ) -> tuple[httpx.Response, Any]:
        """Send one request under the deadline; only a 2xx is success. Returns its parsed JSON."""
        settings = self.settings
        buffer = io.BytesIO()
        try:
            with deadline(settings.request_deadline):
                response = self._http.send(request, stream=True)
                try:
                    if observe:
                        self._pacer.observe(response.headers)
                    if not 200 <= response.status_code < 300:
                        raise self._http_error(response, method, path)
                    copy_body(response, buffer, settings.max_response_bytes)
                finally:
                    response.close()
        except DeadlineExceeded:
            raise XeroError(
                method=method,
                path=path,
                status=None,
                message=f"the whole request took longer than request_deadline={settings.request_deadline:g}s; not retried",
                retry=Retry.LATER,
            ) from None
        except TooLarge:
            raise XeroError(
                method=method,
                path=path,
                status=response.status_code,
                message=f"the answer is larger than {settings.max_response_bytes} bytes; stopped reading",
                retry=Retry.LATER,
            ) from None
        except (ValueError, zlib.error) as exc:
            raise _MalformedBody(f"the answer cannot be decoded ({_short(self.redact(str(exc)))})") from None
        content = buffer.getvalue()
        if not content.strip():
            return response, None
        try:
            return response, loads(content)
        except (ValueError, RecursionError) as exc:
            raise _MalformedBody(f"the answer is not valid JSON ({_short(self.redact(str(exc)))})") from None

    def _http_error(self, response: httpx.Response, method: str, path: str) -> XeroError:
        """The error for a non-2xx answer; everything taken from it is redacted."""
        status = response.status_code
        retry_after = _retry_after(response)
        if status == 429:
            problem = response.headers.get("X-Rate-Limit-Problem", "").strip().lower()
            if problem == "day":
                self._pacer.day_spent()
                return XeroLimitError(method=method, path=path, status=429, retry_after=retry_after)
            wait = min(
                retry_after if retry_after is not None else self.settings.default_retry_after,
                self.settings.max_retry_after,
            )
            self._pacer.pause(wait)
            return XeroError(
                method=method,
                path=path,
                status=429,
                message=f"rate limit reached ({self.redact(problem) or 'no X-Rate-Limit-Problem'})",
                retry_after=wait,
            )
        if 300 <= status < 400:
            return XeroError(
                method=method,
                path=path,
                status=status,
                message="redirects are not followed (the token would go with them): set the connection's "
                "host to Xero's API host",
                retry=Retry.NEVER,
            )
        buffer = io.BytesIO()
        try:
            copy_body(response, buffer, ERROR_BODY_LIMIT, truncate=True)
            body = loads(buffer.getvalue()) if buffer.getvalue().strip() else None
        except (httpx.HTTPError, ValueError, RecursionError, zlib.error, DeadlineExceeded):
            body = None
        message, errors = _xero_messages(body)
        if message is None and buffer.getvalue().strip() and not isinstance(body, (dict, list)):
            message = buffer.getvalue().decode("utf-8", "replace")
        return XeroError(
            method=method,
            path=path,
            status=status,
            message=_short(self.redact(message)) if message else None,
            validation_errors=[_short(self.redact(e)) for e in errors],
            retry_after=retry_after,
        )

    # -- the token ----------------------------------------------------------------------------
    def _access_token(self) -> str:
        """The cached token, or a new one when it is within ``TOKEN_MARGIN`` of its expiry."""
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_renew_at:
                try:
                    self._token, lifetime = self._retried("POST", self.settings.token_url, self._fetch_token)
                except XeroError as exc:
                    # Retried enough here: the call that needed the token must not retry it again.
                    if exc.retry is Retry.NOW:
                        exc.retry = Retry.LATER
                    raise
                self._token_renew_at = self._clock() + lifetime - min(TOKEN_MARGIN, lifetime / 2)
            return self._token

    def _forget_token(self, token: str) -> None:
        """Drop ``token`` unless another thread has already replaced it."""
        with self._token_lock:
            if self._token == token:
                self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        request = self._http.build_request(
            "POST", self.settings.token_url, data={"grant_type": "client_credentials"}
        )
        request.headers["Authorization"] = self._basic
        where = self.settings.token_url
        try:
            _, body = self._exchange(request, "POST", where)
        except XeroError as exc:
            # Xero answers 400 invalid_client for an unknown id or a wrong secret (OAuth 2's 401 too).
            if exc.status in (400, 401, 403):
                raise XeroAuthError(
                    method="POST", path=where, status=exc.status, message=exc.message
                ) from None
            raise
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or isinstance(lifetime, bool):
            raise XeroError(
                method="POST",
                path=where,
                status=200,
                message="the token endpoint's answer has no access_token",
                retry=Retry.LATER,
            )
        # Before anything could show it: the redactor and Airflow's masker learn the token first.
        self._secrets.append(token)
        self.redact = Redactor(self._secrets)
        if self._on_secret is not None:
            self._on_secret(token)
        try:
            seconds = float(lifetime) if lifetime is not None else 1800.0
        except (TypeError, ValueError):
            seconds = 1800.0  # Xero's tokens live 30 minutes
        return token, max(seconds, 1.0)

    # -- retries ------------------------------------------------------------------------------
    def _retried(self, method: str, path: str, attempt: Callable[[], T]) -> T:
        """``attempt()``, tried again on a 429, a 5xx, a dropped connection or a timeout."""
        settings = self.settings
        jitter = tenacity.wait_random_exponential(multiplier=settings.backoff_base, max=settings.backoff_max)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, XeroError) and exc.status == 429 and exc.retry_after is not None:
                return exc.retry_after  # already capped at max_retry_after
            return float(jitter(state))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "Xero %s %s attempt %d/%d failed (%s); retrying in %.1fs",
                method,
                path,
                state.attempt_number,
                settings.max_attempts,
                self._describe(exc),
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(settings.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(_is_transient),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

        try:
            return retrying(attempt)
        except XeroError as exc:
            # An error from a nested call (the token's) keeps its own count.
            exc.attempts = max(exc.attempts, retrying.statistics.get("attempt_number", 1))
            raise
        except (httpx.TransportError, _MalformedBody) as exc:
            # Not chained: a transport error's text may quote what the server sent.
            raise XeroError(
                method=method,
                path=path,
                status=None,
                message=self._describe(exc),
                attempts=retrying.statistics.get("attempt_number", 1),
            ) from None

    def _describe(self, exc: BaseException | None) -> str:
        if isinstance(exc, XeroError):
            return f"HTTP {exc.status}" + (f" {exc.message}" if exc.message else "")
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out ({type(exc).__name__})"
        if isinstance(exc, httpx.TransportError):
            detail = _short(self.redact(str(exc)))
            return f"connection failed ({type(exc).__name__}{': ' + detail if detail else ''})"
        return _short(self.redact(str(exc))) if exc else "unknown"


# -- helpers ------------------------------------------------------------------------------------
def query_params(params: Mapping[str, Any] | None) -> httpx.QueryParams | None:
    """Query parameters as Xero (and its OpenAPI description) spell them: booleans ``true`` /
    ``false`` (not Python's ``False``), lists comma-separated (``InvoiceNumbers=A,B``), None left out."""
    if not params:
        return None
    out: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            text = ",".join(_query_value(v) for v in value)
        else:
            text = _query_value(value)
        out.append((str(name), text))
    return httpx.QueryParams(out)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # A JSON number, written by float's shortest repr: exact only up to 15 significant digits,
        # which every amount to the cent below 10**13 is. Anything longer is refused, not rounded.
        number = float(value)
        if Decimal(repr(number)) != value:
            raise ValueError(f"{value} cannot be sent as a JSON number exactly")
        return number
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_json(body: Mapping[str, Any]) -> bytes:
    """A request body as JSON bytes; ``Decimal`` amounts become exact numbers, dates ISO text."""
    return json.dumps(
        body, default=_json_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _checked_key(key: str | None) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_RE.match(key) or len(key) > MAX_IDEMPOTENCY_KEY:
        shown = f"{len(key)} characters" if isinstance(key, str) else repr(key)
        raise SettingError(
            "idempotency_key",
            f"every write needs an Idempotency-Key of 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII "
            f"characters (no spaces), got {shown}",
        )
    return key


def _checked_path(path: str) -> str:
    clean = str(path).strip("/")
    if not _PATH_RE.match(clean) or ".." in clean:
        raise SettingError(
            "path", f"must be a path under the accounting API such as Invoices or Contacts, got {path!r}"
        )
    return clean


def _xero_messages(body: Any) -> tuple[str | None, list[str]]:
    """Xero's ``Message`` (or ``Detail``/``Title`` of an auth error, ``error`` of the token
    endpoint) and every ``Elements[].ValidationErrors[].Message``."""
    if not isinstance(body, dict):
        return None, []
    message = body.get("Message") or body.get("Detail") or body.get("Title") or body.get("error")
    if body.get("error_description"):
        message = f"{message}: {body['error_description']}"
    errors: list[str] = []
    for element in body.get("Elements") or []:
        for error in (element.get("ValidationErrors") or []) if isinstance(element, dict) else []:
            if isinstance(error, dict) and error.get("Message") and len(errors) < MAX_VALIDATION_ERRORS:
                errors.append(str(error["Message"]))
    return (str(message) if message else None), errors


def _short(text: str, limit: int = 300) -> str:
    """One line of at most ``limit`` characters (cut after redaction)."""
    return " ".join(text.split())[:limit]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, XeroError):
        return exc.retry is Retry.NOW
    return isinstance(exc, (httpx.TransportError, _MalformedBody))
