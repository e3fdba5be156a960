from __future__ import annotations

import pytest

from airflow_provider_cwgl.connectwise import ConnectWiseSettings, RetryPolicy
from airflow_provider_cwgl.errors import ConnectWiseConfigError

GOOD = {
    "site": "api-na.myconnectwise.net",
    "company_id": "acme",
    "public_key": "pub",
    "private_key": "priv",
    "client_id": "c1d2",
}


def make(**overrides: object) -> ConnectWiseSettings:
    return ConnectWiseSettings(**{**GOOD, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("api-na.myconnectwise.net", "https://api-na.myconnectwise.net"),
        ("https://cw.example.com/", "https://cw.example.com"),
        ("  https://cw.example.com:8443 ", "https://cw.example.com:8443"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://localhost:9000", "http://localhost:9000"),
    ],
)
def test_site_forms(site: str, expected: str) -> None:
    assert make(site=site).site == expected


@pytest.mark.parametrize(
    ("site", "fragment"),
    [
        ("", "is required"),
        ("http://cw.example.com", "only allowed for loopback"),
        ("ftp://cw.example.com", "scheme must be https"),
        ("https://cw.example.com/v4_6_release/apis/3.0", "must be only the site"),
        ("https://user:pw@cw.example.com", "must be only the site"),
        ("cw example.com", "not a valid site"),
        ("https://cw.example.com:99999", "invalid port"),
    ],
)
def test_bad_site_names_host(site: str, fragment: str) -> None:
    with pytest.raises(ConnectWiseConfigError) as info:
        make(site=site)
    assert info.value.setting == "host"
    assert fragment in str(info.value)


@pytest.mark.parametrize("name", ["company_id", "public_key", "private_key", "client_id"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_missing_credentials_name_the_field(name: str, value: object) -> None:
    with pytest.raises(ConnectWiseConfigError) as info:
        make(**{name: value})
    assert info.value.setting == name


def test_company_id_rejects_plus() -> None:
    with pytest.raises(ConnectWiseConfigError, match="company_id"):
        make(company_id="acme+pub")


def test_codebase_is_normalized_and_checked() -> None:
    assert make(codebase="/v2025_1").codebase == "v2025_1/"
    with pytest.raises(ConnectWiseConfigError, match="codebase"):
        make(codebase="v2025 1/../x")


def test_api_version_and_timeout_are_checked() -> None:
    assert (
        make(api_version="2025.1").accept_header() == "application/vnd.connectwise.com+json; version=2025.1"
    )
    assert make().accept_header() == "application/json"
    with pytest.raises(ConnectWiseConfigError, match="api_version"):
        make(api_version="latest")
    with pytest.raises(ConnectWiseConfigError, match="timeout"):
        make(timeout=0)


def test_private_key_and_client_id_not_in_repr() -> None:
    text = repr(make(private_key="s3cr3t-value", client_id="client-guid-value"))
    assert "s3cr3t-value" not in text and "client-guid-value" not in text


def test_retry_policy_validation() -> None:
    with pytest.raises(ConnectWiseConfigError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ConnectWiseConfigError, match="backoff_base"):
        RetryPolicy(backoff_base=-1)


@pytest.mark.parametrize("name", ["timeout", "request_deadline"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 0, True, "5"])
def test_time_bounds_must_be_positive_and_finite(name: str, value: object) -> None:
    with pytest.raises(ConnectWiseConfigError) as info:
        make(**{name: value})
    assert info.value.setting == name
    assert "finite" in str(info.value)


@pytest.mark.parametrize(
    ("name", "value"), [("max_pages", 0), ("max_pages", 2.5), ("max_response_bytes", 10)]
)
def test_size_bounds_are_checked(name: str, value: object) -> None:
    with pytest.raises(ConnectWiseConfigError, match=name):
        make(**{name: value})


def test_bounds_defaults_and_memory_share() -> None:
    settings = make()
    assert (settings.request_deadline, settings.max_response_bytes, settings.max_pages) == (
        900.0,
        1 << 30,
        1000,
    )
    assert settings.memory_response_bytes == 128 << 20
    assert make(max_response_bytes=4 << 20).memory_response_bytes == 512 << 10


@pytest.mark.parametrize("name", ["backoff_base", "backoff_max", "default_retry_after"])
def test_retry_policy_rejects_non_finite(name: str) -> None:
    with pytest.raises(ConnectWiseConfigError, match=name):
        RetryPolicy(**{name: float("inf")})


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("[::1]:8123", "https://[::1]:8123"),
        ("http://[::1]:8123", "http://[::1]:8123"),
        ("http://[::1]", "http://[::1]"),
    ],
)
def test_ipv6_sites_keep_their_port(site: str, expected: str) -> None:
    assert make(site=site).site == expected


def test_secrets_cover_key_client_id_and_basic_value() -> None:
    import base64

    settings = make(private_key="s3cr3t-value", client_id="client-guid-value")
    pair = "acme+pub:s3cr3t-value"
    assert settings.secrets() == (
        "s3cr3t-value",
        "client-guid-value",
        pair,
        base64.b64encode(pair.encode()).decode(),
    )


@pytest.mark.parametrize(
    "site", ["https://acme+pub:s3cretPrivateKey@cw.example.com", "https://:s3cretPrivateKey@h.io/x"]
)
def test_credentials_typed_into_the_host_are_not_echoed(site: str) -> None:
    """The Test button shows this message before any redactor exists (the settings failed)."""
    with pytest.raises(ConnectWiseConfigError, match="must be only the site") as info:
        make(site=site)
    assert "s3cretPrivateKey" not in str(info.value) and "s3cret" not in str(info.value)


def test_credentials_in_an_invalid_host_are_not_echoed() -> None:
    with pytest.raises(ConnectWiseConfigError) as info:
        make(site="https://pub:s3cretPrivateKey@not a host")
    assert "s3cret" not in str(info.value)
