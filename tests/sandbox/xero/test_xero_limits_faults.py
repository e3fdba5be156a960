"""The sandbox Xero's limits (per tenant: a minute, at once, a day) and injected faults (a status
on the Nth call, a 429, an answer lost after the write was committed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
from xero_client import XeroApi, invoice

from airflow_provider_cwgl.sandbox.faults import Faults
from airflow_provider_cwgl.sandbox.xero import XeroLimits, XeroSandbox, XeroStore


def test_every_answer_says_what_is_left(sandbox_api: XeroApi) -> None:
    remaining = [sandbox_api.get("TaxRates").headers for _ in range(3)]
    assert [h["X-MinLimit-Remaining"] for h in remaining] == ["59", "58", "57"]
    assert [h["X-DayLimit-Remaining"] for h in remaining] == ["4999", "4998", "4997"]
    assert [h["X-AppMinLimit-Remaining"] for h in remaining] == ["9999", "9998", "9997"]


def test_the_minute_limit_is_a_sliding_window(
    make_xero_sandbox: Callable[..., XeroSandbox], xero_api: Callable[..., XeroApi]
) -> None:
    # A "minute" of two seconds: long enough for four calls on a busy machine, short to wait out.
    sandbox_api = xero_api(make_xero_sandbox(limits=XeroLimits(per_minute=3, minute=2.0)))
    started = time.monotonic()
    assert [sandbox_api.get("TaxRates").status_code for _ in range(3)] == [200, 200, 200]
    over = sandbox_api.get("Invoices")
    assert over.status_code == 429
    assert over.headers["X-Rate-Limit-Problem"] == "minute" and over.headers["Retry-After"] in ("1", "2")
    assert over.headers["X-MinLimit-Remaining"] == "0"
    time.sleep(max(0.0, started + 2.05 - time.monotonic()))
    assert sandbox_api.get("Invoices").status_code == 200


def test_the_day_limit_and_limits_are_per_tenant(
    make_xero_sandbox: Callable[..., XeroSandbox], xero_api: Callable[..., XeroApi]
) -> None:
    first, second = XeroStore(name="First"), XeroStore(name="Second")
    sandbox = make_xero_sandbox(first, tenants=[first, second], limits=XeroLimits(per_day=2, day=3600))
    sandbox_api = xero_api(sandbox)
    assert [sandbox_api.get("TaxRates").status_code for _ in range(2)] == [200, 200]
    over = sandbox_api.get("TaxRates")
    assert (over.status_code, over.headers["X-Rate-Limit-Problem"]) == (429, "day")
    assert 3500 < int(over.headers["Retry-After"]) <= 3600
    assert xero_api(sandbox, tenant_id=second.tenant_id).get("TaxRates").status_code == 200


def test_more_than_five_calls_at_once_get_429_concurrent(
    make_xero_sandbox: Callable[..., XeroSandbox], xero_api: Callable[..., XeroApi]
) -> None:
    sandbox = make_xero_sandbox(faults=Faults(latency=1.5))  # all eight are in flight at once
    sandbox_api = xero_api(sandbox, checked=False)
    statuses: list[tuple[int, str]] = []

    def call() -> None:
        answer = httpx.get(f"{sandbox.api_url}/TaxRates", headers=sandbox_api.client.headers, timeout=10)
        statuses.append((answer.status_code, answer.headers.get("X-Rate-Limit-Problem", "")))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [(200, "")] * 5 + [(429, "concurrent")] * 3


def test_a_server_error_on_the_nth_matching_call(sandbox_api: XeroApi) -> None:
    sandbox_api.sandbox.faults.add(path="Invoices", method="PUT", status=503, skip=1, times=1)
    statuses = [sandbox_api.write("Invoices", [invoice(f"N-{n}")]).status_code for n in range(3)]
    assert statuses == [200, 503, 200]
    assert [i["InvoiceNumber"] for i in sandbox_api.sandbox.store.invoices] == ["N-0", "N-2"]


def test_an_injected_429_says_when_to_come_back(sandbox_api: XeroApi) -> None:
    sandbox_api.sandbox.faults.add(path="Invoices", status=429, retry_after=7, times=1)
    over = sandbox_api.get("Invoices")
    assert (over.status_code, over.headers["Retry-After"], over.headers["X-Rate-Limit-Problem"]) == (
        429,
        "7",
        "minute",
    )
    assert sandbox_api.get("Invoices").status_code == 200


def test_a_lost_answer_keeps_the_write_and_the_key_replays_it(sandbox_api: XeroApi) -> None:
    sandbox_api.sandbox.faults.add(path="Invoices", method="PUT", drop=True, times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox_api.write("Invoices", [invoice("LOST-1")], key="approved-file:LOST-1")
    (stored,) = sandbox_api.sandbox.store.invoices  # committed before the answer was lost
    retry = sandbox_api.write("Invoices", [invoice("LOST-1")], key="approved-file:LOST-1")
    assert retry.status_code == 200
    assert retry.json()["Invoices"][0]["InvoiceID"] == stored["InvoiceID"]
    assert len(sandbox_api.sandbox.store.invoices) == 1
    # Without the key, the same document is refused by its number: still nothing twice.
    again = sandbox_api.write("Invoices", [invoice("LOST-1")])
    assert again.json()["Invoices"][0]["ValidationErrors"] == [{"Message": "Invoice # must be unique."}]
