"""ConnectWiseHook and provider registration, through Airflow's own connection handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any
from urllib.parse import quote

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_cwgl import DISTRIBUTION_NAME, get_provider_info
from airflow_provider_cwgl.errors import ConnectWiseConfigError
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.sandbox import Sandbox


def set_conn(monkeypatch: pytest.MonkeyPatch, value: str, conn_id: str = "connectwise_default") -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)


def uri_for(sandbox: Sandbox) -> str:
    creds = sandbox.credentials
    return (
        f"connectwise://http://{quote(creds['public_key'], safe='')}:{quote(creds['private_key'], safe='')}"
        f"@127.0.0.1:{sandbox.port}/?company_id={creds['company_id']}&client_id={creds['client_id']}"
    )


def test_json_and_uri_connections_give_the_same_settings(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, json.dumps(cw_sandbox.connection()))
    from_json = ConnectWiseHook().settings
    set_conn(monkeypatch, uri_for(cw_sandbox))
    from_uri = ConnectWiseHook().settings
    assert from_json == from_uri
    assert from_json.site == cw_sandbox.url
    assert from_json.company_id == cw_sandbox.credentials["company_id"]


def test_login_may_carry_the_company(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = cw_sandbox.connection()
    conn["login"] = f"{conn['extra'].pop('company_id')}+{conn['login']}"
    set_conn(monkeypatch, json.dumps(conn))
    settings = ConnectWiseHook().settings
    assert settings.company_id == cw_sandbox.credentials["company_id"]
    assert settings.public_key == cw_sandbox.credentials["public_key"]


def test_test_connection_reports_success_and_failure(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(monkeypatch, json.dumps(cw_sandbox.connection()))
    ok, message = ConnectWiseHook().test_connection()
    assert ok, message
    assert cw_sandbox.codebase in message
    bad = cw_sandbox.connection()
    bad["password"] = "not-the-key-123456"
    set_conn(monkeypatch, json.dumps(bad))
    ok, message = ConnectWiseHook().test_connection()
    assert not ok
    assert "401" in message and "not-the-key-123456" not in message


def test_hook_does_no_work_in_init(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CW_LATER", raising=False)
    hook = ConnectWiseHook(connectwise_conn_id="cw_later")  # the connection does not exist yet
    set_conn(monkeypatch, json.dumps(cw_sandbox.connection()), conn_id="cw_later")
    assert hook.settings.site == cw_sandbox.url  # looked up on first use, not in __init__
    assert len(cw_sandbox.log) == 0  # and nothing sent before a call
    missing = ConnectWiseHook(connectwise_conn_id="does_not_exist")
    with pytest.raises(AirflowNotFoundException, match="^The conn_id `does_not_exist` isn't defined$"):
        missing.get_conn()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c["extra"].pop("company_id"), "extra.company_id"),
        (lambda c: c["extra"].pop("client_id"), "extra.client_id"),
        (lambda c: c.pop("login"), "login (the public key)"),
        (lambda c: c.pop("password"), "password (the private key)"),
        (lambda c: c.update(host="http://cw.example.com"), "host (the ConnectWise site)"),
        (lambda c: c["extra"].update(timeout="soon"), "extra.timeout"),
    ],
)
def test_bad_connection_names_the_field_before_any_request(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, mutate: object, field: str
) -> None:
    conn = cw_sandbox.connection()
    mutate(conn)  # type: ignore[operator]
    set_conn(monkeypatch, json.dumps(conn))
    with pytest.raises(ConnectWiseConfigError) as info:
        ConnectWiseHook().get_conn()
    assert f"connection 'connectwise_default' {field}" in str(info.value)
    assert len(cw_sandbox.log) == 0


def test_provider_info_shape() -> None:
    info = get_provider_info()
    assert info["package-name"] == DISTRIBUTION_NAME
    conn_type = info["connection-types"][0]
    assert conn_type["connection-type"] == ConnectWiseHook.conn_type
    assert conn_type["hook-class-name"] == f"{ConnectWiseHook.__module__}.{ConnectWiseHook.__qualname__}"
    assert set(conn_type["conn-fields"]) == {
        "company_id",
        "client_id",
        "codebase",
        "api_version",
        "timeout",
        "request_deadline",
        "max_response_mb",
        "max_pages",
        "max_attempts",
        "retry_backoff",
        "retry_backoff_max",
        "retry_after_default",
    }
    assert conn_type["conn-fields"]["client_id"]["schema"]["format"] == "password"
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "Private key"
    assert "get_ui_field_behaviour" not in vars(ConnectWiseHook)  # the form is the metadata's alone


def test_airflow_discovers_the_provider_and_connection_type() -> None:
    def airflow_json(*args: str) -> Any:
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        command = [sys.executable, "-m", "airflow", *args, "-o", "json"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=True)
        return json.loads(done.stdout)

    assert DISTRIBUTION_NAME in [p["package_name"] for p in airflow_json("providers", "list")]
    rows = {h["connection_type"]: h for h in airflow_json("providers", "hooks")}
    assert rows["connectwise"]["class"] == "airflow_provider_cwgl.hooks.connectwise.ConnectWiseHook"


def test_settings_error_type_is_a_value_error() -> None:
    assert issubclass(ConnectWiseConfigError, ValueError)


def test_bound_extras_are_read(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(
        monkeypatch,
        json.dumps(cw_sandbox.connection(request_deadline="30", max_response_mb=2.5, max_pages=7, timeout=4)),
    )
    settings = ConnectWiseHook().settings
    assert settings.request_deadline == 30.0
    assert settings.max_response_bytes == int(2.5 * (1 << 20))
    assert settings.max_pages == 7 and settings.timeout == 4.0


@pytest.mark.parametrize(
    ("extra", "value"),
    [
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("request_deadline", "0"),
        ("request_deadline", "soon"),
        ("max_response_mb", "-1"),
        ("max_pages", "inf"),
        ("max_pages", 2.5),  # a count: not rounded down to 2 behind the user's back
        ("max_attempts", 2.5),
        ("max_attempts", "3.5"),
    ],
)
def test_bad_bound_extras_name_the_extra(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, extra: str, value: str | float
) -> None:
    set_conn(monkeypatch, json.dumps(cw_sandbox.connection(**{extra: value})))
    with pytest.raises(ConnectWiseConfigError) as info:
        ConnectWiseHook().get_conn()
    assert f"connection 'connectwise_default' extra.{extra}:" in str(info.value)
    assert len(cw_sandbox.log) == 0


@pytest.mark.parametrize(
    ("host", "port", "site"),
    [
        ("http://::1", 8123, "http://[::1]:8123"),
        ("http://[::1]", 8123, "http://[::1]:8123"),
        ("[::1]", 8123, "https://[::1]:8123"),
        ("http://[::1]:9000", 8123, "http://[::1]:9000"),
        ("http://127.0.0.1", 8123, "http://127.0.0.1:8123"),
        ("api-na.myconnectwise.net", None, "https://api-na.myconnectwise.net"),
    ],
)
def test_host_and_port_fields_combine(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, host: str, port: int | None, site: str
) -> None:
    conn = cw_sandbox.connection()
    conn.update(host=host, port=port)
    set_conn(monkeypatch, json.dumps(conn))
    assert ConnectWiseHook().settings.site == site


def test_hook_docstring_names_every_connection_extra() -> None:
    from airflow_provider_cwgl.connectwise.settings import CONNECTION_EXTRAS

    doc = ConnectWiseHook.__doc__ or ""
    extras = [extra.name for extra in CONNECTION_EXTRAS]
    assert {"company_id", "client_id", "timeout", "max_pages", "retry_backoff_max"} <= set(extras)
    assert [name for name in extras if f"``{name}``" not in doc] == []


def test_the_form_the_parsing_and_the_docs_are_one_table_of_extras(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every extra of the docs' rows is a form field with the same label, and the hook reads it."""
    from airflow_provider_cwgl.connectwise.settings import CONNECTION_EXTRAS
    from airflow_provider_cwgl.hooks.forms import extras_rows

    form = get_provider_info()["connection-types"][0]["conn-fields"]
    rows = extras_rows()
    assert [row[0] for row in rows] == list(form)
    assert [(row[0], row[1]) for row in rows] == [(name, field["label"]) for name, field in form.items()]
    for name, _, kind, default, _ in rows:
        assert form[name]["schema"]["type"] == [kind, "null"]
        assert default == "required" or default == "" or default in form[name]["description"]
    # A distinct value in every numeric extra reaches the settings, scaled into its unit.
    numeric = [extra for extra in CONNECTION_EXTRAS if extra.kind is not str]
    given = {extra.name: index + 2 for index, extra in enumerate(numeric)}
    set_conn(
        monkeypatch, json.dumps(cw_sandbox.connection(**given, codebase="v2025_1", api_version="2025.1"))
    )
    settings = ConnectWiseHook().settings
    for extra in numeric:
        owner = settings.retry if extra.retry else settings
        assert getattr(owner, extra.setting) == given[extra.name] * extra.scale, extra.name
    assert (settings.codebase, settings.api_version) == ("v2025_1/", "2025.1")


def test_empty_extras_mean_the_documented_defaults(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_cwgl.connectwise.settings import CONNECTION_EXTRAS

    numeric = [extra for extra in CONNECTION_EXTRAS if extra.kind is not str]
    set_conn(monkeypatch, json.dumps(cw_sandbox.connection(**{extra.name: "" for extra in numeric})))
    settings = ConnectWiseHook().settings
    documented = {
        "timeout": 60,
        "request_deadline": 900,
        "max_response_mb": 1024,
        "max_pages": 1000,
        "max_attempts": 6,
        "retry_backoff": 0.5,
        "retry_backoff_max": 30,
        "retry_after_default": 30,
    }
    assert {extra.name: extra.default for extra in numeric} == documented
    for extra in numeric:
        owner = settings.retry if extra.retry else settings
        assert getattr(owner, extra.setting) == documented[extra.name] * extra.scale, extra.name
