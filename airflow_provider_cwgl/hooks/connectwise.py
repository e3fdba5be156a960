"""ConnectWiseHook: an Airflow connection of type ``connectwise`` -> an authenticated ConnectWise client."""

from __future__ import annotations

import base64
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_cwgl.connectwise import (
    ConnectWiseClient,
    ConnectWiseConfigError,
    ConnectWiseSettings,
    RetryPolicy,
)


class ConnectWiseHook(BaseHook):
    """Talks to ConnectWise Manage (PSA) through an Airflow connection.

    Connection fields: host = the site (``api-na.myconnectwise.net``; https assumed, http only for
    loopback), login = the API member's public key, password = its private key. Extra:
    ``company_id`` (required; a login of ``company+public`` is accepted too), ``client_id``
    (required), ``codebase`` (optional, discovered when absent), ``api_version`` (optional),
    ``timeout`` (optional, seconds).

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
        """One cheap authenticated call (``GET system/info``); used by the UI's Test button."""
        try:
            with self.get_conn() as client:
                info = client.get("system/info")
        except Exception as exc:  # the UI shows the message; it never carries credentials
            return False, str(exc)
        version = info.get("version") if isinstance(info, dict) else None
        return True, f"Connected to ConnectWise {version or ''} (codebase {client.codebase})".replace(
            "  ", " "
        )

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
            values[name] = kind(extra[key])
        except (TypeError, ValueError) as exc:
            raise ConnectWiseConfigError(f"extra.{key}", f"must be a number, got {extra[key]!r}") from exc
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
    "timeout": "extra.timeout",
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
    host = conn.host or ""
    if conn.port and host and ":" not in host.split("://")[-1]:
        host = f"{host}:{conn.port}"
    timeout = extra.get("timeout")
    try:
        timeout_value = float(timeout) if timeout not in (None, "") else 60.0
    except (TypeError, ValueError) as exc:
        raise ConnectWiseConfigError("timeout", f"must be a number of seconds, got {timeout!r}") from exc
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
        timeout=timeout_value,
        retry=retry or _retry_policy(extra),
    )
    token = base64.b64encode(f"{settings.basic_username}:{settings.private_key}".encode()).decode()
    mask_secret(token)
    mask_secret(f"Basic {token}")
    return settings
