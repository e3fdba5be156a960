"""Validated settings for Xero's Accounting API, and the one table of a Xero connection's extras.

Everything a bad connection can get wrong is caught here, naming the field and what it accepts,
before any request. ``XERO_EXTRAS`` describes each extra once: it drives the parsing
(``settings_from_fields``), and the hook builds the Airflow connection form from it.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from airflow_provider_cwgl.blank import is_blank

# The same address checks as a ConnectWise site's (loopback alone may use plain http).
from airflow_provider_cwgl.connectwise.settings import _is_ip, _is_loopback, _is_number
from airflow_provider_cwgl.errors import XeroConfigError

DEFAULT_HOST = "https://api.xero.com"
DEFAULT_TOKEN_URL = "https://identity.xero.com/connect/token"
ACCOUNTING_PATH = "/api.xro/2.0"

# Visible ASCII: a tenant id travels in a header (Xero's are GUIDs; the spec says only "string").
_TENANT_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.\-]+$")


@dataclass(frozen=True)
class XeroSettings:
    """Where and as whom to call Xero, and how hard.

    ``host`` is the API host (``https://api.xero.com``; plain http only for loopback, for local
    servers such as the sandbox); the accounting API is at ``api_root`` (``{host}/api.xro/2.0``),
    the tenants a token reaches at ``{host}/connections``. ``api_path`` is ``""`` for a server that
    serves the accounting API at its root (a Prism proxy; the extra ``api_path`` is then ``/``). ``token_url`` is where the
    client-credentials token comes from.

    ``timeout`` bounds each connect and read, ``request_deadline`` a whole request.
    ``max_attempts`` counts the first try; backoff is exponential with full jitter
    (``backoff_base * 2**n``, capped at ``backoff_max``); a 429 waits for ``Retry-After`` (or
    ``default_retry_after``), at most ``max_retry_after``.

    Pacing (Xero's limits per tenant): at most ``calls_per_minute`` calls in any 60 s,
    ``concurrent`` in flight, ``calls_per_day`` in any 24 h.
    """

    client_id: str
    client_secret: str = field(repr=False)
    host: str = DEFAULT_HOST
    tenant_id: str | None = None
    token_url: str = DEFAULT_TOKEN_URL
    api_path: str = ACCOUNTING_PATH
    timeout: float = 30.0
    request_deadline: float = 300.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    default_retry_after: float = 60.0
    max_retry_after: float = 120.0
    calls_per_minute: int = 60
    concurrent: int = 5
    calls_per_day: int = 5000
    max_response_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name in ("client_id", "client_secret"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise XeroConfigError(name, "is required and must be a non-empty string")
        object.__setattr__(self, "host", normalize_url("host", self.host, path=False))
        object.__setattr__(self, "token_url", normalize_url("token_url", self.token_url, path=True))
        if self.tenant_id is not None and not _TENANT_RE.match(str(self.tenant_id)):
            raise XeroConfigError(
                "tenant_id",
                "must be a Xero tenant id (a GUID such as fe79f7dd-b6d4-4a92-ba7b-538af6289c58), "
                f"at most 128 visible characters, got {self.tenant_id!r}",
            )
        if not isinstance(self.api_path, str) or not re.fullmatch(r"(/[A-Za-z0-9._\-]+)*", self.api_path):
            raise XeroConfigError(
                "api_path", f"must be empty or a path like {ACCOUNTING_PATH}, got {self.api_path!r}"
            )
        for name in ("timeout", "request_deadline"):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise XeroConfigError(name, f"must be a positive, finite number of seconds, got {value!r}")
        for name in ("backoff_base", "backoff_max", "default_retry_after", "max_retry_after"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise XeroConfigError(name, f"must be a finite number of seconds >= 0, got {value!r}")
        for name in ("max_attempts", "calls_per_minute", "concurrent", "calls_per_day"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise XeroConfigError(name, f"must be a whole number >= 1, got {value!r}")
        if isinstance(self.max_response_bytes, bool) or not isinstance(self.max_response_bytes, int):
            raise XeroConfigError("max_response_bytes", "must be a whole number of bytes")
        if self.max_response_bytes < 1024:
            raise XeroConfigError("max_response_bytes", f"must be >= 1024, got {self.max_response_bytes}")

    @property
    def api_root(self) -> str:
        """The accounting API's root: ``{host}/api.xro/2.0``."""
        return f"{self.host}{self.api_path}"

    @property
    def connections_url(self) -> str:
        """Where the tenants a token reaches are listed (Xero's identity API)."""
        return f"{self.host}/connections"


def normalize_url(name: str, value: Any, *, path: bool) -> str:
    """``scheme://host[:port]`` (with ``path``: and its path), https unless the host is loopback."""
    example = DEFAULT_TOKEN_URL if path else DEFAULT_HOST
    if not isinstance(value, str) or not value.strip():
        raise XeroConfigError(name, f"is required: a URL such as {example}")
    raw = value.strip()
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https"):
        raise XeroConfigError(name, f"scheme must be https (or http for loopback), got {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        # Not echoed: what is typed before "@" may be the secret.
        raise XeroConfigError(
            name,
            f"must carry no credentials before '@' (the client id and secret are login and password), e.g. {example}",
        )
    host = parts.hostname or ""
    if not host or not (_HOSTNAME_RE.match(host) or _is_ip(host)):
        raise XeroConfigError(name, f"{raw!r} is not a valid URL, e.g. {example}")
    if parts.query or parts.fragment or (parts.path.strip("/") and not path):
        raise XeroConfigError(
            name, f"{raw!r} must be only the scheme and host (no path or query), e.g. {example}"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise XeroConfigError(name, f"{raw!r} has an invalid port") from exc
    if parts.scheme == "http" and not _is_loopback(host):
        raise XeroConfigError(name, "plain http is only allowed for loopback addresses; use https")
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return f"{parts.scheme}://{netloc}" + (parts.path.rstrip("/") if path else "")


# -- the connection's extras ------------------------------------------------------------------
@dataclass(frozen=True)
class XeroExtra:
    """One key of a Xero connection's ``extra`` JSON; it sets the ``XeroSettings`` field of the same name."""

    name: str
    label: str
    kind: type[str] | type[int] | type[float]
    description: str

    @property
    def default(self) -> Any:
        """The value an empty extra means, read from ``XeroSettings`` (so the docs cannot drift)."""
        spec = next(f for f in fields(XeroSettings) if f.name == self.name)
        return None if spec.default is MISSING else spec.default

    @property
    def json_type(self) -> Literal["string", "integer", "number"]:
        return "string" if self.kind is str else "integer" if self.kind is int else "number"


XERO_EXTRAS: tuple[XeroExtra, ...] = (
    XeroExtra(
        "tenant_id",
        "Tenant ID",
        str,
        "The Xero organisation's tenant id; when empty, the one organisation the token reaches "
        "(GET /connections).",
    ),
    XeroExtra("token_url", "Token URL", str, "Where the client-credentials token is asked for."),
    XeroExtra(
        "api_path",
        "Accounting API path",
        str,
        "The accounting API's path under the host; / for a server serving it at its root (a Prism proxy).",
    ),
    XeroExtra("timeout", "Timeout (seconds)", float, "Seconds each connect or read may take."),
    XeroExtra("request_deadline", "Request deadline (seconds)", float, "Seconds a whole request may take."),
    XeroExtra("max_attempts", "Attempts per call", int, "Attempts per Xero call, counting the first."),
    XeroExtra(
        "calls_per_minute", "Calls per minute", int, "Calls sent in any 60 s (Xero allows 60 per tenant)."
    ),
    XeroExtra("concurrent", "Calls at once", int, "Calls in flight at once (Xero allows 5 per tenant)."),
    XeroExtra(
        "calls_per_day", "Calls per day", int, "Calls sent in any 24 h (Xero allows 5,000 per tenant)."
    ),
)

# Settings names -> the connection fields a user edits.
CONNECTION_FIELDS: dict[str, str] = {
    "client_id": "login (the client id)",
    "client_secret": "password (the client secret)",
    "host": "host (the API host)",
    **{extra.name: f"extra.{extra.name}" for extra in XERO_EXTRAS},
}


def _parse(extra: XeroExtra, value: Any) -> Any:
    if extra.kind is str:
        # A path's trailing slash is not part of it: "/" is the root, "" once stripped.
        return str(value).strip().rstrip("/") if extra.name == "api_path" else str(value).strip()
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise XeroConfigError(extra.name, f"must be a number, got {value!r}") from exc
    if extra.kind is int:
        if not number.is_integer():
            raise XeroConfigError(extra.name, f"must be a whole number, got {value!r}")
        return int(number)
    return number


def settings_from_fields(login: Any, password: Any, host: Any, extra: Any) -> XeroSettings:
    """``XeroSettings`` from a connection's fields (login = client id, password = client secret,
    host = the API host, empty for Xero's) and its ``extra`` object, per ``XERO_EXTRAS``. A problem
    names the connection field to fix (``extra.calls_per_minute``) and what it accepts."""
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise XeroConfigError("extra", "must be a JSON object")
    unknown = sorted(set(extra) - {e.name for e in XERO_EXTRAS})
    values: dict[str, Any] = {}
    try:
        if unknown:
            accepted = ", ".join(e.name for e in XERO_EXTRAS)
            raise XeroConfigError("extra", f"unknown key(s) {', '.join(unknown)}; accepted: {accepted}")
        for spec in XERO_EXTRAS:
            value = extra.get(spec.name)
            if not is_blank(value):
                values[spec.name] = _parse(spec, value)
        return XeroSettings(
            client_id=str(login or "").strip(),
            client_secret=str(password or ""),
            host=DEFAULT_HOST if is_blank(host) else str(host),
            **values,
        )
    except XeroConfigError as exc:
        raise XeroConfigError(CONNECTION_FIELDS.get(exc.setting, exc.setting), exc.problem) from None
