"""Validated connection settings for ConnectWise Manage, and the one table of a connection's extras.

Everything a bad connection can get wrong is caught here, with the field named, before a request.
``CONNECTION_EXTRAS`` drives the parsing (``settings_from_fields``), the Airflow connection form and
the docs' table (``hooks.forms``).
"""

from __future__ import annotations

import base64
import ipaddress
import math
import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import ConnectWiseConfigError

_CODEBASE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.\-]+$")


@dataclass(frozen=True)
class RetryPolicy:
    """How passing faults (429, 502-504, a timeout 500, no response, a malformed body) are retried.

    ``max_attempts`` counts the first try. Backoff is exponential with full jitter
    (``backoff_base * 2**n``, capped at ``backoff_max``); a 429 waits for ``Retry-After`` instead,
    or ``default_retry_after`` seconds when ConnectWise sends none (ConnectWise's guide uses 30 s).
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    default_retry_after: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConnectWiseConfigError(
                "max_attempts", f"must be an integer >= 1, got {self.max_attempts!r}"
            )
        for name in ("backoff_base", "backoff_max", "default_retry_after", "max_retry_after"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ConnectWiseConfigError(name, f"must be a finite number of seconds >= 0, got {value!r}")


@dataclass(frozen=True)
class ConnectWiseSettings:
    """Where and as whom to call ConnectWise. ``site`` is a host (https assumed) or a URL; plain http
    only for loopback addresses (local servers such as the sandbox).

    Bounds against a misbehaving server: ``timeout`` for each connect and read; ``request_deadline``
    for a whole request, body included (a server dripping bytes fails after it, not retried);
    ``max_response_bytes`` for a body once decompressed (an eighth of it for a body parsed in memory,
    i.e. all but the streamed export); ``max_pages`` for the pages one listing may follow.
    """

    site: str
    company_id: str
    public_key: str
    private_key: str = field(repr=False)
    client_id: str = field(repr=False)
    codebase: str | None = None
    api_version: str | None = None
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    request_deadline: float = 900.0
    max_response_bytes: int = 1 << 30
    max_pages: int = 1000

    def __post_init__(self) -> None:
        for name in ("company_id", "public_key", "private_key", "client_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ConnectWiseConfigError(name, "is required and must be a non-empty string")
        if "+" in self.company_id or ":" in self.company_id:
            raise ConnectWiseConfigError(
                "company_id", "must not contain '+' or ':' (give the bare login company)"
            )
        object.__setattr__(self, "site", normalize_site(self.site))
        if self.codebase is not None:
            # ConnectWise's codebase values end in a slash: v2025_1 and /v2025_1/ mean v2025_1/.
            codebase = str(self.codebase).strip().strip("/")
            if not _CODEBASE_RE.match(codebase):
                raise ConnectWiseConfigError("codebase", f"must look like v2025_1/, got {self.codebase!r}")
            object.__setattr__(self, "codebase", codebase + "/")
        if self.api_version is not None and not re.fullmatch(r"\d{4}\.\d{1,2}", str(self.api_version)):
            raise ConnectWiseConfigError("api_version", f"must look like 2025.1, got {self.api_version!r}")
        for name in ("timeout", "request_deadline"):
            value = getattr(self, name)
            if not _is_number(value) or value <= 0:
                raise ConnectWiseConfigError(
                    name, f"must be a positive, finite number of seconds, got {value!r}"
                )
        for name, least in (("max_response_bytes", 1024), ("max_pages", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConnectWiseConfigError(name, f"must be an integer >= {least}, got {value!r}")

    @property
    def basic_username(self) -> str:
        return f"{self.company_id}+{self.public_key}"

    @property
    def memory_response_bytes(self) -> int:
        """The cap on a response parsed in memory (every call but a streamed export)."""
        return max(1024, self.max_response_bytes // 8)

    def secrets(self) -> tuple[str, ...]:
        """What must never be shown: the private key, the client id, the Basic pair and its base64 value."""
        pair = f"{self.basic_username}:{self.private_key}"
        return (self.private_key, self.client_id, pair, base64.b64encode(pair.encode()).decode())

    def accept_header(self) -> str:
        if self.api_version:
            return f"application/vnd.connectwise.com+json; version={self.api_version}"
        return "application/json"


def normalize_site(site: Any) -> str:
    """Return ``scheme://host[:port]`` for a ConnectWise site given as a host or URL."""
    if not isinstance(site, str) or not site.strip():
        raise ConnectWiseConfigError(
            "host", "is required: the ConnectWise site, e.g. api-na.myconnectwise.net"
        )
    raw = site.strip()
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https"):
        raise ConnectWiseConfigError(
            "host", f"scheme must be https (or http for loopback), got {parts.scheme!r}"
        )
    if parts.username is not None or parts.password is not None:
        # Not echoed: what is typed before "@" may be a key, and no redactor exists yet.
        raise ConnectWiseConfigError(
            "host",
            "must be only the site (no credentials before '@': put the keys in login and password), "
            "e.g. api-na.myconnectwise.net",
        )
    host = parts.hostname or ""  # without an IPv6 literal's brackets
    if not (_HOSTNAME_RE.match(host) or _is_ip(host)):
        raise ConnectWiseConfigError("host", f"{raw!r} is not a valid site, e.g. api-na.myconnectwise.net")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ConnectWiseConfigError(
            "host",
            f"{raw!r} must be only the site (no path, query or credentials), e.g. api-na.myconnectwise.net",
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConnectWiseConfigError("host", f"{raw!r} has an invalid port") from exc
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConnectWiseConfigError("host", "plain http is only allowed for loopback addresses; use https")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}" + (f":{port}" if port else "")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    return host == "localhost" or (_is_ip(host) and ipaddress.ip_address(host).is_loopback)


