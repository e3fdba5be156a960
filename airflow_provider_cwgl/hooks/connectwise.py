"""ConnectWiseHook: an Airflow connection of type ``connectwise`` -> an authenticated ConnectWise client."""

from __future__ import annotations

import ipaddress
from contextlib import suppress
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseSettings, RetryPolicy
from airflow_provider_cwgl.connectwise.redact import NO_SECRETS, Redactor
from airflow_provider_cwgl.connectwise.settings import settings_from_fields
from airflow_provider_cwgl.errors import ConnectWiseConfigError
from airflow_provider_cwgl.hooks.forms import extras_rows


def _extras_doc() -> str:
    notes = {"": "optional", "required": "required"}
    return "\n".join(
        f"    - ``{name}`` ({notes.get(default, f'default {default}')}): {description}"
        for name, _, _, default, description in extras_rows()
    )


class ConnectWiseHook(BaseHook):
    __doc__ = f"""Talks to ConnectWise Manage (PSA) through an Airflow connection.

    Connection fields: host = the site (``api-na.myconnectwise.net``; https assumed, http only for
    loopback), login = the API member's public key, password = its private key. Extra (the table
    ``connectwise.settings.CONNECTION_EXTRAS``; every number must be finite, and positive except a
    retry wait, which may be 0):

{_extras_doc()}

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
        """One cheap authenticated call (``GET system/info``) for the UI's Test button, which shows
        the message: it is redacted like every error."""
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
        """Every ConnectWise location (owner level) as ``{"id": int, "name": str}``, sorted by id:
        what a DAG maps the export over, one task per location."""
        with self.get_conn() as client:
            rows = client.list("system/locations", fields="id,name")
            return sorted(
                ({"id": int(row["id"]), "name": str(row.get("name") or "")} for row in rows),
                key=lambda loc: loc["id"],
            )


def settings_from_connection(conn: Any, retry: RetryPolicy | None = None) -> ConnectWiseSettings:
    """Validate an Airflow connection into ``ConnectWiseSettings`` (an error names the connection and
    the field to fix) and mask every secret it holds."""
    extra = conn.extra_dejson or {}
    if isinstance(extra, dict):
        for secret in (conn.password, extra.get("client_id")):
            if secret:
                mask_secret(str(secret))
    try:
        settings = settings_from_fields(
            _with_port(conn.host or "", conn.port), conn.login or "", conn.password or "", extra, retry
        )
    except ConnectWiseConfigError as exc:
        raise ConnectWiseConfigError(f"connection {conn.conn_id!r} {exc.setting}", exc.problem) from None
    token = settings.secrets()[-1]
    mask_secret(token)
    mask_secret(f"Basic {token}")
    return settings


def _with_port(host: str, port: int | None) -> str:
    """The connection's host with its port field added unless it has one; an IPv6 literal (``::1``)
    is bracketed so its colons are not taken for a port."""
    host = host.strip()
    if not host:
        return host
    scheme, sep, rest = host.rpartition("://")
    if ":" in rest and not rest.startswith("["):
        with suppress(ValueError):  # raised unless an IPv6 literal
            ipaddress.IPv6Address(rest.rstrip("/"))
            rest = f"[{rest.rstrip('/')}]"
    try:
        has_port = urlsplit(f"//{rest}").port is not None
    except ValueError:
        has_port = True  # a malformed port: leave it for the settings' check to name
    if port and not has_port:
        rest = f"{rest.rstrip('/')}:{port}"
    return f"{scheme}{sep}{rest}"
