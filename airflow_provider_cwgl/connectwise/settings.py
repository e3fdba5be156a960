"""Validated connection settings for ConnectWise Manage.

Everything a bad connection can get wrong is caught here, with the field named, before a request.
"""

from __future__ import annotations

import base64
import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_cwgl.connectwise.errors import ConnectWiseConfigError

_CODEBASE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9.\-]+$")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (429, 5xx, timeouts, dropped connections, malformed bodies) are retried.

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
    """Where and as whom to call ConnectWise.

    ``site`` is a host (``api-na.myconnectwise.net``; https assumed) or a URL. Plain http is accepted
    only for loopback addresses, for local servers such as the sandbox.

    Bounds against a misbehaving server: ``timeout`` applies to each connect and each read;
    ``request_deadline`` to a whole request (headers and body: a server dripping bytes slowly fails
    after it, with no retry); ``max_response_bytes`` caps a body once decompressed (the export is
    streamed to disk; every other response is parsed in memory and held to an eighth of it);
    ``max_pages`` caps the pages one listing may follow.
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
            object.__setattr__(self, "codebase", normalize_codebase(self.codebase))
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
    host = parts.hostname or ""
    if not host or not _HOSTNAME_RE.match(host.strip("[]")) and not _is_ip(host):
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


def normalize_codebase(codebase: Any) -> str:
    """``v2025_1`` or ``/v2025_1/`` -> ``v2025_1/`` (ConnectWise's codebase values end in a slash)."""
    text = str(codebase).strip().strip("/")
    if not text or not _CODEBASE_RE.match(text):
        raise ConnectWiseConfigError("codebase", f"must look like v2025_1/, got {codebase!r}")
    return text + "/"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
