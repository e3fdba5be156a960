"""XeroHook: an Airflow connection of type ``xero`` -> an authenticated, paced Xero client.

Its connection form is in ``hooks.forms`` (``get_provider_info()`` publishes it).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_cwgl.connectwise.redact import NO_SECRETS, Redactor
from airflow_provider_cwgl.errors import XeroConfigError
from airflow_provider_cwgl.hooks.connectwise import _with_port
from airflow_provider_cwgl.xero import XeroClient, XeroSettings, settings_from_fields
from airflow_provider_cwgl.xero.settings import DEFAULT_HOST, XERO_EXTRAS


def _extras_doc() -> str:
    return "\n".join(
        f"    - ``{extra.name}`` ({'optional' if extra.default is None else f'default {extra.default!r}'}): "
        f"{extra.description}"
        for extra in XERO_EXTRAS
    )


class XeroHook(BaseHook):
    __doc__ = f"""Talks to Xero's Accounting API as a Custom Connection app, through an Airflow connection.

    Connection fields: login = the app's OAuth 2 client id, password = its client secret, host =
    the API host (empty for ``{DEFAULT_HOST}``; http only for loopback). Extra (the table
    ``xero.settings.XERO_EXTRAS``):

{_extras_doc()}

    The client secret and every token the client obtains are masked in Airflow's logs. Nothing is
    read or sent in ``__init__``: DAG files are parsed often.
    """

    conn_name_attr = "xero_conn_id"
    default_conn_name = "xero_default"
    conn_type = "xero"
    hook_name = "Xero"

    def __init__(self, xero_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.xero_conn_id = xero_conn_id

    @cached_property
    def settings(self) -> XeroSettings:
        return settings_from_connection(self.get_connection(self.xero_conn_id))

    def get_client(self) -> XeroClient:
        """A new client (one token, one pacer); the caller closes it (``with hook.get_client() as client:``).
        Share it between the threads of a task rather than making one per thread: pacing is per client."""
        return XeroClient(self.settings, on_secret=mask_secret)

    def get_conn(self) -> XeroClient:
        """``get_client()``, under the name Airflow's hooks share."""
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """A token, then the tenant: the configured one must be among the organisations the token
        reaches, or the token must reach exactly one. Used by the UI's Test button; the message
        is redacted (the UI shows it)."""
        client: XeroClient | None = None
        try:
            client = self.get_client()
            with client:
                row = client.tenant()
            message = f"Connected to Xero organisation {row.get('tenantName') or '(no name)'!r} (tenant {row.get('tenantId')})"
        except Exception as exc:  # the UI shows the message
            redact: Redactor = client.redact if client is not None else NO_SECRETS
            return False, redact(str(exc))
        return True, client.redact(message)


def settings_from_connection(conn: Any) -> XeroSettings:
    """Validate an Airflow connection into ``XeroSettings``, masking its secret first. Errors name
    the connection and the field to fix, and are raised before any request."""
    if conn.password:
        mask_secret(str(conn.password))
    host = _with_port(conn.host or "", conn.port)
    try:
        return settings_from_fields(conn.login, conn.password, host, conn.extra_dejson)
    except XeroConfigError as exc:
        raise XeroConfigError(f"connection {conn.conn_id!r} {exc.setting}", exc.problem) from None
