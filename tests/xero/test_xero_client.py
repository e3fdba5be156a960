"""The Xero client against a scripted Xero on loopback (real HTTP), with a fake clock."""

from __future__ import annotations

import base64
import json
import logging
import threading
from decimal import Decimal
from typing import Any

import pytest
from fake_xero import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_TENANT,
    TENANT,
    FakeTime,
    FakeXero,
    client_for,
    json_body,
    settings_for,
)
from hostile_server import Request
from xero_openapi import Recording, XeroOpenAPI

from airflow_provider_cwgl.errors import (
    Retry,
    SettingError,
    XeroAuthError,
    XeroError,
    XeroLimitError,
    XeroTenantError,
)
from airflow_provider_cwgl.xero import XeroClient

VALIDATION_ERROR = {
    "ErrorNumber": 10,
    "Type": "ValidationException",
    "Message": "A validation exception occurred",
    "Elements": [
        {
            "InvoiceNumber": "INV-7",
            "ValidationErrors": [
                {"Message": "Account code '999' is not a valid code for this document."},
                {"Message": "Invoice not of valid status for creation"},
            ],
        }
    ],
}


def bearer(request: Request) -> str:
    return request.headers["authorization"].removeprefix("Bearer ")


# -- the token ----------------------------------------------------------------------------------
def test_one_token_for_many_calls_renewed_a_minute_before_it_expires(
    xero: FakeXero, fake_time: FakeTime
) -> None:
    with client_for(xero, fake_time) as client:
        client.get("Invoices")
        client.get("Contacts")
        fake_time.now += 1800 - 61  # 61 s left: still good
        client.get("Invoices")
        assert len(xero.token_requests()) == 1
        fake_time.now += 2  # 59 s left: renewed before use
        client.get("Invoices")
    assert len(xero.token_requests()) == 2
    assert [bearer(r) for r in xero.api_requests()] == [xero.tokens[0]] * 3 + [xero.tokens[1]]
    token_request = xero.token_requests()[0]
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.method == "POST"
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token_request.body == b"grant_type=client_credentials"


def test_a_401_renews_the_token_once_and_tries_again(xero: FakeXero, fake_time: FakeTime) -> None:
    with client_for(xero, fake_time) as client:
        client.get("Invoices")
        xero.revoked.add(xero.tokens[0])
        assert client.get("Invoices") == {"Invoices": []}
        assert [bearer(r) for r in xero.api_requests()] == [xero.tokens[0], xero.tokens[0], xero.tokens[1]]
        # A token refused again after renewal: one renewal, then the 401 stands, not retried.
        xero.revoked.update(f"eyJhbGciOi.tok{n}.{'Q' * 40}" for n in range(1, 10))
        with pytest.raises(XeroError) as info:
            client.get("Invoices")
    assert info.value.status == 401 and info.value.retry is Retry.NEVER
    assert "AuthenticationUnsuccessful" in str(info.value)
    assert len(xero.token_requests()) == 3
    assert len(xero.api_requests()) == 5


def test_wrong_client_credentials_fail_at_once_naming_login_and_password(
    xero: FakeXero, fake_time: FakeTime
) -> None:
    with (
        client_for(xero, fake_time, client_secret="not-the-secret-0000") as client,
        pytest.raises(XeroAuthError) as info,
    ):
        client.get("Invoices")
    text = str(info.value)
    assert "invalid_client" in text and "login" in text and "password" in text
    assert "not-the-secret-0000" not in text and info.value.retry is Retry.NEVER
    assert len(xero.token_requests()) == 1  # not retried
    assert xero.api_requests() == []


def test_a_wrong_token_url_is_not_taken_for_wrong_credentials(xero: FakeXero, fake_time: FakeTime) -> None:
    with (
        client_for(xero, fake_time, token_url=f"{xero.url}/connect/tokens") as client,
        pytest.raises(XeroError) as info,
    ):
        client.get("Invoices")
    assert not isinstance(info.value, XeroAuthError)
    assert (info.value.status, info.value.retry) == (404, Retry.NEVER)
    assert str(info.value).startswith(f"Xero POST {xero.url}/connect/tokens failed (HTTP 404)")
    assert len(xero.server.requests) == 1