# -- the connection's extras ------------------------------------------------------------------
@dataclass(frozen=True)
class Extra:
    """One key of the connection's ``extra`` JSON.

    ``setting`` is the ``ConnectWiseSettings`` or ``RetryPolicy`` field it sets (the extra's own
    name when empty); ``scale`` multiplies a number into that field's unit (MiB -> bytes). A number
    must be positive and finite, except a retry extra, which ``RetryPolicy`` checks (a backoff may be 0).
    """

    name: str
    label: str
    kind: type[str] | type[int] | type[float]
    description: str
    setting: str = ""
    scale: int = 1
    secret: bool = False
    required: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "setting", self.setting or self.name)

    @property
    def retry(self) -> bool:
        """Whether it sets a ``RetryPolicy`` field."""
        return self.setting in {f.name for f in fields(RetryPolicy)}

    @property
    def json_type(self) -> Literal["string", "integer", "number"]:
        """The type as JSON schema names it: the form field's type and the docs' type column."""
        if self.kind is str:
            return "string"
        return "integer" if self.kind is int and self.scale == 1 else "number"

    @property
    def default(self) -> Any:
        """The value an empty extra means, from the settings class itself (so the docs cannot drift)."""
        owner = RetryPolicy if self.retry else ConnectWiseSettings
        spec = next(f for f in fields(owner) if f.name == self.setting)
        if spec.default is MISSING:
            return None
        return spec.default / self.scale if self.scale != 1 else spec.default


CONNECTION_EXTRAS: tuple[Extra, ...] = (
    Extra(
        "company_id",
        "Company ID",
        str,
        "The login company, as typed on ConnectWise's sign-in page "
        "(a login of company+public is accepted too).",
        required=True,
    ),
    Extra(
        "client_id",
        "Client ID",
        str,
        "The integration's clientId GUID from developer.connectwise.com.",
        secret=True,
        required=True,
    ),
    Extra("codebase", "Codebase", str, "Like v2025_1/; discovered from login/companyinfo when empty."),
    Extra("api_version", "API version", str, "Like 2025.1; pins the response models ConnectWise sends."),
    Extra("timeout", "Timeout (seconds)", float, "Seconds each connect or read may take."),
    Extra(
        "request_deadline",
        "Request deadline (seconds)",
        float,
        "Seconds a whole request may take, its body included; a slower answer fails, not retried.",
    ),
    Extra(
        "max_response_mb",
        "Largest response (MiB)",
        float,
        "The largest decompressed response body; bodies parsed in memory get an eighth of it.",
        "max_response_bytes",
        scale=1 << 20,
    ),
    Extra("max_pages", "Most pages per listing", int, "Pages one listing may follow before it fails."),
    Extra("max_attempts", "Attempts per call", int, "Attempts per ConnectWise call, counting the first."),
    Extra(
        "retry_backoff",
        "Retry backoff (seconds)",
        float,
        "Backoff base, doubled after each failed attempt, with full jitter.",
        "backoff_base",
    ),
    Extra("retry_backoff_max", "Longest backoff (seconds)", float, "The cap on one backoff.", "backoff_max"),
    Extra(
        "retry_after_default",
        "Wait after a 429 (seconds)",
        float,
        "Seconds to wait on a 429 that has no Retry-After header.",
        "default_retry_after",
    ),
)

# Settings names -> the connection fields a user edits.
CONNECTION_FIELDS: dict[str, str] = {
    "host": "host (the ConnectWise site)",
    "public_key": "login (the public key)",
    "private_key": "password (the private key)",
    **{extra.setting: f"extra.{extra.name}" for extra in CONNECTION_EXTRAS},
}


def _number(extra: Extra, value: Any) -> int | float:
    where = f"extra.{extra.name}"
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ConnectWiseConfigError(where, f"must be a number, got {value!r}") from exc
    if not extra.retry and (not math.isfinite(number) or number <= 0):
        raise ConnectWiseConfigError(where, f"must be a positive, finite number, got {value!r}")
    if extra.kind is int and extra.scale == 1 and not number.is_integer():
        raise ConnectWiseConfigError(where, f"must be a whole number, got {value!r}")
    return int(number * extra.scale) if extra.kind is int or extra.scale != 1 else number


def settings_from_fields(
    host: str, login: str, password: str, extra: Any, retry: RetryPolicy | None = None
) -> ConnectWiseSettings:
    """``ConnectWiseSettings`` from a connection's fields and its ``extra`` object, per
    ``CONNECTION_EXTRAS``. A problem names the connection field to fix (``extra.max_pages``)."""
    if not isinstance(extra, dict):
        raise ConnectWiseConfigError("extra", "must be a JSON object")
    company_id = extra.get("company_id")
    if not company_id and "+" in login:
        company_id, login = login.split("+", 1)
    values: dict[str, Any] = {
        "company_id": str(company_id or ""),
        "client_id": str(extra.get("client_id") or ""),
    }
    retry_values: dict[str, Any] = {}
    for spec in CONNECTION_EXTRAS:
        value = extra.get(spec.name)
        if is_blank(value) or spec.name in ("company_id", "client_id") or (spec.retry and retry):
            continue
        parsed = str(value) if spec.kind is str else _number(spec, value)
        (retry_values if spec.retry else values)[spec.setting] = parsed
    try:
        policy = retry or RetryPolicy(**retry_values)
        return ConnectWiseSettings(site=host, public_key=login, private_key=password, retry=policy, **values)
    except ConnectWiseConfigError as exc:
        raise ConnectWiseConfigError(CONNECTION_FIELDS.get(exc.setting, exc.setting), exc.problem) from None
