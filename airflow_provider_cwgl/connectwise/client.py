"""HTTP client for ConnectWise Manage's REST API (``{site}/{codebase}apis/3.0/``).

What it does the way ConnectWise documents it: Basic auth ``company+public:private`` and a
``clientId`` header on every call; codebase discovery from ``login/companyinfo`` (cached, and
re-discovered once when a 404 suggests the site moved); paging through the ``Link`` header; JSON
numbers read as exact decimals; retries for 429 (honouring ``Retry-After``), 5xx and network faults.

What it does against a server that misbehaves: only a 2xx is success (a redirect is an error naming
its ``Location``, never followed); every response is read under a whole-request deadline
(``request_deadline``) and a cap on its decompressed size (``max_response_bytes``), decompressing
in bounded steps; a listing stops after ``max_pages`` pages or when ``rel="next"`` repeats a page;
server text reaches exceptions and logs only through the ``Redactor``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_cwgl.connectwise.decoding import TooLarge, copy_body
from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.connectwise.logfilter import redact_library_logs
from airflow_provider_cwgl.connectwise.redact import Redactor
from airflow_provider_cwgl.connectwise.settings import ConnectWiseSettings
from airflow_provider_cwgl.connectwise.transport import DeadlineExceeded, DeadlineTransport, deadline
from airflow_provider_cwgl.errors import ConnectWiseConfigError, ConnectWiseError, Retry

__all__ = ["ERROR_BODY_LIMIT", "MAX_PAGE_SIZE", "ConnectWiseClient", "path_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PAGE_SIZE = 1000
# An error body is read this far for its message; the rest is not downloaded.
ERROR_BODY_LIMIT = 64 * 1024


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
        self.redact = Redactor(settings.secrets())
        redact_library_logs(self.redact)
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
                # Only what _decoded undoes in bounded steps.
                "Accept-Encoding": "gzip, deflate",
                "Cache-Control": "no-cache",
            },
            timeout=httpx.Timeout(settings.timeout),
            transport=transport or DeadlineTransport(max_connections),
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
            return self._exchange(request, "GET", path, auth=None)[1]

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
        log.info("ConnectWise codebase for this site is %s", self.redact(value))
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
                log.warning(
                    "ConnectWise codebase changed from %s to %s; retrying",
                    self.redact(str(old)),
                    self.redact(self._codebase),
                )
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
        """Yield every record of a list endpoint, following ``Link: rel="next"`` across pages.

        Stops with an error when ``rel="next"`` names a page already read (a loop) or after
        ``max_pages`` pages (an endless listing).
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConnectWiseConfigError(
                "page_size", f"must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
            )
        params: dict[str, Any] = {"pageSize": page_size, "page": 1, **(extra_params or {})}
        for name, value in (("conditions", conditions), ("fields", fields), ("orderBy", order_by)):
            if value:
                params[name] = value
        seen: set[tuple[tuple[str, str], ...]] = set()
        while True:
            key = tuple(sorted((str(k), str(v)) for k, v in params.items()))
            if key in seen or len(seen) >= self.settings.max_pages:
                looped = key in seen
                raise ConnectWiseError(
                    method="GET",
                    path=path,
                    status=200,
                    code="PagingLoop" if looped else "TooManyPages",
                    message=(
                        f'Link rel="next" points back to page {params.get("page")!r}, already read'
                        if looped
                        else f"the listing goes on past max_pages={self.settings.max_pages} pages"
                        " (raise the connection's extra.max_pages if it really is that long)"
                    ),
                    redact=self.redact,
                    retry=Retry.LATER,
                )
            seen.add(key)
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
        retry: bool = True,
    ) -> int:
        """POST and stream the response body into ``dest`` (a seekable binary file); return its size.

        The whole exchange is retried on a transient failure, including a body cut short mid-stream
        or one that ``verify`` rejects (``verify`` reads ``dest`` from the start and raises on a
        malformed document). ``dest`` holds exactly one complete body on return. The body may be
        up to ``max_response_bytes`` once decompressed.
        ``retry=False`` makes one attempt: for a POST that must not be sent twice blindly.
        """

        def attempt() -> int:
            dest.seek(0)
            dest.truncate()
            request = self._http.build_request("POST", self.base_url + path, json=body)
            size: int = self._exchange(request, "POST", path, sink=dest)[1]
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
            request = self._http.build_request(method, self.base_url + path, **kwargs)
            return self._exchange(request, method, path)

        return self._with_retries(method, path, attempt)

    def _exchange(
        self,
        request: httpx.Request,
        method: str,
        path: str,
        *,
        sink: IO[bytes] | None = None,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> tuple[httpx.Response, Any]:
        """Send one request under the deadline and read its body within the size cap.

        Only a 2xx is success. With ``sink`` the body is copied there and its size returned;
        without, it is parsed as JSON (None when empty).
        """
        settings = self.settings
        try:
            with deadline(settings.request_deadline):
                response = self._http.send(request, auth=auth, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        raise self._http_error(response, method, path)
                    if sink is not None:
                        return response, copy_body(response, sink, settings.max_response_bytes)
                    buffer = io.BytesIO()
                    copy_body(response, buffer, settings.memory_response_bytes)
                finally:
                    response.close()
        except DeadlineExceeded:
            raise self._unretried_error(
                method,
                path,
                None,
                "DeadlineExceeded",
                f"the whole request took longer than request_deadline={settings.request_deadline:g}s "
                "(the server answered too slowly); not retried",
            ) from None
        except TooLarge:
            limit = settings.max_response_bytes if sink is not None else settings.memory_response_bytes
            raise self._unretried_error(
                method,
                path,
                response.status_code,
                "ResponseTooLarge",
                f"the response body is larger than {_mib(limit)} once decompressed "
                f"(max_response_mb={_mib(settings.max_response_bytes)}"
                f"{'' if sink is not None else ', of which an eighth for responses read into memory'})"
                "; stopped reading",
            ) from None
        except (ValueError, zlib.error) as exc:  # an unsupported or corrupt Content-Encoding
            raise _MalformedBody(
                f"response body cannot be decoded ({_short(self.redact(str(exc)))})"
            ) from None
        content = buffer.getvalue()
        if not content.strip():
            return response, None
        try:
            return response, loads(content)
        except (ValueError, RecursionError) as exc:
            raise _MalformedBody(
                f"response body is not valid JSON ({_short(self.redact(str(exc)))})"
            ) from None

    def _unretried_error(
        self, method: str, path: str, status: int | None, code: str, message: str
    ) -> ConnectWiseError:
        return ConnectWiseError(
            method=method, path=path, status=status, code=code, message=message, retry=Retry.LATER
        )

    def _http_error(self, response: httpx.Response, method: str, path: str) -> ConnectWiseError:
        """A ``ConnectWiseError`` for a non-2xx answer; everything taken from it is redacted."""
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location")
            where = f"redirected to {location}" if location else "a redirect without a Location"
            return ConnectWiseError(
                method=method,
                path=path,
                status=status,
                code="Redirect",
                message=f"{where}; redirects are not followed: set the connection's host to the "
                "ConnectWise API site (e.g. api-na.myconnectwise.net)",
                redact=self.redact,
            )
        buffer = io.BytesIO()
        # The status is what matters; a body we cannot read adds nothing.
        with contextlib.suppress(httpx.HTTPError, ValueError, zlib.error, DeadlineExceeded):
            copy_body(response, buffer, ERROR_BODY_LIMIT, truncate=True)
        content = buffer.getvalue()
        code = message = None
        errors: list[Mapping[str, Any]] = []
        try:
            body = loads(content) if content.strip() else None
        except (ValueError, RecursionError):
            body = None
        if isinstance(body, Mapping):
            # 429s from ConnectWise's edge say "error" where the API says "code".
            code = body.get("code") or body.get("error")
            message = body.get("message")
            errors = [e for e in (body.get("errors") or []) if isinstance(e, Mapping)]
        elif content.strip():
            # Redacted whole, then cut: cutting first could leave a fragment too short to recognise.
            message = _short(self.redact(content.decode("utf-8", "replace")))
        if status < 400:
            message = f"unexpected HTTP status {status}" + (f": {message}" if message else "")
        return ConnectWiseError(
            method=method,
            path=path,
            status=status,
            code=code,
            message=message,
            errors=errors,
            retry_after=_retry_after(response),
            redact=self.redact,
        )

    # -- retries ------------------------------------------------------------------------------
    def _with_retries(self, method: str, path: str, attempt: Callable[[], T], retry: bool = True) -> T:
        attempts = self.settings.retry.max_attempts if retry else 1
        result: T
        try:
            result = self._retrying(method, path, attempts)(attempt)
        except ConnectWiseError as exc:
            if not (exc.status == 404 and self._rediscover_after_404()):
                raise
            result = self._retrying(method, path, attempts)(attempt)
        return result

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
                self._describe(exc),
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
                # Not chained: a transport error's text may quote what the server sent.
                raise ConnectWiseError(
                    method=method,
                    path=path,
                    status=None,
                    code=_error_code(exc),
                    message=self._describe(exc),
                    attempts=retrying.statistics.get("attempt_number", 1),
                    redact=self.redact,
                ) from None

        return run

    def _describe(self, exc: BaseException | None) -> str:
        """A short, redacted account of a failed attempt for logs and messages."""
        if isinstance(exc, ConnectWiseError):
            return f"HTTP {exc.status} {exc.code or ''}".strip() if exc.status else str(exc.code)
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out ({type(exc).__name__})"
        tls = _tls_problem(exc)
        if tls:
            return self.redact(
                f"TLS handshake with {self.settings.site} failed ({tls}): check that the host is the "
                "ConnectWise site and speaks https with a certificate this machine trusts"
            )
        if isinstance(exc, httpx.TransportError):
            detail = _short(self.redact(str(exc)))
            return f"connection failed ({type(exc).__name__}{': ' + detail if detail else ''})"
        return self.redact(str(exc)) if exc else "unknown"


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, _MalformedBody):
        return "MalformedBody"
    return "TLSError" if _tls_problem(exc) else type(exc).__name__


def _short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (cut after redaction: a cut first could leave a
    fragment too short to recognise)."""
    return " ".join(text.split())[:limit]


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


def _tls_problem(exc: BaseException | None) -> str | None:
    """The TLS reason when a connection failed in the TLS handshake, else None."""
    if not isinstance(exc, httpx.ConnectError):
        return None
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return str(getattr(cause, "verify_message", None) or cause.reason or cause).lower()
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return text if "SSL" in text or "certificate" in text.lower() else None


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ConnectWiseError):
        return exc.retry is Retry.NOW
    return isinstance(exc, (httpx.TransportError, _MalformedBody))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date; ConnectWise documents seconds, so fall back to the default
    return max(0.0, seconds) if seconds == seconds else None  # NaN: use the default


def path_of(url: str) -> str:
    """The API path of an absolute ConnectWise URL (``.../apis/3.0/company/companies/8`` -> ``company/companies/8``)."""
    marker = "/apis/3.0/"
    full = urlsplit(url).path
    return full.split(marker, 1)[1] if marker in full else full.lstrip("/")
