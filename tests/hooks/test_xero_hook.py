"""XeroHook and its connection type, through Airflow's own connection handling, against a
scripted Xero on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any
from urllib.parse import quote

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException
from fake_xero import CLIENT_ID, CLIENT_SECRET, OTHER_TENANT, TENANT, FakeXero

from airflow_provider_cwgl import get_provider_info
from airflow_provider_cwgl.errors import XeroConfigError
from airflow_provider_cwgl.hooks.xero import XeroHook
from airflow_provider_cwgl.xero import XeroClient


def connection(fake: FakeXero, **extra: Any) -> dict[str, Any]:
    return {
        "conn_type": "xero",
        "host": fake.url,
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {"token_url": f"{fake.url}/connect/token", **extra},
    }


def set_conn(
    monkeypatch: pytest.MonkeyPatch, value: dict[str, Any] | str, conn_id: str = "xero_default"
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", value if isinstance(value, str) else json.dumps(value)
    )


def test_json_and_uri_connections_give_the_same_settings(
    xero: FakeXero, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, connection(xero, tenant_id=TENANT, calls_per_minute=30))
    from_json = XeroHook().settings
    token_url = quote(f"{xero.url}/connect/token", safe="")
    uri = (
        f"xero://{CLIENT_ID}:{quote(CLIENT_SECRET, safe='')}@127.0.0.1:{xero.server.port}/"
        f"?token_url={token_url}&tenant_id={TENANT}&calls_per_minute=30"
    )
    set_conn(monkeypatch, uri)
    from_uri = XeroHook().settings
    # The URI form has no scheme for the host: https is assumed, http must be written in JSON.
    assert from_uri.host == from_json.host.replace("http://", "https://")
    assert from_json.host == xero.url and from_json.tenant_id == TENANT
    assert (from_uri.client_id, from_uri.client_secret, from_uri.calls_per_minute) == (
        CLIENT_ID,
        CLIENT_SECRET,
        30,
    )
    assert from_uri.token_url == from_json.token_url


def test_the_client_reaches_xero_and_its_token_is_masked(
    xero: FakeXero, monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.sdk.log as sdk_log

    set_conn(monkeypatch, connection(xero))
    with XeroHook().get_client() as client:
        assert isinstance(client, XeroClient)
        assert client.get("Invoices") == {"Invoices": []}
    token = xero.tokens[0]
    redact = getattr(sdk_log, "redact", None) or sdk_log._secrets_masker().redact
    shown = redact(f"token {token} secret {CLIENT_SECRET}")
    assert token not in shown and CLIENT_SECRET not in shown


def test_test_connection_reports_the_organisation(xero: FakeXero, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, connection(xero))
    assert XeroHook().test_connection() == (
        True,
        f"Connected to Xero organisation 'Demo Company (NZ)' (tenant {TENANT})",
    )
    set_conn(monkeypatch, connection(xero, tenant_id=TENANT))
    assert XeroHook().test_connection()[0]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda c, x: c.update(password="wrong-secret-4567"), "check the connection's login"),
        (lambda c, x: c["extra"].update(tenant_id=OTHER_TENANT), f"{OTHER_TENANT} is not an organisation"),
        (lambda c, x: x.tenants.append({"tenantId": OTHER_TENANT, "tenantName": "Acme"}), "reaches 2 Xero"),
        (lambda c, x: c["extra"].update(calls_per_minute="many"), "extra.calls_per_minute: must be a number"),
    ],
)
def test_test_connection_fails_with_a_message_and_no_secret(
    xero: FakeXero, monkeypatch: pytest.MonkeyPatch, change: Any, says: str
) -> None:
    conn = connection(xero)
    change(conn, xero)
    set_conn(monkeypatch, conn)
    ok, message = XeroHook().test_connection()
    assert not ok and says in message
    for secret in (CLIENT_SECRET, "wrong-secret-4567", *xero.tokens):
        assert secret not in message


def test_hook_does_no_work_in_init(xero: FakeXero, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_XERO_LATER", raising=False)
    hook = XeroHook(xero_conn_id="xero_later")  # the connection does not exist yet
    set_conn(monkeypatch, connection(xero), conn_id="xero_later")
    assert hook.settings.host == xero.url  # looked up on first use
    assert xero.server.requests == []  # and nothing sent before a call
    with pytest.raises(AirflowNotFoundException, match="xero_missing"):
        XeroHook(xero_conn_id="xero_missing").get_client()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c.pop("login"), "login (the client id)"),
        (lambda c: c.pop("password"), "password (the client secret)"),
        (lambda c: c.update(host="http://xero.example.com"), "host (the API host)"),
        (lambda c: c["extra"].update(concurrent=0), "extra.concurrent"),
        (lambda c: c["extra"].update(tenantid="x"), "extra"),
    ],
)
def test_a_bad_connection_names_the_field_before_any_request(
    xero: FakeXero, monkeypatch: pytest.MonkeyPatch, change: Any, field: str
) -> None:
    conn = connection(xero)
    change(conn)
    set_conn(monkeypatch, conn)
    with pytest.raises(XeroConfigError) as info:
        XeroHook().get_client()
    assert info.value.setting == f"connection 'xero_default' {field}"
    assert xero.server.requests == []


def test_provider_info_declares_the_xero_form() -> None:
    types = {t["connection-type"]: t for t in get_provider_info()["connection-types"]}
    xero = types["xero"]
    assert xero["hook-class-name"] == f"{XeroHook.__module__}.{XeroHook.__qualname__}"
    assert xero["hook-name"] == XeroHook.hook_name == "Xero"
    assert xero["ui-field-behaviour"]["relabeling"] == {
        "host": "API host",
        "login": "Client ID",
        "password": "Client secret",
    }
    fields = xero["conn-fields"]
    assert list(fields) == [
        "tenant_id",
        "token_url",
        "api_path",
        "timeout",
        "request_deadline",
        "max_attempts",
        "calls_per_minute",
        "concurrent",
        "calls_per_day",
    ]
    assert fields["calls_per_minute"]["description"].startswith("Optional. 60 when empty.")
    assert fields["concurrent"]["schema"] == {"type": ["integer", "null"], "minimum": 1}


def test_airflow_lists_the_xero_connection_type() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "airflow", "providers", "hooks", "-o", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
    rows = {h["connection_type"]: h for h in json.loads(done.stdout)}
    assert rows["xero"]["class"] == "airflow_provider_cwgl.hooks.xero.XeroHook"
