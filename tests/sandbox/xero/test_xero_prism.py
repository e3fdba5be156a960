"""End to end through Stoplight Prism (``prism proxy … --errors``) in front of the sandbox Xero:
a loader's whole session shows no violation, and Prism is shown to refuse a bad Invoices body and a
bad Invoices answer (on Xero's file as it is, Prism 5.16.0 would check neither)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from xero_client import XeroApi, invoice, loader_session

from airflow_provider_cwgl.sandbox.xero import API_PREFIX, XeroSandbox

pytestmark = pytest.mark.xero_prism


def test_a_loader_session_through_prism_has_no_violation(
    xero_sandbox: XeroSandbox, xero_prism: Callable[[XeroSandbox], Any], xero_api: Callable[..., XeroApi]
) -> None:
    proxy = xero_prism(xero_sandbox)
    # openapi-core has checked this session already (test_xero_conformance.py): Prism alone here.
    sandbox_api = xero_api(xero_sandbox, api_url=proxy.url + API_PREFIX, checked=False)
    answers: list[httpx.Response] = []
    sandbox_api.client.event_hooks["response"] = [answers.append]
    loader_session(sandbox_api)
    assert proxy.violations() == []
    assert [a.headers.get("sl-violations") for a in answers] == [None] * len(answers)
    assert len(answers) >= 20 and {a.status_code for a in answers} == {200, 400}
    # Every call went through Prism to the sandbox (the token and tenants aside).
    assert len([r for r in xero_sandbox.requests if not r.path.startswith("/")]) == len(answers)
    assert xero_sandbox.connection(host=proxy.url)["host"] == proxy.url


def test_prism_refuses_a_bad_invoices_body_before_the_sandbox_sees_it(
    xero_sandbox: XeroSandbox, xero_prism: Callable[[XeroSandbox], Any], xero_api: Callable[..., XeroApi]
) -> None:
    proxy = xero_prism(xero_sandbox)
    sandbox_api = xero_api(xero_sandbox, api_url=proxy.url + API_PREFIX, checked=False)
    bad = invoice("BAD-1", Type="ACCRE")
    bad["Contact"]["Name"] = 42
    answer = sandbox_api.write("Invoices", [bad])
    assert answer.status_code == 422
    locations = {tuple(v["location"]) for v in answer.json()["validation"]}
    assert {("body", "Invoices", "0", "Type"), ("body", "Invoices", "0", "Contact", "Name")} <= locations
    assert [r.path for r in xero_sandbox.requests] == ["/connect/token"]  # it never got there
    assert len(proxy.violations()) == 1


def test_prism_refuses_a_bad_invoices_answer(
    xero_sandbox: XeroSandbox, xero_prism: Callable[[XeroSandbox], Any], xero_api: Callable[..., XeroApi]
) -> None:
    proxy = xero_prism(xero_sandbox)
    sandbox_api = xero_api(xero_sandbox, api_url=proxy.url + API_PREFIX, checked=False)
    (stored,) = sandbox_api.created("Invoices", [invoice("ANSWER-1")])
    xero_sandbox.store.records["Invoices"][stored["InvoiceID"]]["Total"] = "115.00"  # text, not a number
    answer = sandbox_api.get(f"Invoices/{stored['InvoiceID']}")
    assert answer.status_code == 500
    assert "Invoices.0.Total must be number" in answer.headers["sl-violations"]
    assert len(proxy.violations()) == 1