def test_a_failing_token_endpoint_is_retried_then_reported_once(xero: FakeXero, fake_time: FakeTime) -> None:
    xero.token_status = 503
    with client_for(xero, fake_time) as client, pytest.raises(XeroError) as info:
        client.get("Invoices")
    assert info.value.status == 503 and info.value.attempts == 4
    assert info.value.retry is Retry.LATER  # retried here already: the caller must not again
    assert len(xero.token_requests()) == 4  # not 4 x 4


# -- the tenant ---------------------------------------------------------------------------------
def test_the_only_tenant_is_found_and_sent_on_every_call(xero: FakeXero, fake_time: FakeTime) -> None:
    with client_for(xero, fake_time) as client:
        assert client.tenant_id == TENANT
        client.get("Invoices")
        client.get("Contacts")
        assert client.tenant()["tenantName"] == "Demo Company (NZ)"
    assert sum(r.target == "/connections" for r in xero.server.requests) == 2  # once, then the check
    assert {r.headers["xero-tenant-id"] for r in xero.api_requests()} == {TENANT}
    assert {r.headers["accept"] for r in xero.api_requests()} == {"application/json"}


def test_a_configured_tenant_needs_no_discovery(xero: FakeXero, fake_time: FakeTime) -> None:
    with client_for(xero, fake_time, tenant_id=OTHER_TENANT) as client:
        client.get("Invoices")
        assert client.tenant_id == OTHER_TENANT
        with pytest.raises(XeroTenantError, match=f"{OTHER_TENANT} is not an organisation"):
            client.tenant()  # the connection test's check: the token does not reach it
    assert xero.api_requests()[0].headers["xero-tenant-id"] == OTHER_TENANT


@pytest.mark.parametrize("count", [0, 2])
def test_no_or_several_tenants_is_an_error_listing_them(
    xero: FakeXero, fake_time: FakeTime, count: int
) -> None:
    xero.tenants = [
        {"tenantId": TENANT, "tenantName": "Demo Company (NZ)"},
        {"tenantId": OTHER_TENANT, "tenantName": "Acme Holdings"},
    ][:count]
    with client_for(xero, fake_time) as client, pytest.raises(XeroTenantError) as info:
        client.get("Invoices")
    text = str(info.value)
    assert info.value.setting == "extra.tenant_id" and "Set the connection's extra tenant_id" in text
    if count:
        assert f"{TENANT} (Demo Company (NZ))" in text and f"{OTHER_TENANT} (Acme Holdings)" in text
    else:
        assert "reaches no Xero organisation" in text
    assert xero.api_requests() == []


