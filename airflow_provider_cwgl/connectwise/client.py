"""HTTP client for ConnectWise Manage's REST API (``{site}/{codebase}apis/3.0/``).

What it does the way ConnectWise documents it: Basic auth ``company+public:private`` and a
``clientId`` header on every call; codebase discovery from ``login/companyinfo`` (cached, and
re-discovered once when a 404 suggests the site moved); paging through the ``Link`` header; JSON
numbers read as exact decimals; retries for 429 (honouring ``Retry-After``), 5xx and network faults.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_cwgl.connectwise.errors import ConnectWiseError
from airflow_provider_cwgl.connectwise.settings import ConnectWiseSettings

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 1000


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping money exact: non-integers become ``Decimal``, never ``float``."""
    return json.loads(data, parse_float=Decimal)


class _MalformedBody(Exception):
    """A 2xx response whose body is not the complete JSON document it claims to be."""


class ConnectWiseClient:
    """A synchronous, thread-safe ConnectWise client. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        settings: ConnectWiseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_connections: int = 16,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._codebase = settings.codebase
        self._codebase_pinned = settings.codebase is not None
        self._rediscovered = False
        self._lock = threading.Lock()
        self._http = httpx.Client(
            auth=httpx.BasicAuth(settings.basic_username, settings.private_key),
            headers={
                "clientId": settings.client_id,
                "Accept": settings.accept_header(),
                "Cache-Control": "no-cache",
            },
            timeout=httpx.Timeout(settings.timeout),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
        )

    def __enter__(self) -> ConnectWiseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- codebase -----------------------------------------------------------------------------
    @property
    def codebase(self) -> str:
        with self._lock:
            if self._codebase is None:
                self._codebase = self._discover_codebase()
            return self._codebase

    @property
    def base_url(self) -> str:
        return f"{self.settings.site}/{self.codebase}apis/3.0/"

    def _discover_codebase(self) -> str:
        path = f"login/companyinfo/{self.settings.company_id}"

        def attempt() -> Any:
            # companyinfo needs no credentials: send none, so a mistyped site never receives them.
            request = self._http.build_request("GET", f"{self.settings.site}/{path}")
            del request.headers["clientId"]
            return _checked_json(self._http.send(request, auth=None), "GET", path)

        body = self._retrying("GET", path)(attempt)
        codebase = body.get("Codebase") if isinstance(body, Mapping) else None
        if not codebase:
            raise ConnectWiseError(
                method="GET",
                path=path,
                status=200,
                code="UnknownCompany",
                message="ConnectWise returned no codebase: check company_id and host",
            )
        value = str(codebase).strip("/") + "/"
        log.info("ConnectWise codebase for this site is %s", value)
        return value

    def _rediscover_after_404(self) -> bool:
        """On a 404 re-read the codebase once per client; True when it changed and the call may be retried."""
        with self._lock:
            if self._codebase_pinned or self._rediscovered:
                return False
            self._rediscovered = True
            old = self._codebase
            self._codebase = self._discover_codebase()
            if self._codebase != old:
                log.warning("ConnectWise codebase changed from %s to %s; retrying", old, self._codebase)
                return True
            return False

    # -- public calls -------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one resource (e.g. ``company/companies/8``) and return its JSON."""
        return self.request("GET", path, params=params)[1]

    def post(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body and return the JSON answer (None for an empty 2xx body)."""
        return self.request("POST", path, json_body=body, params=params)[1]

    def list(
        self,
        path: str,
        *,
        conditions: str | None = None,
        fields: str | None = None,
        order_by: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        extra_params: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint, following ``Link: rel="next"`` across pages."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        params: dict[str, Any] = {"pageSize": page_size, "page": 1, **(extra_params or {})}
        for key, value in (("conditions", conditions), ("fields", fields), ("orderBy", order_by)):
            if value:
                params[key] = value
        while True:
            response, page = self.request("GET", path, params=params)
            if not isinstance(page, list):
                raise ConnectWiseError(
                    method="GET",
                    path=path,
                    status=response.status_code,
                    code="UnexpectedBody",
                    message="expected a JSON array from a list endpoint",
                )
            yield from page
            next_url = response.links.get("next", {}).get("url")
            if not next_url or not page:
                return
            # Take the paging parameters ConnectWise hands back but keep our own host and codebase.
            params = dict(httpx.URL(next_url).params)

    def post_to_file(
        self,
        path: str,
        body: Any,
        dest: IO[bytes],
        *,
        verify: Callable[[IO[bytes]], None] | None = None,
        chunk_size: int = 1 << 16,
        retry: bool = True,
    ) -> int:
        """POST and stream the response body into ``dest`` (a seekable binary file); return its size.

        The whole exchange is retried on a transient failure, including a body cut short mid-stream
        or one that ``verify`` rejects (``verify`` reads ``dest`` from the start and raises on a
        malformed document). ``dest`` holds exactly one complete body on return.
        ``retry=False`` makes one attempt: for a POST that must not be sent twice blindly.
        """

        def attempt() -> int:
            dest.seek(0)
            dest.truncate()
            url = self.base_url + path
            with self._http.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _http_error(response, "POST", path)
                size = 0
                for chunk in response.iter_bytes(chunk_size):
                    dest.write(chunk)
                    size += len(chunk)
            dest.flush()
            if verify is not None:
                dest.seek(0)
                try:
                    verify(dest)
                except Exception as exc:  # any parse failure means the body is unusable
                    raise _MalformedBody(f"response body is not valid JSON ({type(exc).__name__})") from exc
            return size

        return self._with_retries("POST", path, attempt, retry=retry)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> tuple[httpx.Response, Any]:
        """One API call with retries: the response and its parsed JSON (None when empty).

        Raises ``ConnectWiseError`` for any non-2xx outcome. A 2xx body that is not valid JSON
        counts as a transient fault and is retried like a 5xx.
        """
        kwargs: dict[str, Any] = {"params": params}
        if json_body is not None:
            kwargs["json"] = json_body

        def attempt() -> tuple[httpx.Response, Any]:
            response = self._http.request(method, self.base_url + path, **kwargs)
            return response, _checked_json(response, method, path)

        return self._with_retries(method, path, attempt)

    # -- retries ------------------------------------------------------------------------------
    def _with_retries(self, method: str, path: str, attempt: Callable[[], Any], retry: bool = True) -> Any:
        attempts = self.settings.retry.max_attempts if retry else 1
        try:
            return self._retrying(method, path, attempts)(attempt)
        except ConnectWiseError as exc:
            if exc.status == 404 and self._rediscover_after_404():
                return self._retrying(method, path, attempts)(attempt)
            raise

    def _retrying(
        self, method: str, path: str, max_attempts: int | None = None
    ) -> Callable[[Callable[[], Any]], Any]:
        policy = self.settings.retry
        max_attempts = max_attempts or policy.max_attempts
        jitter = tenacity.wait_random_exponential(multiplier=policy.backoff_base, max=policy.backoff_max)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, ConnectWiseError) and exc.status == 429:
                delay = exc.retry_after if exc.retry_after is not None else policy.default_retry_after
                return min(delay, policy.max_retry_after)
            return jitter(state)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "ConnectWise %s %s attempt %d/%d failed (%s); retrying in %.1fs",
                method,
                path,
                state.attempt_number,
                max_attempts,
                _describe(exc),
                state.next_action.sleep if state.next_action else 0.0,
            )

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(_is_transient),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

        def run(attempt: Callable[[], Any]) -> Any:
            try:
                return retrying(attempt)
            except ConnectWiseError as exc:
                exc.attempts = retrying.statistics.get("attempt_number", 1)
                raise
            except (httpx.TransportError, _MalformedBody) as exc:
                raise ConnectWiseError(
                    method=method,
                    path=path,
                    status=None,
                    code=type(exc).__name__,
                    message=_describe(exc),
                    attempts=retrying.statistics.get("attempt_number", 1),
                ) from exc

        return run


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectWiseError):
        return exc.transient
    return isinstance(exc, (httpx.TransportError, _MalformedBody))


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, ConnectWiseError):
        return f"HTTP {exc.status} {exc.code or ''}".strip()
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({type(exc).__name__})"
    return str(exc) if exc else "unknown"


def _http_error(response: httpx.Response, method: str, path: str) -> ConnectWiseError:
    code = message = None
    errors: list[Mapping[str, Any]] = []
    try:
        body = loads(response.content) if response.content.strip() else None
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        # 429s from ConnectWise's edge say "error" where the API says "code".
        code = body.get("code") or body.get("error")
        message = body.get("message")
        errors = [e for e in (body.get("errors") or []) if isinstance(e, Mapping)]
    elif response.content:
        message = response.text[:200]
    return ConnectWiseError(
        method=method,
        path=path,
        status=response.status_code,
        code=code,
        message=message,
        errors=errors,
        retry_after=_retry_after(response),
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date; ConnectWise documents seconds, so fall back to the default


def _checked_json(response: httpx.Response, method: str, path: str) -> Any:
    if response.status_code >= 400:
        raise _http_error(response, method, path)
    if not response.content.strip():
        return None
    try:
        return loads(response.content)
    except ValueError as exc:
        raise _MalformedBody(f"response body is not valid JSON ({type(exc).__name__})") from exc


def path_of(url: str) -> str:
    """The API path of an absolute ConnectWise URL (``.../apis/3.0/company/companies/8`` -> ``company/companies/8``)."""
    marker = "/apis/3.0/"
    full = urlsplit(url).path
    return full.split(marker, 1)[1] if marker in full else full.lstrip("/")
