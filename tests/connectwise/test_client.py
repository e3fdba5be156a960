"""The ConnectWise client against the sandbox: a real HTTP server on loopback."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import math
from decimal import Decimal

import httpx
import pytest
from conftest import secret_fragments, settings_for

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseSettings, RetryPolicy
from airflow_provider_cwgl.connectwise.redact import REDACTED, Redactor
from airflow_provider_cwgl.errors import ConnectWiseError
from airflow_provider_cwgl.sandbox import Sandbox


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_for(
    sandbox: Sandbox, sleep: RecordingSleep | None = None, **overrides: object
) -> ConnectWiseClient:
    return ConnectWiseClient(settings_for(sandbox, **overrides), sleep=sleep or RecordingSleep())


def test_sends_basic_auth_and_client_id(cw_sandbox: Sandbox) -> None:
    captured: list[httpx.Request] = []
    transport = httpx.HTTPTransport()

    class Spy(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            captured.append(request)
            return transport.handle_request(request)

    with ConnectWiseClient(settings_for(cw_sandbox), transport=Spy()) as client:
        assert client.get("system/info")["version"]
    api_call = captured[-1]
    creds = cw_sandbox.credentials
    expected = base64.b64encode(
        f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode()
    ).decode()
    assert api_call.headers["authorization"] == f"Basic {expected}"
    assert api_call.headers["clientid"] == creds["client_id"]
    # companyinfo is public: no credentials go to it.
    info_call = captured[0]
    assert info_call.url.path == f"/login/companyinfo/{creds['company_id']}"
    assert "authorization" not in info_call.headers and "clientid" not in info_call.headers


def test_wrong_key_is_401_not_retried_and_secret_free(cw_sandbox: Sandbox) -> None:
    client = client_for(cw_sandbox, private_key="wrong-private-key-123")
    with pytest.raises(ConnectWiseError) as info:
        client.get("system/info")
    assert info.value.status == 401
    assert info.value.code == "Unauthorized"
    assert cw_sandbox.log.count("GET", "system/info") == 1
    assert "wrong-private-key-123" not in str(info.value)
    assert "system/info" in str(info.value)


def test_missing_client_id_is_refused_by_sandbox(cw_sandbox: Sandbox) -> None:
    response = httpx.get(
        cw_sandbox.api_url + "system/info",
        auth=(
            f"{cw_sandbox.credentials['company_id']}+{cw_sandbox.credentials['public_key']}",
            cw_sandbox.credentials["private_key"],
        ),
    )
    assert response.status_code == 401
    assert set(response.json()) == {"code", "message", "errors"}


def test_codebase_discovered_once_and_cached(cw_sandbox: Sandbox) -> None:
    with client_for(cw_sandbox) as client:
        client.get("system/info")
        client.get("system/info")
        assert client.codebase == cw_sandbox.codebase
    assert cw_sandbox.log.count("GET", "login/companyinfo/*") == 1


def test_pinned_codebase_skips_discovery(cw_sandbox: Sandbox) -> None:
    with client_for(cw_sandbox, codebase=cw_sandbox.codebase) as client:
        client.get("system/info")
    assert cw_sandbox.log.count("GET", "login/companyinfo/*") == 0


def test_stale_codebase_is_rediscovered_once(cw_sandbox: Sandbox) -> None:
    with client_for(cw_sandbox) as client:
        client.get("system/info")
        cw_sandbox.codebase = "v2026_1/"  # ConnectWise upgraded the tenant
        assert client.get("system/info")["version"]
        assert client.codebase == "v2026_1/"
    assert cw_sandbox.log.count("GET", "login/companyinfo/*") == 2


def test_unknown_company_is_clear(cw_sandbox: Sandbox) -> None:
    with pytest.raises(ConnectWiseError, match="check company_id and host"):
        client_for(cw_sandbox, company_id="nosuchco").get("system/info")


def test_list_follows_every_page(cw_sandbox: Sandbox) -> None:
    total = len(cw_sandbox.store.resources["company/companies"])
    with client_for(cw_sandbox) as client:
        records = list(client.list("company/companies", page_size=3, order_by="id asc"))
    assert [r["id"] for r in records] == sorted(cw_sandbox.store.resources["company/companies"])
    assert len(records) == total
    assert cw_sandbox.log.count("GET", "company/companies") == math.ceil(total / 3)


def test_list_passes_conditions_and_fields(cw_sandbox: Sandbox) -> None:
    with client_for(cw_sandbox) as client:
        records = list(
            client.list(
                "company/companies", conditions='id in (1, 3) OR identifier = "C0005"', fields="id,identifier"
            )
        )
    assert sorted(r["id"] for r in records) == [1, 3, 5]
    assert all(set(r) == {"id", "identifier", "_info"} - {"_info"} for r in records)


def test_money_is_decimal(cw_sandbox: Sandbox) -> None:
    with client_for(cw_sandbox) as client:
        item = client.get("procurement/catalog/700")
    assert isinstance(item["price"], Decimal)
    assert item["price"] == cw_sandbox.store.resources["procurement/catalog"][700]["price"]


def test_429_waits_for_retry_after(cw_sandbox: Sandbox) -> None:
    cw_sandbox.faults.add(path="system/info", status=429, retry_after=7, times=1)
    sleep = RecordingSleep()
    with client_for(cw_sandbox, sleep) as client:
        client.get("system/info")
    assert sleep.delays == [7]
    assert cw_sandbox.log.count("GET", "system/info") == 2


def test_429_without_retry_after_uses_default(cw_sandbox: Sandbox) -> None:
    cw_sandbox.faults.add(path="system/info", status=429, times=2)
    sleep = RecordingSleep()
    retry = RetryPolicy(max_attempts=4, default_retry_after=12.5)
    with client_for(cw_sandbox, sleep, retry=retry) as client:
        client.get("system/info")
    assert sleep.delays == [12.5, 12.5]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_burst_shorter_than_budget_recovers(cw_sandbox: Sandbox, status: int) -> None:
    cw_sandbox.faults.add(path="system/info", status=status, times=2)
    sleep = RecordingSleep()
    with client_for(cw_sandbox, sleep) as client:
        assert client.get("system/info")["version"]
    assert cw_sandbox.log.count("GET", "system/info") == 3
    assert len(sleep.delays) == 2 and all(0 <= d <= 0.05 for d in sleep.delays)


def test_5xx_longer_than_budget_fails_with_attempt_count(cw_sandbox: Sandbox) -> None:
    cw_sandbox.faults.add(path="system/info", status=503)
    with pytest.raises(ConnectWiseError) as info, client_for(cw_sandbox) as client:
        client.get("system/info")
    assert info.value.status == 503
    assert info.value.attempts == 4
    assert "after 4 attempts" in str(info.value)
    assert cw_sandbox.log.count("GET", "system/info") == 4


@pytest.mark.parametrize(
    ("path", "status"), [("company/companies/999999", 404), ("company/companies?conditions=id%20%3D%3D", 400)]
)
def test_client_errors_are_not_retried(cw_sandbox: Sandbox, path: str, status: int) -> None:
    with (
        pytest.raises(ConnectWiseError) as info,
        client_for(cw_sandbox, codebase=cw_sandbox.codebase) as client,
    ):
        if "?" in path:
            client.get("company/companies", params={"conditions": "id =="})
        else:
            client.get(path)
    assert info.value.status == status
    assert info.value.attempts == 1
    assert cw_sandbox.log.count("GET", "company/companies*") == 1


def test_error_body_fields_are_carried(cw_sandbox: Sandbox) -> None:
    with pytest.raises(ConnectWiseError) as info, client_for(cw_sandbox) as client:
        client.post("finance/accounting/export", {"exportInvoicesFlag": False})
    err = info.value
    assert (err.status, err.code) == (400, "InvalidObject")
    assert err.errors[0]["field"] == "exportInvoicesFlag"
    assert "exportInvoicesFlag: Batch export must include" in str(err)


@pytest.mark.parametrize("fault", [{"drop": True}, {"malformed": True}])
def test_dropped_or_malformed_responses_are_retried(cw_sandbox: Sandbox, fault: dict[str, bool]) -> None:
    cw_sandbox.faults.add(path="company/companies", times=2, **fault)
    with client_for(cw_sandbox) as client:
        records = list(client.list("company/companies"))
    assert len(records) == len(cw_sandbox.store.resources["company/companies"])
    assert cw_sandbox.log.count("GET", "company/companies") == 3


def test_read_timeout_is_retried_then_reported(cw_sandbox: Sandbox) -> None:
    cw_sandbox.faults.add(path="system/info", latency=0.6)
    with pytest.raises(ConnectWiseError) as info, client_for(cw_sandbox, timeout=0.2) as client:
        client.get("system/info")
    assert info.value.status is None
    assert "timed out" in str(info.value) and "after 4 attempts" in str(info.value)


@pytest.mark.parametrize("fault", [{"drop": True}, {"malformed": True}, {"slow_body": 0.01}])
def test_post_to_file_streams_and_retries_truncated_bodies(
    cw_sandbox: Sandbox, fault: dict[str, object]
) -> None:
    cw_sandbox.faults.add(path="finance/accounting/export", times=2, **fault)
    dest = io.BytesIO()
    with client_for(cw_sandbox) as client:
        read = client.post_to_file(
            "finance/accounting/export", {"exportInvoicesFlag": True}, dest, read=json.load
        )
    data = json.loads(dest.getvalue())
    assert read == data  # what post_to_file returns is what ``read`` made of the one body in dest
    assert len(data["transactions"]) == sum(
        1
        for d in cw_sandbox.store.documents
        if d.section == "transactions" and d.document_date <= cw_sandbox.store.today
    )
    expected_requests = 1 if "slow_body" in fault else 3
    assert cw_sandbox.log.count("POST", "finance/accounting/export") == expected_requests


def test_secrets_never_logged(cw_sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cw_sandbox.faults.add(path="system/info", status=503, times=2)
    cw_sandbox.faults.add(path="company/companies", status=500)
    with client_for(cw_sandbox) as client:
        client.get("system/info")
        with pytest.raises(ConnectWiseError) as info:
            client.get("company/companies")
    creds = cw_sandbox.credentials
    token = base64.b64encode(f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode())
    text = caplog.text + str(info.value)
    assert "retrying" in caplog.text
    for secret in (creds["private_key"], token.decode(), creds["client_id"]):
        assert secret not in text


# -- redaction (connectwise/redact.py) --------------------------------------------------------
KEY = "Hx7-privATE-key-Q9w2e8R4t6Y1"
CLIENT = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
PAIR = f"acme+pub01:{KEY}"
TOKEN = base64.b64encode(PAIR.encode()).decode()


def redactor() -> Redactor:
    return Redactor([KEY, CLIENT, PAIR, TOKEN])


def fragments(text: str, size: int = 8) -> list[str]:
    return secret_fragments(text, (KEY, CLIENT, TOKEN), size)


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Basic {TOKEN}",
        f"Authorization: Basic {TOKEN[:-2]}",  # cut short, as a length limit does
        f'{{"authorization": "Basic {TOKEN}", "clientid": "{CLIENT}"}}',
        f"seen {TOKEN[7:19]} in the middle",  # 12 characters from anywhere in the Basic value
        f"key={KEY[:9]}",  # 9 characters of the key
        f"KEY {KEY.upper()} / {CLIENT.upper()}",  # case changed
        base64.b64encode(b"x" + KEY.encode() + b"yz").decode(),  # inside other base64, each alignment
        base64.b64encode(b"xy" + KEY.encode()).decode(),
        base64.b64encode(KEY.encode() + b"!").decode(),
        KEY.replace("-", "%2D"),  # URL-encoded
        f"Proxy-Authorization: Bearer {'z' * 30}",
    ],
)
def test_redactor_removes_fragments_encodings_and_echoes(text: str) -> None:
    cleaned = redactor()(text)
    assert fragments(cleaned) == []
    assert REDACTED in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Basic authentication is required for this member",
        "ConnectWise POST finance/accounting/export failed (HTTP 503): ServerError",
        "A record that no longer exists: company/companies/8",
        "",
    ],
)
def test_redactor_leaves_ordinary_text_alone(text: str) -> None:
    assert redactor()(text) == text


def test_short_secret_is_matched_whole() -> None:
    assert Redactor(["k3y!x"])("the k3y!x here") == f"the {REDACTED} here"
    assert (
        Redactor(["abc"])("abc stays: too short to tell from text")
        == "abc stays: too short to tell from text"
    )


def test_error_body_is_redacted_before_it_is_cut() -> None:
    """A plain-text error page cut to 200 characters must not keep the key minus its tail."""
    settings = ConnectWiseSettings(
        site="https://cw.example.com",
        company_id="acme",
        public_key="pub01",
        private_key=KEY,
        client_id=CLIENT,
    )
    body = ("x" * (200 - len("Basic ") - len(TOKEN) + 2) + f"Basic {TOKEN}").encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, content=body)

    with (
        pytest.raises(ConnectWiseError) as info,
        ConnectWiseClient(
            dataclasses.replace(settings, codebase="v1/", retry=RetryPolicy(max_attempts=1)),
            transport=httpx.MockTransport(handler),
        ) as client,
    ):
        client.get("system/info")
    assert fragments(str(info.value)) == []