# -- limits and retries ---------------------------------------------------------------------------
def test_a_429_waits_for_retry_after_capped(xero: FakeXero, fake_time: FakeTime) -> None:
    minute = {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"}
    xero.script.extend(
        [(429, {}, minute), (429, {}, {"Retry-After": "100000", "X-Rate-Limit-Problem": "concurrent"})]
    )
    with client_for(xero, fake_time, max_retry_after=90.0) as client:
        assert client.get("Invoices") == {"Invoices": []}
        assert client.calls == 3
    assert fake_time.sleeps == [7.0, 90.0]


def test_a_429_for_the_day_is_not_waited_for_and_stops_every_later_call(
    xero: FakeXero, fake_time: FakeTime
) -> None:
    xero.script.append((429, {}, {"Retry-After": "40000", "X-Rate-Limit-Problem": "day"}))
    with client_for(xero, fake_time) as client:
        with pytest.raises(XeroLimitError) as info:
            client.get("Invoices")
        assert info.value.retry is Retry.LATER and str(info.value).startswith(
            "Xero GET Invoices refused (HTTP 429): the tenant's calls for the day are spent (Xero says to retry in 40000 s)"
        )
        assert info.value.retry_after == 40000.0
        with pytest.raises(XeroLimitError):
            client.put("Invoices", {"Invoices": []}, idempotency_key="k-1")
    assert len(xero.api_requests()) == 1 and fake_time.sleeps == []


def test_a_day_remaining_of_zero_stops_before_sending_more(xero: FakeXero, fake_time: FakeTime) -> None:
    xero.script.append((200, {"Invoices": []}, {"X-DayLimit-Remaining": "0", "X-MinLimit-Remaining": "40"}))
    with client_for(xero, fake_time) as client:
        assert client.get("Invoices") == {"Invoices": []}  # the last call of the day is answered
        with pytest.raises(XeroLimitError, match="not sent"):
            client.get("Invoices")
    assert len(xero.api_requests()) == 1


def test_our_own_day_count_stops_before_sending(xero: FakeXero, fake_time: FakeTime) -> None:
    with client_for(xero, fake_time, calls_per_day=3) as client:
        for _ in range(3):
            client.get("Invoices")
        with pytest.raises(XeroLimitError):
            client.get("Invoices")
    assert len(xero.api_requests()) == 3


def test_server_errors_and_dropped_connections_are_retried_with_backoff(
    xero: FakeXero, fake_time: FakeTime
) -> None:
    xero.script.extend([(503, {}, {}), "drop", (500, {"Message": "oops"}, {})])
    with client_for(xero, fake_time) as client:
        assert client.get("Invoices") == {"Invoices": []}
    assert len(xero.api_requests()) == 4
    assert len(fake_time.sleeps) == 3 and all(0 <= s <= 0.05 for s in fake_time.sleeps)


def test_retries_are_bounded(xero: FakeXero, fake_time: FakeTime) -> None:
    xero.default = (502, {}, {})
    with client_for(xero, fake_time) as client, pytest.raises(XeroError) as info:
        client.get("Invoices")
    assert info.value.status == 502 and info.value.attempts == 4 and info.value.retry is Retry.NOW
    assert "after 4 attempts" in str(info.value)
    assert len(xero.api_requests()) == 4


def test_a_validation_error_carries_xeros_messages_and_is_not_retried(
    xero: FakeXero, fake_time: FakeTime
) -> None:
    xero.script.append((400, VALIDATION_ERROR, {}))
    body = {"Invoices": [{"Type": "ACCREC", "InvoiceNumber": "INV-7"}]}
    with client_for(xero, fake_time) as client, pytest.raises(XeroError) as info:
        client.put("Invoices", body, idempotency_key="cwgl-INV-7")
    error = info.value
    assert (error.status, error.retry, error.message) == (400, Retry.NEVER, "A validation exception occurred")
    assert error.validation_errors == [
        "Account code '999' is not a valid code for this document.",
        "Invoice not of valid status for creation",
    ]
    assert str(error) == (
        "Xero PUT Invoices failed (HTTP 400): A validation exception occurred "
        "[Account code '999' is not a valid code for this document.; Invoice not of valid status for creation]"
    )
    assert len(xero.api_requests()) == 1


def test_every_write_carries_its_idempotency_key_unchanged_on_a_retry(
    xero: FakeXero, fake_time: FakeTime
) -> None:
    xero.script.extend([(503, {}, {}), (200, {"Invoices": []}, {}), "drop", (200, {"Contacts": []}, {})])
    with client_for(xero, fake_time) as client:
        client.put("Invoices", {"Invoices": []}, idempotency_key="cwgl-2026-12-04-INV-1")
        client.post("Contacts", {"Contacts": []}, idempotency_key="cwgl-contact-ACME")
        client.get("Invoices")
    sent = [(r.method, r.headers.get("idempotency-key")) for r in xero.api_requests()]
    assert sent == [
        ("PUT", "cwgl-2026-12-04-INV-1"),
        ("PUT", "cwgl-2026-12-04-INV-1"),
        ("POST", "cwgl-contact-ACME"),
        ("POST", "cwgl-contact-ACME"),
        ("GET", None),
    ]


@pytest.mark.parametrize("key", ["", "k" * 129, "has space", "caf\u00e9", None])
def test_a_write_without_a_valid_key_is_refused_before_sending(
    xero: FakeXero, fake_time: FakeTime, key: Any
) -> None:
    with (
        client_for(xero, fake_time) as client,
        pytest.raises(SettingError, match="Idempotency-Key of 1 to 128"),
    ):
        client.put("Invoices", {"Invoices": []}, idempotency_key=key)
    assert xero.server.requests == []  # not even a token asked for


def test_a_key_of_128_characters_is_accepted(xero: FakeXero, fake_time: FakeTime) -> None:
    with client_for(xero, fake_time) as client:
        client.post("Invoices", {"Invoices": []}, idempotency_key="k" * 128)
    assert xero.api_requests()[0].headers["idempotency-key"] == "k" * 128


def test_query_booleans_lists_and_exact_amounts(xero: FakeXero, fake_time: FakeTime) -> None:
    with client_for(xero, fake_time) as client:
        client.get("Invoices", {"summarizeErrors": False, "InvoiceNumbers": ["INV-1", "INV-2"], "page": None})
        body = {
            "Invoices": [{"LineItems": [{"UnitAmount": Decimal("1234567.89"), "Quantity": Decimal("1.5")}]}]
        }
        client.put("Invoices", body, idempotency_key="k1", params={"summarizeErrors": True})
        with pytest.raises(ValueError, match="exactly"):
            client.put("Invoices", {"Total": Decimal("0.12345678901234567")}, idempotency_key="k2")
    get, put = xero.api_requests()
    assert get.target == "/api.xro/2.0/Invoices?summarizeErrors=false&InvoiceNumbers=INV-1%2CINV-2"
    assert put.target == "/api.xro/2.0/Invoices?summarizeErrors=true"
    assert b'"UnitAmount":1234567.89,"Quantity":1.5' in put.body
    assert json_body(put)["Invoices"][0]["LineItems"][0]["UnitAmount"] == 1234567.89


# -- pacing ---------------------------------------------------------------------------------------
def test_sixty_one_calls_wait_for_the_minute_window(xero: FakeXero, fake_time: FakeTime) -> None:
    sent_at: list[float] = []

    def answer(request: Request) -> Any:
        sent_at.append(fake_time.now)
        return 200, {"Invoices": []}, {}

    xero.default = answer  # type: ignore[assignment]
    with client_for(xero, fake_time) as client:
        for _ in range(61):
            client.get("Invoices")
            fake_time.now += 0.5  # the calls themselves take half a second each
    assert len(sent_at) == 61
    assert fake_time.sleeps == [pytest.approx(60.0 - 61 * 0.5 + 0.5)]  # until the first is 60 s old
    assert sent_at[60] - sent_at[0] == pytest.approx(60.0)
    for i in range(len(sent_at) - 60):
        assert sent_at[i + 60] - sent_at[i] >= 60.0  # never 61 in any 60 s


def test_no_calls_left_in_the_minute_waits_for_the_window(xero: FakeXero, fake_time: FakeTime) -> None:
    # Another app of the tenant spent the minute: Xero says so, and our count was 1.
    xero.script.append((200, {"Invoices": []}, {"X-MinLimit-Remaining": "0", "X-DayLimit-Remaining": "4000"}))
    with client_for(xero, fake_time) as client:
        client.get("Invoices")
        client.get("Invoices")
    assert fake_time.sleeps == [60.0]
    assert len(xero.api_requests()) == 2


def test_never_more_than_five_calls_in_flight(xero: FakeXero, fake_time: FakeTime) -> None:
    xero.delay = 0.3
    errors: list[BaseException] = []
    with client_for(xero, fake_time, concurrent=5) as client:
        client.tenant_id  # noqa: B018  (discovered once, before the pool starts)

        def work() -> None:
            try:
                client.get("Invoices")
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert client.calls == 12
    assert errors == []
    assert xero.most_in_flight == 5  # the pool was parallel, and held to five
    assert len(xero.token_requests()) == 1  # one token, shared by the threads


# -- secrets --------------------------------------------------------------------------------------
def test_no_secret_or_token_in_logs_errors_or_reprs(
    xero: FakeXero, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    def echo(request: Request) -> Any:
        # A server that echoes what it got, headers included, in its error message.
        return 400, {"Message": json.dumps(request.headers), "Elements": []}, {}

    xero.script.extend([(503, {"Message": f"upstream said {CLIENT_SECRET}"}, {}), echo])
    caplog.set_level(logging.DEBUG)
    with client_for(xero, fake_time) as client, pytest.raises(XeroError) as info:
        client.get("Invoices")
    token = xero.tokens[0]
    shown = "\n".join([str(info.value), repr(info.value), repr(client), repr(client.settings), caplog.text])
    shown += "\n".join(r.getMessage() for r in caplog.records)
    assert "retrying" in caplog.text  # the retry was logged, with the server's message
    for secret in (CLIENT_SECRET, token, base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()):
        for i in range(len(secret) - 8):
            assert secret[i : i + 8] not in shown


# -- Xero's own description -------------------------------------------------------------------------
def test_what_the_client_sends_matches_xeros_openapi_description(
    xero: FakeXero, fake_time: FakeTime, xero_openapi: XeroOpenAPI
) -> None:
    recording = Recording()
    invoice = {
        "Type": "ACCREC",
        "InvoiceNumber": "INV-1001",
        "Contact": {"ContactNumber": "ACME", "Name": "Acme Ltd"},
        "Date": "2026-12-04",
        "DueDate": "2027-01-03",
        "CurrencyCode": "USD",
        "Status": "DRAFT",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {
                "Description": "Managed services",
                "Quantity": Decimal("1"),
                "UnitAmount": Decimal("1250.00"),
                "AccountCode": "200",
                "TaxType": "OUTPUT",
            }
        ],
    }
    settings = settings_for(xero)
    with XeroClient(settings, sleep=fake_time.sleep, clock=fake_time.clock, transport=recording) as client:
        client.get(
            "Invoices",
            {"InvoiceNumbers": ["INV-1001"], "Statuses": ["DRAFT", "AUTHORISED"], "summarizeErrors": False},
        )
        client.put(
            "Invoices", {"Invoices": [invoice]}, idempotency_key="k-inv", params={"summarizeErrors": False}
        )
        client.post(
            "Contacts", {"Contacts": [{"Name": "Acme Ltd", "ContactNumber": "ACME"}]}, idempotency_key="k-c"
        )
        client.put(
            "ManualJournals",
            {"ManualJournals": [{"Narration": "GL", "JournalLines": []}]},
            idempotency_key="k-j",
        )
    checked = [
        (req, resp) for req, resp in recording.exchanges if not req.url.path.endswith("/connect/token")
    ]
    assert [req.url.path.rsplit("/", 1)[-1] for req, _ in checked] == [
        "connections",
        "Invoices",
        "Invoices",
        "Contacts",
        "ManualJournals",
    ]
    for request, response in checked:
        xero_openapi.validate(request, response)


def test_the_description_rejects_what_xero_would(xero_openapi: XeroOpenAPI) -> None:
    """The referee can fail: Python's spelling of a boolean, and a call without the tenant."""
    import httpx

    root = "http://127.0.0.1:9/api.xro/2.0/Invoices"
    headers = {"xero-tenant-id": TENANT, "Idempotency-Key": "k", "Content-Type": "application/json"}
    good = httpx.Request(
        "PUT", root, params={"summarizeErrors": "false"}, headers=headers, content=b'{"Invoices":[]}'
    )
    xero_openapi.validate(good)
    with pytest.raises(Exception, match="summarizeErrors"):
        xero_openapi.validate(
            httpx.Request(
                "PUT", root, params={"summarizeErrors": "False"}, headers=headers, content=b'{"Invoices":[]}'
            )
        )
    with pytest.raises(Exception, match="xero-tenant-id"):
        xero_openapi.validate(httpx.Request("GET", root))
    with pytest.raises(Exception, match="Invoices"):
        xero_openapi.validate(httpx.Request("PUT", root, headers=headers, content=b'{"Invoices":{"Type":1}}'))
