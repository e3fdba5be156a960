"""HTTP client for ConnectWise Manage's REST API (``{site}/{codebase}apis/3.0/``).

As ConnectWise documents it: Basic auth ``company+public:private`` and a ``clientId`` header on
every call; the codebase from ``login/companyinfo`` (cached; re-read once when a 404 suggests the
site moved); paging through the ``Link`` header; JSON numbers as exact decimals; retries for 429
(honouring ``Retry-After``), 502-504, a 500 that says timeout or connection pool, and network faults.

Against a server that misbehaves: only a 2xx is success (a redirect is an error naming its
``Location``); every response is read under ``request_deadline`` and within ``max_response_bytes``
decompressed, in bounded steps; a listing stops after ``max_pages`` pages or when ``rel="next"``
repeats a page; server text reaches exceptions and logs only through the ``Redactor``.

The steps, as in httpx: a public call -> ``_call`` (a 404 may mean the site moved) -> ``_retried``
(the one retry policy, ``retrying``) -> ``_read_json`` or a file attempt -> ``_receive``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_cwgl.connectwise.decoding import TooLarge, copy_body
from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.connectwise.redact import Redactor, RedactTrace
from airflow_provider_cwgl.connectwise.settings import ConnectWiseSettings, RetryPolicy
from airflow_provider_cwgl.connectwise.transport import DeadlineExceeded, DeadlineTransport, deadline
from airflow_provider_cwgl.errors import ConnectWiseConfigError, ConnectWiseError, Retry

__all__ = ["ERROR_BODY_LIMIT", "MAX_PAGE_SIZE", "ConnectWiseClient", "path_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PAGE_SIZE = 1000
_MIB = 1 << 20
# An error body is read this far for its message; the rest is not downloaded.
ERROR_BODY_LIMIT = 64 * 1024


class _Reply(NamedTuple):
    """A 2xx answer read into memory."""

    status: int
    body: Any  # its JSON; None when empty
    next_url: str | None  # where ``Link: rel="next"`` points


class ConnectWiseClient:
    """A synchronous, thread-safe ConnectWise client. Use as a context manager or call ``close()``."""

    def __init__(
        self,
        settings: ConnectWiseSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.redact = Redactor(settings.secrets())
        self._trace = RedactTrace(self.redact)
        self._sleep = sleep
        self._codebase = settings.codebase
        self._rediscovered = False
        self._lock = threading.Lock()
        self._http = httpx.Client(
            auth=httpx.BasicAuth(settings.basic_username, settings.private_key),
            headers={
                "clientId": settings.client_id,
                "Accept": settings.accept_header(),
                # Only what copy_body undoes in bounded steps.
                "Accept-Encoding": "gzip, deflate",
                "Cache-Control": "no-cache",
            },
            timeout=httpx.Timeout(settings.timeout),
            transport=transport or DeadlineTransport(),
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
        # companyinfo needs no credentials: send none, so a mistyped site never receives them.
        request = self._http.build_request(
            "GET", f"{self.settings.site}/{path}", extensions={"trace": self._trace}
        )
        del request.headers["clientId"]
        body = self._retried("GET", path, lambda: self._read_json(request, path, auth=None)).body
        codebase = body.get("Codebase") if isinstance(body, Mapping) else None
        if not codebase:
            problem = "ConnectWise returned no codebase: check company_id and host"
            raise self._fault("GET", path, "UnknownCompany", problem, status=200)
        value = str(codebase).strip("/") + "/"
        log.info("ConnectWise codebase for this site is %s", self.redact(value))
        return value

    def _rediscover_after_404(self) -> bool:
        """On a 404 re-read the codebase once per client; True when it changed and the call may be retried."""
        with self._lock:
            if self.settings.codebase is not None or self._rediscovered:  # pinned, or done once
                return False
            self._rediscovered = True
            old, self._codebase = self._codebase, self._discover_codebase()
            if self._codebase == old:
                return False
            moved = self.redact(f"from {old} to {self._codebase}")
            log.warning("ConnectWise codebase changed %s; retrying", moved)
            return True

    # -- public calls -------------------------------------------------------------------------
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one resource (e.g. ``company/companies/8``) and return its JSON."""
        return self._json("GET", path, params=params).body

    def post(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body and return the JSON answer (None for an empty 2xx body)."""
        return self._json("POST", path, params=params, json=body).body

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
        """Yield every record of a list endpoint, following ``Link: rel="next"`` across pages; an
        error when it names a page already read (a loop) or after ``max_pages`` pages."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConnectWiseConfigError(
                "page_size", f"must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
            )
        params: dict[str, Any] = {"pageSize": page_size, "page": 1, **(extra_params or {})}
        params |= {
            k: v for k, v in (("conditions", conditions), ("fields", fields), ("orderBy", order_by)) if v
        }
        seen: set[tuple[tuple[str, str], ...]] = set()
        while True:
            key = tuple(sorted((str(k), str(v)) for k, v in params.items()))
            if key in seen:
                problem = f'Link rel="next" points back to page {params.get("page")!r}, already read'
                raise self._fault("GET", path, "PagingLoop", problem, status=200, retry=Retry.LATER)
            if len(seen) >= self.settings.max_pages:
                problem = (
                    f"the listing goes on past max_pages={self.settings.max_pages} pages"
                    " (raise the connection's extra.max_pages if it really is that long)"
                )
                raise self._fault("GET", path, "TooManyPages", problem, status=200, retry=Retry.LATER)
            seen.add(key)
            page = self._json("GET", path, params=params)
            if not isinstance(page.body, list):
                problem = "expected a JSON array from a list endpoint"
                raise self._fault("GET", path, "UnexpectedBody", problem, status=page.status)
            yield from page.body
            if not page.next_url or not page.body:
                return
            # Take the paging parameters ConnectWise hands back but keep our own host and codebase.
            params = dict(httpx.URL(page.next_url).params)

    def post_to_file(
        self, path: str, body: Any, dest: IO[bytes], *, read: Callable[[IO[bytes]], T], retry: bool = True
    ) -> T:
        """POST, stream the body (up to ``max_response_bytes`` decompressed) into ``dest``, a seekable
        binary file, and return what ``read`` makes of it from its start.

        The whole exchange is retried on a passing fault, including a body cut short or one ``read``
        rejects, so ``dest`` holds exactly one complete body on return. ``retry=False`` makes one
        attempt: for a POST that must not be sent twice blindly.
        """

        def attempt() -> T:
            dest.seek(0)
            dest.truncate()
            self._receive(self._build("POST", path, json=body), path, dest, self.settings.max_response_bytes)
            dest.flush()
            dest.seek(0)
            try:
                return read(dest)
            except Exception as exc:  # any parse failure means the body is unusable
                problem = f"response body is not valid JSON ({type(exc).__name__})"
                raise self._fault("POST", path, "MalformedBody", problem) from None

        return self._call("POST", path, attempt, retry=retry)

    def retrying(
        self,
        method: str,
        path: str,
        *,
        attempts: int | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> tenacity.Retrying:
        """The connection's retry policy as a tenacity ``Retrying``: a ``ConnectWiseError`` that
        says ``Retry.NOW`` is tried again, up to ``attempts`` (the policy's ``max_attempts``) in all,
        after the wait ``RetryPolicy`` describes; each retry is logged."""
        policy = self.settings.retry
        attempts = attempts or policy.max_attempts
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=functools.partial(_wait, policy),
            retry=tenacity.retry_if_exception(_passing),
            sleep=sleep or self._sleep,
            before_sleep=functools.partial(_log_retry, method, path, attempts),
            reraise=True,
        )

    # -- the steps of one call ----------------------------------------------------------------
    def _json(self, method: str, path: str, **options: Any) -> _Reply:
        return self._call(method, path, lambda: self._read_json(self._build(method, path, **options), path))

    def _build(self, method: str, path: str, **options: Any) -> httpx.Request:
        return self._http.build_request(
            method, self.base_url + path, extensions={"trace": self._trace}, **options
        )

    def _call(self, method: str, path: str, attempt: Callable[[], T], *, retry: bool = True) -> T:
        """``attempt`` under the retry policy (once, without ``retry``), and once more after a 404
        when the codebase turns out to have moved."""
        attempts = None if retry else 1
        try:
            return self._retried(method, path, attempt, attempts)
        except ConnectWiseError as exc:
            if not (exc.status == 404 and self._rediscover_after_404()):
                raise
        return self._retried(method, path, attempt, attempts)

    def _retried(self, method: str, path: str, attempt: Callable[[], T], attempts: int | None = None) -> T:
        retrying = self.retrying(method, path, attempts=attempts)
        try:
            return retrying(attempt)
        except ConnectWiseError as exc:
            exc.attempts = retrying.statistics.get("attempt_number", 1)
            raise

    def _read_json(
        self, request: httpx.Request, path: str, *, auth: Any = httpx.USE_CLIENT_DEFAULT
    ) -> _Reply:
        """One exchange, its body read into memory (within an eighth of the cap) and parsed; a body
        that is not JSON is a passing fault (``MalformedBody``), retried like a 503."""
        buffer = io.BytesIO()
        response = self._receive(request, path, buffer, self.settings.memory_response_bytes, auth=auth)
        content = buffer.getvalue()
        try:
            body = loads(content) if content.strip() else None
        except (ValueError, RecursionError) as exc:
            problem = f"response body is not valid JSON ({_short(self.redact(str(exc)))})"
            raise self._fault(request.method, path, "MalformedBody", problem) from None
        return _Reply(response.status_code, body, response.links.get("next", {}).get("url"))

    def _receive(
        self,
        request: httpx.Request,
        path: str,
        sink: IO[bytes],
        limit: int,
        *,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        """Send one request and copy its decoded body into ``sink``, at most ``limit`` bytes, all
        within ``request_deadline``. Only a 2xx returns (its body read, the response closed);
        everything else is a ``ConnectWiseError`` saying whether retrying may help."""
        method, settings = request.method, self.settings
        try:
            with deadline(settings.request_deadline):
                response = self._http.send(request, auth=auth, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        raise self._http_error(response, method, path)
                    copy_body(response, sink, limit)
                finally:
                    response.close()
        except DeadlineExceeded:
            problem = (
                f"the whole request took longer than request_deadline={settings.request_deadline:g}s "
                "(the server answered too slowly); not retried"
            )
            raise self._fault(method, path, "DeadlineExceeded", problem, retry=Retry.LATER) from None
        except TooLarge:
            share = ", of which an eighth for responses read into memory"
            problem = (
                f"the response body is larger than {limit / _MIB:g} MiB once decompressed (max_response_mb="
                f"{settings.max_response_bytes / _MIB:g} MiB{share if limit < settings.max_response_bytes else ''})"
                "; stopped reading"
            )
            status, retry = response.status_code, Retry.LATER
            raise self._fault(method, path, "ResponseTooLarge", problem, status=status, retry=retry) from None
        except (ValueError, zlib.error) as exc:  # an unsupported or corrupt Content-Encoding
            problem = f"response body cannot be decoded ({_short(self.redact(str(exc)))})"
            raise self._fault(method, path, "MalformedBody", problem) from None
        except httpx.TransportError as exc:
            # Not chained: a transport error's text may quote what the server sent.
            raise self._fault(method, path, *self._describe(exc)) from None
        return response

    def _fault(
        self, method: str, path: str, code: str | None, message: str | None, **details: Any
    ) -> ConnectWiseError:
        """A ``ConnectWiseError`` with this client's redaction; ``details`` are its other fields
        (without ``status``, a failure on our side of the exchange: ``NOW`` unless ``retry`` says)."""
        return ConnectWiseError(
            method=method, path=path, code=code, message=message, redact=self.redact, **details
        )

    def _http_error(self, response: httpx.Response, method: str, path: str) -> ConnectWiseError:
        """A ``ConnectWiseError`` for a non-2xx answer; everything taken from it is redacted."""
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("Location")
            where = f"redirected to {location}" if location else "a redirect without a Location"
            problem = (
                f"{where}; redirects are not followed: set the connection's host to the ConnectWise API "
                "site (e.g. api-na.myconnectwise.net)"
            )
            return self._fault(method, path, "Redirect", problem, status=status)
        buffer = io.BytesIO()
        # The status is what matters; a body we cannot read adds nothing.
        with contextlib.suppress(httpx.HTTPError, ValueError, zlib.error, DeadlineExceeded):
            copy_body(response, buffer, ERROR_BODY_LIMIT, truncate=True)
        content = buffer.getvalue()
        code = message = body = None
        errors: list[Mapping[str, Any]] = []
        with contextlib.suppress(ValueError, RecursionError):
            body = loads(content) if content.strip() else None
        if isinstance(body, Mapping):
            # 429s from ConnectWise's edge say "error" where the API says "code".
            code = body.get("code") or body.get("error")
            message = body.get("message")
            errors = [e for e in (body.get("errors") or []) if isinstance(e, Mapping)]
        elif content.strip():
            message = _short(self.redact(content.decode("utf-8", "replace")))
        if status < 400:
            message = f"unexpected HTTP status {status}" + (f": {message}" if message else "")
        return self._fault(
            method, path, code, message, status=status, errors=errors, retry_after=_retry_after(response)
        )

    def _describe(self, exc: httpx.TransportError) -> tuple[str, str]:
        """The code and a short, redacted account of a failed connection."""
        name = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return name, f"timed out ({name})"
        tls = _tls_problem(exc)
        if tls:
            return "TLSError", self.redact(
                f"TLS handshake with {self.settings.site} failed ({tls}): check that the host is the "
                "ConnectWise site and speaks https with a certificate this machine trusts"
            )
        detail = _short(self.redact(str(exc)))
        return name, f"connection failed ({name}{': ' + detail if detail else ''})"


def _passing(exc: BaseException) -> bool:
    return isinstance(exc, ConnectWiseError) and exc.retry is Retry.NOW


def _wait(policy: RetryPolicy, state: tenacity.RetryCallState) -> float:
    """A 429 waits for ``Retry-After`` (or the policy's default), capped; anything else backs off
    exponentially with full jitter."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ConnectWiseError) and exc.status == 429:
        delay = exc.retry_after if exc.retry_after is not None else policy.default_retry_after
        return min(delay, policy.max_retry_after)
    return tenacity.wait_random_exponential(multiplier=policy.backoff_base, max=policy.backoff_max)(state)


def _log_retry(method: str, path: str, attempts: int, state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    assert isinstance(exc, ConnectWiseError)  # the only kind retried; its text is redacted already
    what = f"HTTP {exc.status} {exc.code or ''}".strip() if exc.status else exc.message
    log.warning(
        "ConnectWise %s %s attempt %d/%d failed (%s); retrying in %.1fs",
        method,
        path,
        state.attempt_number,
        attempts,
        what,
        state.next_action.sleep if state.next_action else 0.0,
    )


def _short(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (cut after redaction: a cut first could leave a
    fragment too short to recognise)."""
    return " ".join(text.split())[:limit]


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


def _retry_after(response: httpx.Response) -> float | None:
    try:
        seconds = float(response.headers["Retry-After"])
    except (KeyError, ValueError):  # none, or an HTTP-date (ConnectWise documents seconds): the default
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN: the default


def path_of(url: str) -> str:
    """The API path of an absolute ConnectWise URL (``.../apis/3.0/company/companies/8`` -> ``company/companies/8``)."""
    marker = "/apis/3.0/"
    full = urlsplit(url).path
    return full.split(marker, 1)[1] if marker in full else full.lstrip("/")
