"""The sandbox Xero against Xero's own OpenAPI description (tests/fixtures/xero/, XeroAPI/Xero-OpenAPI
16.1.0): every request and answer of a session touching every endpoint it serves, field names
included; and proof that the referee fails what it should."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from xero_client import XeroApi, invoice, loader_session
from xero_referee import ACCOUNTING_SPEC, ENVELOPE_KEYS, EXAMPLE_ONLY_KEYS, Exchange, XeroReferee, load_spec

from airflow_provider_cwgl.sandbox.xero import XeroSandbox


def test_every_exchange_of_a_loader_session_conforms(sandbox_api: XeroApi, xero_referee: XeroReferee) -> None:
    loader_session(sandbox_api)  # each exchange checked as it happens (the client's hook) ...
    checked = xero_referee.check_sandbox(sandbox_api.sandbox)  # ... and again from the sandbox's own log
    assert checked == len(sandbox_api.sandbox.requests) >= 25
    statuses = {r.status for r in sandbox_api.sandbox.requests}
    assert {200, 400} <= statuses


def test_the_referee_refuses_an_invalid_invoices_body(
    xero_sandbox: XeroSandbox, xero_referee: XeroReferee
) -> None:
    bad = invoice("BAD-1", Type="ACCRE")
    bad["LineItems"][0]["LineAmount"] = "one hundred"
    request = httpx.Request(
        "PUT",
        f"{xero_sandbox.api_url}/Invoices",
        headers={"Authorization": "Bearer x", "xero-tenant-id": "t", "Accept": "application/json"},
        json={"Invoices": [bad]},
    )
    response = httpx.Response(200, json={"Invoices": []}, request=request)
    with pytest.raises(AssertionError) as refused:
        xero_referee.check(request, response)
    assert "Invoices/0/Type: 'ACCRE' is not one of" in str(refused.value)
    assert "Invoices/0/LineItems/0/LineAmount: 'one hundred' is not of type 'number'" in str(refused.value)


def test_the_referee_refuses_a_misspelt_field_sent_or_answered(
    sandbox_api: XeroApi, xero_referee: XeroReferee
) -> None:
    answer = sandbox_api.write("Invoices", [invoice("SPELL-1")])
    record = sandbox_api.sandbox.requests[-1]
    exchange = Exchange.from_record(record)
    assert xero_referee.violations(exchange) == []
    misspelt_request = json.loads(exchange.body)
    misspelt_request["Invoices"][0]["InvoiceNumbr"] = misspelt_request["Invoices"][0].pop("InvoiceNumber")
    misspelt_answer = answer.json()
    misspelt_answer["Invoices"][0]["Contact"]["ContactNumbr"] = "ACME"
    exchange.body = json.dumps(misspelt_request).encode()
    exchange.response_body = json.dumps(misspelt_answer).encode()
    assert xero_referee.violations(exchange) == [
        "sent (body).Invoices[0].InvoiceNumbr: not a field of Invoice",
        "answered (body).Invoices[0].Contact.ContactNumbr: not a field of Contact",
    ]


def test_the_referee_refuses_an_answer_of_the_wrong_shape(
    sandbox_api: XeroApi, xero_referee: XeroReferee
) -> None:
    sandbox_api.write("Invoices", [invoice("SHAPE-1")])
    exchange = Exchange.from_record(sandbox_api.sandbox.requests[-1])
    answer = json.loads(exchange.response_body)
    answer["Invoices"][0]["Total"] = "100.00"
    answer["Invoices"][0]["Status"] = "APPROVED"
    exchange.response_body = json.dumps(answer).encode()
    assert sorted(xero_referee.violations(exchange)) == [
        "Invoices/0/Status: 'APPROVED' is not one of ['DRAFT', 'SUBMITTED', 'DELETED', 'AUTHORISED', 'PAID', 'VOIDED']",
        "Invoices/0/Total: '100.00' is not of type 'number'",
    ]


def test_the_referee_corrects_only_the_known_defect_of_the_description() -> None:
    # FACTS.md: the file fails strict validation on 23 `default: 'false'` strings on booleans.
    assert load_spec(ACCOUNTING_SPEC)["x-removed-defaults"] == 23
    raw = ACCOUNTING_SPEC.read_text()
    assert len(re.findall(r"^\s+default: \"false\"$", raw, re.M)) == 23


def test_the_fields_answers_add_to_the_schemas_are_in_the_descriptions_own_examples() -> None:
    """Xero's answers carry an envelope and ISO date twins its schemas leave out; the sandbox sends
    them because the description's own examples show them."""
    raw = ACCOUNTING_SPEC.read_text()
    schemas: dict[str, Any] = load_spec(ACCOUNTING_SPEC)["components"]["schemas"]
    for key in ENVELOPE_KEYS | {k for keys in EXAMPLE_ONLY_KEYS.values() for k in keys}:
        assert re.search(rf"^\s+{key}: \S", raw, re.M), key
    for name, keys in EXAMPLE_ONLY_KEYS.items():
        assert not keys & set(schemas[name]["properties"]), name
