"""ConnectWiseHook: an Airflow connection of type ``connectwise`` -> an authenticated ConnectWise client."""

from __future__ import annotations

import ipaddress
import math
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_cwgl.connectwise import (
    ConnectWiseClient,
    ConnectWiseConfigError,
    ConnectWiseSettings,
    RetryPolicy,
)
from airflow_provider_cwgl.connectwise.redact import NO_SECRETS, Redactor


class ConnectWiseHook(BaseHook):
    """Talks to ConnectWise Manage (PSA) through an Airflow connection.

    Connection fields: host = the site (``api-na.myconnectwise.net``; https assumed, http only for
    loopback), login = the API member's public key, password = its private key. Extra:
    ``company_id`` (required; a login of ``company+public`` is accepted too), ``client_id``
    (required), ``codebase`` (optional, discovered when absent), ``api_version`` (optional),
    ``timeout`` (optional, seconds per connect or read, default 60), ``request_deadline``
    (optional, seconds for a whole request including its body, default 900), ``max_response_mb``
    (optional, the largest decompressed response body, default 1024; bodies parsed in memory get an
    eighth), ``max_pages`` (optional, pages one listing may follow, default 1000), and the optional
    retry extras ``max_attempts`` (attempts per call counting the first, default 6),
    ``retry_backoff`` (backoff base in seconds, doubled each time with full jitter, default 0.5),
    ``retry_backoff_max`` (its cap, default 30) and ``retry_after_default`` (seconds to wait on a 429
    without ``Retry-After``, default 30). Every number must be positive and finite.

    Nothing is read or sent in ``__init__``: DAG files are parsed often.
    """

    conn_name_attr = "connectwise_conn_id"
    default_conn_name = "connectwise_default"
    conn_type = "connectwise"
    hook_name = "ConnectWise Manage"

    def __init__(
        self,
        connectwise_conn_id: str = default_conn_name,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.connectwise_conn_id = connectwise_conn_id
        self.retry = retry

    @cached_property
    def settings(self) -> ConnectWiseSettings:
        conn = self.get_connection(self.connectwise_conn_id)
        return settings_from_connection(conn, retry=self.retry)

    def get_conn(self) -> ConnectWiseClient:
        """A new client; the caller closes it (``with hook.get_conn() as client:``)."""
        return ConnectWiseClient(self.settings)

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call (``GET system/info``); used by the UI's Test button.

        The message is redacted like every error (see ``connectwise/redact.py``): the UI shows it.
        """
        redact: Redactor = NO_SECRETS
        try:
            redact = Redactor(self.settings.secrets())
            with self.get_conn() as client:
                info = client.get("system/info")
                version = info.get("version") if isinstance(info, dict) else None
                message = f"Connected to ConnectWise {version or ''} (codebase {client.codebase})"
        except Exception as exc:  # the UI shows the message
            return False, redact(str(exc))
        return True, redact(message.replace("  ", " "))

    def list_locations(self) -> list[dict[str, Any]]:
        """Every ConnectWise location (owner level) as ``{"id": int, "name": str}``, sorted by id.

        One paged ``GET system/locations``; what a DAG maps the export over, one task per location.
        """
        with self.get_conn() as client:
            rows = client.list("system/locations", fields="id,name")
            return sorted(
                ({"id": int(row["id"]), "name": str(row.get("name") or "")} for row in rows),
                key=lambda loc: loc["id"],
            )

    # Airflow < 3.2 built connection forms from these methods; 3.2+ reads get_provider_info().
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["port", "schema"],
            "relabeling": {"host": "Site", "login": "Public key", "password": "Private key"},
            "placeholders": {"host": "api-na.myconnectwise.net"},
        }


# Connection extras that bound a request -> (ConnectWiseSettings field, type, scale).
_BOUND_EXTRAS = {
    "timeout": ("timeout", float, 1),
    "request_deadline": ("request_deadline", float, 1),
    "max_response_mb": ("max_response_bytes", int, 1 << 20),
    "max_pages": ("max_pages", int, 1),
}

# Connection extras that tune retries -> RetryPolicy fields.
_RETRY_EXTRAS = {
    "max_attempts": ("max_attempts", int),
    "retry_backoff": ("backoff_base", float),
    "retry_backoff_max": ("backoff_max", float),
    "retry_after_default": ("default_retry_after", float),
}


def _retry_policy(extra: dict[str, Any]) -> RetryPolicy:
    """Retries from the connection's extras (``max_attempts``, ``retry_backoff``, ...), else defaults."""
    values: dict[str, Any] = {}
    for key, (name, kind) in _RETRY_EXTRAS.items():
        if extra.get(key) in (None, ""):
            continue
        try:
            number = float(extra[key])
        except (TypeError, ValueError) as exc:
            raise ConnectWiseConfigError(f"extra.{key}", f"must be a number, got {extra[key]!r}") from exc
        if kind is int and not number.is_integer():
            raise ConnectWiseConfigError(f"extra.{key}", f"must be a whole number, got {extra[key]!r}")
        values[name] = kind(number)
    try:
        return RetryPolicy(**values)
    except ConnectWiseConfigError as exc:
        extra_name = next((k for k, (n, _) in _RETRY_EXTRAS.items() if n == exc.setting), exc.setting)
        raise ConnectWiseConfigError(f"extra.{extra_name}", exc.problem) from None


# Settings names -> the connection fields a user edits.
_CONNECTION_FIELD = {
    "host": "host (the ConnectWise site)",
    "public_key": "login (the public key)",
    "private_key": "password (the private key)",
    "company_id": "extra.company_id",
    "client_id": "extra.client_id",
    "codebase": "extra.codebase",
    "api_version": "extra.api_version",
    **{name: f"extra.{key}" for key, (name, _, _) in _BOUND_EXTRAS.items()},
}


def settings_from_connection(conn: Any, retry: RetryPolicy | None = None) -> ConnectWiseSettings:
    """Validate an Airflow connection into ``ConnectWiseSettings``; mask every secret it holds.

    Errors name the connection and the field to fix, and are raised before any request.
    """
    try:
        return _settings_from_connection(conn, retry)
    except ConnectWiseConfigError as exc:
        field = _CONNECTION_FIELD.get(exc.setting, exc.setting)
        raise ConnectWiseConfigError(f"connection {conn.conn_id!r} {field}", exc.problem) from None


def _settings_from_connection(conn: Any, retry: RetryPolicy | None) -> ConnectWiseSettings:
    extra = conn.extra_dejson or {}
    if not isinstance(extra, dict):
        raise ConnectWiseConfigError("extra", "must be a JSON object")
    login = conn.login or ""
    company_id = extra.get("company_id")
    if not company_id and "+" in login:
        company_id, login = login.split("+", 1)
    host = _with_port(conn.host or "", conn.port)
    bounds: dict[str, Any] = {}
    for key, (name, kind, scale) in _BOUND_EXTRAS.items():
        value = extra.get(key)
        if value in (None, ""):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ConnectWiseConfigError(name, f"must be a number, got {value!r}") from exc
        if not math.isfinite(number) or number <= 0:
            raise ConnectWiseConfigError(name, f"must be a positive, finite number, got {value!r}")
        if kind is int and scale == 1 and not number.is_integer():
            raise ConnectWiseConfigError(name, f"must be a whole number, got {value!r}")
        bounds[name] = kind(number * scale)
    for secret in (conn.password, extra.get("client_id")):
        if secret:
            mask_secret(str(secret))
    settings = ConnectWiseSettings(
        site=host,
        company_id=str(company_id or ""),
        public_key=login,
        private_key=conn.password or "",
        client_id=str(extra.get("client_id") or ""),
        codebase=extra.get("codebase") or None,
        api_version=str(extra["api_version"]) if extra.get("api_version") else None,
        retry=retry or _retry_policy(extra),
        **bounds,
    )
    token = settings.secrets()[-1]
    mask_secret(token)
    mask_secret(f"Basic {token}")
    return settings


def _with_port(host: str, port: int | None) -> str:
    """The connection's host with its port field added, unless the host already carries a port.

    An IPv6 literal (``::1``, ``[::1]``) is bracketed so its colons are not taken for a port.
    """
    host = host.strip()
    if not host:
        return host
    scheme, sep, rest = host.rpartition("://")
    if ":" in rest and not rest.startswith("["):
        try:
            ipaddress.IPv6Address(rest.rstrip("/"))
            rest = f"[{rest.rstrip('/')}]"
        except ValueError:
            pass
    try:
        has_port = urlsplit(f"//{rest}").port is not None
    except ValueError:
        has_port = True  # a malformed port: leave it for the settings' check to name
    if port and not has_port:
        rest = f"{rest.rstrip('/')}:{port}"
    return f"{scheme}{sep}{rest}"
