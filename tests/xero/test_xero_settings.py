"""Xero settings: every bad field named, with what it accepts, before any request."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_cwgl.errors import SettingError, XeroConfigError
from airflow_provider_cwgl.xero import XeroSettings, settings_from_fields


def test_defaults_reach_xero() -> None:
    settings = settings_from_fields("CLIENTID", "s3cret-value", None, {})
    assert settings.host == "https://api.xero.com"
    assert settings.api_root == "https://api.xero.com/api.xro/2.0"
    assert settings.connections_url == "https://api.xero.com/connections"
    assert settings.token_url == "https://identity.xero.com/connect/token"
    assert settings.tenant_id is None
    assert (settings.calls_per_minute, settings.concurrent, settings.calls_per_day) == (60, 5, 5000)


def test_every_extra_is_read() -> None:
    extra = {
        "tenant_id": "fe79f7dd-b6d4-4a92-ba7b-538af6289c58",
        "token_url": "http://127.0.0.1:8123/connect/token/",
        "api_path": "/",
        "timeout": "12.5",
        "request_deadline": 100,
        "max_attempts": "3",
        "calls_per_minute": 30,
        "concurrent": 2.0,
        "calls_per_day": "1000",
    }
    settings = settings_from_fields(" CLIENTID ", "secret", "http://127.0.0.1:8123/", extra)
    assert settings == XeroSettings(
        client_id="CLIENTID",
        client_secret="secret",
        host="http://127.0.0.1:8123",
        tenant_id="fe79f7dd-b6d4-4a92-ba7b-538af6289c58",
        token_url="http://127.0.0.1:8123/connect/token",
        api_path="",
        timeout=12.5,
        request_deadline=100.0,
        max_attempts=3,
        calls_per_minute=30,
        concurrent=2,
        calls_per_day=1000,
    )
    assert settings.api_root == "http://127.0.0.1:8123"


def test_blank_extras_mean_the_defaults() -> None:
    settings = settings_from_fields(
        "id", "secret", "", {"tenant_id": "None", "timeout": " ", "concurrent": None}
    )
    assert (settings.tenant_id, settings.timeout, settings.concurrent) == (None, 30.0, 5)


@pytest.mark.parametrize(
    ("login", "password", "host", "extra", "field", "says"),
    [
        ("", "secret", None, {}, "login (the client id)", "required"),
        ("id", "", None, {}, "password (the client secret)", "required"),
        ("id", "secret", "http://api.example.com", {}, "host (the API host)", "https"),
        ("id", "secret", "ftp://api.xero.com", {}, "host (the API host)", "scheme must be https"),
        ("id", "secret", "https://api.xero.com/api.xro/2.0", {}, "host (the API host)", "no path"),
        ("id", "secret", "https://api.xero.com:99999", {}, "host (the API host)", "invalid port"),
        ("id", "secret", None, {"token_url": "http://identity.example.com/t"}, "extra.token_url", "https"),
        ("id", "secret", None, {"tenant_id": "has space"}, "extra.tenant_id", "GUID"),
        ("id", "secret", None, {"api_path": "api.xro"}, "extra.api_path", "/api.xro/2.0"),
        ("id", "secret", None, {"timeout": "soon"}, "extra.timeout", "must be a number"),
        ("id", "secret", None, {"timeout": "nan"}, "extra.timeout", "positive, finite"),
        ("id", "secret", None, {"request_deadline": 0}, "extra.request_deadline", "positive"),
        ("id", "secret", None, {"calls_per_minute": 2.5}, "extra.calls_per_minute", "whole number"),
        ("id", "secret", None, {"concurrent": 0}, "extra.concurrent", ">= 1"),
        ("id", "secret", None, {"max_attempts": -1}, "extra.max_attempts", ">= 1"),
        ("id", "secret", None, {"tenantId": "x"}, "extra", "accepted: tenant_id, token_url"),
        ("id", "secret", None, ["tenant_id"], "extra", "JSON object"),
    ],
)
def test_a_bad_field_is_named_with_what_it_accepts(
    login: str, password: str, host: Any, extra: Any, field: str, says: str
) -> None:
    with pytest.raises(XeroConfigError) as info:
        settings_from_fields(login, password, host, extra)
    assert info.value.setting == field
    assert says in info.value.problem
    assert isinstance(info.value, SettingError) and isinstance(info.value, ValueError)


def test_credentials_in_a_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(XeroConfigError) as info:
        settings_from_fields("id", "secret", "https://id:TopSecretValue@api.xero.com", {})
    assert info.value.setting == "host (the API host)"
    assert "TopSecretValue" not in str(info.value)


def test_the_secret_is_not_in_the_repr() -> None:
    settings = XeroSettings(client_id="id", client_secret="TopSecretValue")
    assert "TopSecretValue" not in repr(settings) and "client_id='id'" in repr(settings)


@pytest.mark.parametrize("host", ["http://localhost:8000", "http://[::1]:8000", "http://127.0.0.2"])
def test_plain_http_only_for_loopback(host: str) -> None:
    assert XeroSettings(client_id="id", client_secret="s", host=host).host == host
