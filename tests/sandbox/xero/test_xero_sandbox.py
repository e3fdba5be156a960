"""The sandbox Xero behaves like Xero for what a GL loader does: tokens, tenants, documents with
Xero's validation and totals, lookups, idempotency keys. Every exchange of the ``sandbox_api`` client is
checked against Xero's OpenAPI description (tests/sandbox/xero/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
from xero_client import XeroApi, invoice, token

from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.sandbox.xero import DEFAULT_XERO_CREDENTIALS, XeroSandbox, XeroStore


def errors_of(element: dict[str, Any]) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


# -- tokens and tenants ---------------------------------------------------------------------------
def test_client_credentials_give_a_bearer_token_that_the_api_takes(xero_sandbox: XeroSandbox) -> None:
    creds = DEFAULT_XERO_CREDENTIALS
    answer = httpx.post(
        xero_sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800 and len(body["access_token"]) > 40
    headers = {"Authorization": f"Bearer {body['access_token']}", "Accept": "application/json"}
    tenant = {"xero-tenant-id": xero_sandbox.store.tenant_id}
    assert httpx.get(f"{xero_sandbox.api_url}/Accounts", headers=headers | tenant).status_code == 200


def test_wrong_client_credentials_or_grant_are_refused(xero_sandbox: XeroSandbox) -> None:
    creds = DEFAULT_XERO_CREDENTIALS
    wrong = httpx.post(
        xero_sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], "not-the-secret"),
    )
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    grant = httpx.post(
        xero_sandbox.token_url,
        data={"grant_type": "refresh_token"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    assert (grant.status_code, grant.json()) == (400, {"error": "unsupported_grant_type"})
    assert xero_sandbox.tokens == {}


def test_an_expired_or_unknown_token_gets_401(make_xero_sandbox: Callable[..., XeroSandbox]) -> None:
    sandbox = make_xero_sandbox(token_lifetime=1.0)
    bearer = token(sandbox)
    headers = {"Accept": "application/json", "xero-tenant-id": sandbox.store.tenant_id}
    fresh = httpx.get(f"{sandbox.api_url}/TaxRates", headers=headers | {"Authorization": f"Bearer {bearer}"})
    assert fresh.status_code == 200
    time.sleep(1.05)
    expired = httpx.get(
        f"{sandbox.api_url}/TaxRates", headers=headers | {"Authorization": f"Bearer {bearer}"}
    )
    assert expired.status_code == 401 and expired.json()["Detail"].startswith("TokenExpired")
    unknown = httpx.get(f"{sandbox.api_url}/TaxRates", headers=headers | {"Authorization": "Bearer made-up"})
    assert unknown.status_code == 401 and unknown.json()["Title"] == "Unauthorized"
    assert httpx.get(f"{sandbox.url}/connections", headers=headers).status_code == 401


def test_connections_list_the_tenants_the_token_reaches(
    make_xero_sandbox: Callable[..., XeroSandbox], xero_referee: Any
) -> None:
    first, second = XeroStore(name="First Ltd"), XeroStore(name="Second Ltd")
    for tenants, names in (
        ([first], ["First Ltd"]),
        ([], []),
        ([first, second], ["First Ltd", "Second Ltd"]),
    ):
        sandbox = make_xero_sandbox(first, tenants=tenants)
        answer = httpx.get(
            f"{sandbox.url}/connections", headers={"Authorization": f"Bearer {token(sandbox)}"}
        )
        xero_referee.check(answer.request, answer)
        assert [c["tenantName"] for c in answer.json()] == names
        assert [c["tenantId"] for c in answer.json()] == [t.tenant_id for t in tenants]
        assert {c["tenantType"] for c in answer.json()} <= {"ORGANISATION"}


def test_a_tenant_the_token_does_not_reach_gets_403(
    xero_sandbox: XeroSandbox, xero_api: Callable[..., XeroApi]
) -> None:
    outsider = xero_api(xero_sandbox, tenant_id=XeroStore().tenant_id)
    answer = outsider.get("Invoices")
    assert answer.status_code == 403 and answer.json()["Title"] == "Forbidden"
    missing = httpx.get(
        f"{xero_sandbox.api_url}/Invoices",
        headers={"Authorization": f"Bearer {token(xero_sandbox)}", "Accept": "application/json"},
    )
    assert missing.status_code == 403


def test_only_json_is_served(xero_sandbox: XeroSandbox) -> None:
    headers = {
        "Authorization": f"Bearer {token(xero_sandbox)}",
        "xero-tenant-id": xero_sandbox.store.tenant_id,
    }
    assert (
        httpx.get(
            f"{xero_sandbox.api_url}/Invoices", headers=headers | {"Accept": "application/xml"}
        ).status_code
        == 406
    )


def test_connection_is_the_airflow_connection_for_conn_type_xero(xero_sandbox: XeroSandbox) -> None:
    conn = xero_sandbox.connection()
    assert conn == {
        "conn_type": "xero",
        "host": xero_sandbox.url,
        "login": DEFAULT_XERO_CREDENTIALS["client_id"],
        "password": DEFAULT_XERO_CREDENTIALS["client_secret"],
        "extra": {
            "token_url": f"{xero_sandbox.url}/connect/token",
            "tenant_id": xero_sandbox.store.tenant_id,
        },
    }
    assert "tenant_id" not in xero_sandbox.connection(with_tenant=False)["extra"]
    assert xero_sandbox.connection(host="http://127.0.0.1:9")["host"] == "http://127.0.0.1:9"


def test_the_request_log_keeps_no_secret(sandbox_api: XeroApi) -> None:
    sandbox_api.created("Invoices", [invoice()])
    bearer = sandbox_api.client.headers["Authorization"]
    assert [r.path for r in sandbox_api.sandbox.requests] == ["/connect/token", "Invoices"]
    logged = repr(sandbox_api.sandbox.requests)
    assert "authorization" not in logged.lower()
    for secret in (bearer[7:], DEFAULT_XERO_CREDENTIALS["client_secret"]):
        assert secret not in logged


# -- the chart and tax rates ----------------------------------------------------------------------
def test_accounts_and_tax_rates_are_read_only_defaults_with_system_accounts(sandbox_api: XeroApi) -> None:
    accounts = {a["Code"]: a for a in sandbox_api.get("Accounts").json()["Accounts"]}
    assert accounts["610"]["SystemAccount"] == "DEBTORS" and accounts["800"]["SystemAccount"] == "CREDITORS"
    assert accounts["200"]["Type"] == "REVENUE"
    rates = {t["TaxType"]: t["EffectiveRate"] for t in sandbox_api.get("TaxRates").json()["TaxRates"]}
    assert {"NONE", "OUTPUT", "INPUT", "EXEMPTOUTPUT"} <= set(rates) and rates["NONE"] == 0
    assert (
        sandbox_api.client.put("Accounts", json={"Code": "999", "Name": "New", "Type": "EXPENSE"}).status_code
        == 405
    )


# -- documents: totals ----------------------------------------------------------------------------
def test_totals_are_computed_per_line_from_the_tax_rate_and_rounded_to_cents(sandbox_api: XeroApi) -> None:
    sandbox_api.sandbox.store.add_tax_rate("SEVEN", "Sales tax 7.25%", Decimal("7.25"))
    lines = [
        {"Description": "a", "Quantity": 3, "UnitAmount": 33.335, "AccountCode": "200", "TaxType": "SEVEN"},
        {"Description": "b", "LineAmount": 0.10, "AccountCode": "200", "TaxType": "OUTPUT"},
        {"Description": "c", "LineAmount": 19.99, "AccountCode": "200"},  # the account's TaxType: OUTPUT
    ]
    exclusive, inclusive, no_tax = sandbox_api.created(
        "Invoices",
        [
            invoice("EX-1", LineItems=lines, LineAmountTypes="Exclusive"),
            invoice("IN-1", LineItems=lines, LineAmountTypes="Inclusive"),
            invoice("NT-1", LineItems=lines, LineAmountTypes="NoTax"),
        ],
    )
    # 3 x 33.335 = 100.005 -> 100.01 (the line), 7.25% of it 7.250725 -> 7.25; 15% of 0.10 = 0.015 -> 0.02;
    # 15% of 19.99 = 2.9985 -> 3.00.
    assert [line["TaxAmount"] for line in exclusive["LineItems"]] == [7.25, 0.02, 3.00]
    assert (exclusive["SubTotal"], exclusive["TotalTax"], exclusive["Total"]) == (120.10, 10.27, 130.37)
    # Inclusive: the tax inside each line: 100.01 x 7.25/107.25 = 6.7606 -> 6.76; 0.10 x 15/115 = 0.013 ->
    # 0.01; 19.99 x 15/115 = 2.6074 -> 2.61.
    assert [line["TaxAmount"] for line in inclusive["LineItems"]] == [6.76, 0.01, 2.61]
    assert (inclusive["SubTotal"], inclusive["TotalTax"], inclusive["Total"]) == (110.72, 9.38, 120.10)
    assert (no_tax["SubTotal"], no_tax["TotalTax"], no_tax["Total"]) == (120.10, 0, 120.10)
    stored = sandbox_api.sandbox.store.find("Invoices", InvoiceNumber="EX-1")[0]
    assert stored["Total"] == Decimal("130.37") and str(stored["Total"]) == "130.37"
    raw = sandbox_api.client.get(f"Invoices/{exclusive['InvoiceID']}").content
    assert b'"Total": 130.37' in raw and b'"TotalTax": 10.27' in raw  # money as Xero writes it, to the cent


def test_answers_use_xero_dates_and_envelope(sandbox_api: XeroApi) -> None:
    answer = sandbox_api.write("Invoices", [invoice()]).json()
    assert set(answer) == {"Id", "Status", "ProviderName", "DateTimeUTC", "Invoices"}
    assert answer["Status"] == "OK" and answer["DateTimeUTC"].startswith("/Date(")
    document = answer["Invoices"][0]
    assert (
        document["Date"] == "/Date(1772409600000+0000)/" and document["DateString"] == "2026-03-02T00:00:00"
    )
    assert (
        document["DueDate"] == "/Date(1775001600000+0000)/"
        and document["DueDateString"] == "2026-04-01T00:00:00"
    )
    assert document["StatusAttributeString"] == "OK" and document["HasErrors"] is False


# -- documents: validation ------------------------------------------------------------------------
def test_sales_invoice_numbers_are_unique_but_bill_numbers_are_not(sandbox_api: XeroApi) -> None:
    first, again = sandbox_api.write("Invoices", [invoice("INV-7"), invoice("inv-7")]).json()["Invoices"]
    assert errors_of(first) == [] and errors_of(again) == ["Invoice # must be unique."]
    bills = sandbox_api.created(
        "Invoices", [invoice("INV-7", kind="ACCPAY"), invoice("INV-7", kind="ACCPAY")]
    )
    assert len({b["InvoiceID"] for b in bills}) == 2
    assert [i["Type"] for i in sandbox_api.sandbox.store.invoices] == ["ACCREC", "ACCPAY", "ACCPAY"]


def test_credit_note_numbers_are_unique_and_generated_when_missing(sandbox_api: XeroApi) -> None:
    note = {"Type": "ACCRECCREDIT", "Contact": {"Name": "Acme Ltd"}, "Status": "AUTHORISED"}
    note |= {
        "LineItems": [{"Description": "refund", "LineAmount": 40, "AccountCode": "200", "TaxType": "NONE"}]
    }
    generated, named = sandbox_api.created("CreditNotes", [note, note | {"CreditNoteNumber": "CN-77"}])
    assert generated["CreditNoteNumber"] == "CN-0001" and named["CreditNoteNumber"] == "CN-77"
    assert generated["Total"] == 40 and generated["RemainingCredit"] == 40
    duplicate = sandbox_api.write("CreditNotes", [note | {"CreditNoteNumber": "CN-77"}]).json()[
        "CreditNotes"
    ][0]
    assert errors_of(duplicate) == ["Credit Note # must be unique."]
    supplier = sandbox_api.created("CreditNotes", [note | {"Type": "ACCPAYCREDIT"}] * 2)
    assert [s.get("CreditNoteNumber") for s in supplier] == [None, None]


def test_the_contact_is_found_by_id_number_or_name_else_created(sandbox_api: XeroApi) -> None:
    known = sandbox_api.sandbox.store.add_contact("Known Co", "K-1")
    results = sandbox_api.created(
        "Invoices",
        [
            invoice("A", Contact={"ContactID": known["ContactID"]}),
            invoice("B", Contact={"ContactNumber": "K-1"}),
            invoice("C", Contact={"Name": "known co"}),
            invoice("D", Contact={"Name": "New Co", "ContactNumber": "N-1"}),
            invoice("E", Contact={"Name": "New Co"}),
        ],
    )
    assert [r["Contact"]["ContactID"] for r in results[:3]] == [known["ContactID"]] * 3
    assert results[3]["Contact"]["ContactID"] == results[4]["Contact"]["ContactID"] != known["ContactID"]
    assert sorted((c["Name"], c.get("ContactNumber")) for c in sandbox_api.sandbox.store.contacts) == [
        ("Known Co", "K-1"),
        ("New Co", "N-1"),
    ]
    assert all(c["IsCustomer"] for c in sandbox_api.sandbox.store.contacts)


def test_contact_names_are_unique_and_post_updates_by_name_or_number(sandbox_api: XeroApi) -> None:
    (acme,) = sandbox_api.created("Contacts", [{"Name": "Acme Ltd", "ContactNumber": "ACME"}])
    duplicate = sandbox_api.write("Contacts", [{"Name": "ACME LTD"}]).json()["Contacts"][0]
    assert errors_of(duplicate) == [
        "The contact name ACME LTD is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    ]
    assert duplicate["HasValidationErrors"] is True and "HasErrors" not in duplicate
    (by_name,) = sandbox_api.created(
        "Contacts", [{"Name": "Acme Ltd", "EmailAddress": "ap@acme.example"}], method="POST"
    )
    (by_number,) = sandbox_api.created(
        "Contacts", [{"ContactNumber": "ACME", "Name": "Acme Limited"}], method="POST"
    )
    assert by_name["ContactID"] == by_number["ContactID"] == acme["ContactID"]
    assert [(c["Name"], c.get("EmailAddress")) for c in sandbox_api.sandbox.store.contacts] == [
        ("Acme Limited", "ap@acme.example")
    ]


def test_a_document_without_a_usable_contact_is_refused(sandbox_api: XeroApi) -> None:
    missing = invoice("A")
    del missing["Contact"]
    answers = sandbox_api.write(
        "Invoices",
        [
            missing,
            invoice("B", Contact={"EmailAddress": "a@example.com"}),
            invoice("C", Contact={"ContactID": "00000000-0000-0000-0000-000000000001"}),
            invoice("D", Contact={"ContactNumber": "NOBODY"}),
        ],
    ).json()["Invoices"]
    assert [errors_of(a) for a in answers] == [
        ["A Contact must be specified for this type of transaction"],
        [
            "The Contact must contain at least 1 of the following elements to identify the contact: "
            "Name, ContactID, ContactNumber"
        ],
        ["The contact with ContactID 00000000-0000-0000-0000-000000000001 could not be found."],
        ["The contact with ContactNumber NOBODY could not be found."],
    ]
    assert sandbox_api.sandbox.store.invoices == [] and sandbox_api.sandbox.store.contacts == []


def test_account_codes_and_tax_types_must_exist(sandbox_api: XeroApi) -> None:
    bad_account = invoice("A", LineItems=[{"Description": "x", "LineAmount": 5, "AccountCode": "4000"}])
    bad_tax = invoice(
        "B", LineItems=[{"Description": "x", "LineAmount": 5, "AccountCode": "200", "TaxType": "VAT20"}]
    )
    no_account = invoice("C", LineItems=[{"Description": "x", "LineAmount": 5}])
    answers = sandbox_api.write("Invoices", [bad_account, bad_tax, no_account]).json()["Invoices"]
    assert [errors_of(a) for a in answers] == [
        ["Account code '4000' is not a valid code for this document."],
        ["The TaxType code 'VAT20' does not exist or cannot be used for this type of transaction."],
        ["Account code must be specified."],
    ]
    sandbox_api.sandbox.store.add_account("4000", "Services income", "REVENUE", "NONE")
    assert sandbox_api.created("Invoices", [bad_account])[0]["LineItems"][0]["AccountCode"] == "4000"


def test_a_negative_document_is_refused(sandbox_api: XeroApi) -> None:
    negative = invoice("NEG", LineItems=[{"Description": "x", "LineAmount": -5, "AccountCode": "200"}])
    assert errors_of(sandbox_api.write("Invoices", [negative]).json()["Invoices"][0]) == [
        "The document total cannot be negative."
    ]


def test_summarize_errors_refuses_the_whole_batch_with_xeros_api_exception(sandbox_api: XeroApi) -> None:
    answer = sandbox_api.write(
        "Invoices", [invoice("OK-1"), invoice("BAD", Type="ACCPAYCREDIT")], summarize=True
    )
    assert answer.status_code == 400
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (
        10,
        "ValidationException",
        "A validation exception occurred",
    )
    assert [errors_of(e) for e in body["Elements"]] == [["The Type must be ACCREC or ACCPAY."]]
    assert (
        sandbox_api.sandbox.store.invoices == [] and sandbox_api.sandbox.store.contacts == []
    )  # nothing saved


def test_without_summarize_errors_the_valid_documents_are_saved(sandbox_api: XeroApi) -> None:
    answer = sandbox_api.write(
        "Invoices", [invoice("OK-1"), invoice("BAD", Type="ACCPAYCREDIT"), invoice("OK-2")]
    )
    assert answer.status_code == 200
    assert [e["StatusAttributeString"] for e in answer.json()["Invoices"]] == ["OK", "ERROR", "OK"]
    assert [i["InvoiceNumber"] for i in sandbox_api.sandbox.store.invoices] == ["OK-1", "OK-2"]


def test_manual_journals_balance_name_a_narration_and_avoid_receivables_and_payables(
    sandbox_api: XeroApi,
) -> None:
    def journal(*amounts: tuple[str, int], narration: str = "Inventory adjustment") -> dict[str, Any]:
        lines = [
            {"LineAmount": amount, "AccountCode": code, "Description": "adj"} for code, amount in amounts
        ]
        return {"Narration": narration, "Date": "2026-03-02", "Status": "POSTED", "JournalLines": lines}

    answers = sandbox_api.write(
        "ManualJournals",
        [
            journal(("630", 125), ("310", -125)),
            journal(("630", 125), ("310", -100)),
            journal(("630", 125), ("310", -125), narration=" "),
            journal(("610", 50), ("800", -50)),
        ],
    ).json()["ManualJournals"]
    assert [errors_of(a) for a in answers] == [
        [],
        ["The total debits (125.00) must equal total credits (-100.00)"],
        ["Narration must be specified."],
        [
            "Account code '610' is a system account (DEBTORS) and cannot be used in a manual journal.",
            "Account code '800' is a system account (CREDITORS) and cannot be used in a manual journal.",
        ],
    ]
    (stored,) = sandbox_api.sandbox.store.manual_journals
    assert stored["Status"] == "POSTED" and stored["LineAmountTypes"] == "NoTax"
    assert [line["LineAmount"] for line in stored["JournalLines"]] == [125, -125]


# -- updates and reads ----------------------------------------------------------------------------
def test_post_updates_by_id_or_sales_number_and_put_does_not(sandbox_api: XeroApi) -> None:
    (created,) = sandbox_api.created("Invoices", [invoice("UP-1", Status="DRAFT")])
    (by_id,) = sandbox_api.created(
        "Invoices", [{"InvoiceID": created["InvoiceID"], "Reference": "PO 17"}], method="POST"
    )
    (by_number,) = sandbox_api.created("Invoices", [invoice("UP-1", Reference="PO 18")], method="POST")
    assert by_id["InvoiceID"] == by_number["InvoiceID"] == created["InvoiceID"]
    assert [i["Reference"] for i in sandbox_api.sandbox.store.invoices] == ["PO 18"]
    assert errors_of(sandbox_api.write("Invoices", [invoice("UP-1")]).json()["Invoices"][0]) == [
        "Invoice # must be unique."
    ]
    unknown = sandbox_api.write(
        "Invoices", [{"InvoiceID": "00000000-0000-0000-0000-0000000000aa"}], method="POST"
    )
    assert errors_of(unknown.json()["Invoices"][0]) == [
        "The document with the supplied id was not found for this endpoint."
    ]


def test_get_by_id_number_and_filters(sandbox_api: XeroApi) -> None:
    other = {"Name": "Other Co", "ContactNumber": "OTHER"}
    created = sandbox_api.created(
        "Invoices",
        [invoice("F-1"), invoice("F-2"), invoice("F-3", Contact=other), invoice("F-1", kind="ACCPAY")],
    )
    acme = created[0]["Contact"]["ContactID"]

    def numbers(**params: Any) -> list[str]:
        answer = sandbox_api.get("Invoices", **params)
        assert answer.status_code == 200, answer.text
        return [f"{i['Type']}:{i['InvoiceNumber']}" for i in answer.json()["Invoices"]]

    assert (
        sandbox_api.get(f"Invoices/{created[1]['InvoiceID']}").json()["Invoices"][0]["InvoiceNumber"] == "F-2"
    )
    assert numbers(where='Type=="ACCREC" AND InvoiceNumber=="F-1"') == ["ACCREC:F-1"]
    assert numbers(where=f'Contact.ContactID==Guid("{acme}") && Type=="ACCREC"') == [
        "ACCREC:F-1",
        "ACCREC:F-2",
    ]
    assert numbers(where='InvoiceNumber=="F-2" OR InvoiceNumber=="F-3"') == ["ACCREC:F-2", "ACCREC:F-3"]
    assert numbers(where='Type=="ACCPAY" AND Contact.Name=="acme ltd"') == ["ACCPAY:F-1"]
    assert numbers(InvoiceNumbers="F-1,F-3") == ["ACCREC:F-1", "ACCREC:F-3", "ACCPAY:F-1"]
    assert numbers(ContactIDs=created[2]["Contact"]["ContactID"]) == ["ACCREC:F-3"]
    assert numbers(IDs=f"{created[0]['InvoiceID']},{created[3]['InvoiceID']}") == ["ACCREC:F-1", "ACCPAY:F-1"]
    assert sandbox_api.get("Contacts/OTHER").json()["Contacts"][0]["Name"] == "Other Co"  # by ContactNumber
    missing = sandbox_api.client.get("Invoices/00000000-0000-0000-0000-0000000000aa")
    assert missing.status_code == 404


def test_a_where_xero_cannot_read_is_a_query_parse_exception(sandbox_api: XeroApi) -> None:
    answer = sandbox_api.get("Invoices", where='InvoiceNumber=="unterminated')
    assert answer.status_code == 400 and answer.json()["Type"] == "QueryParseException"


def test_pages_hold_100_documents(
    xero_sandbox: XeroSandbox, xero_api: Callable[..., XeroApi], sandbox_api: XeroApi
) -> None:
    written = xero_sandbox.store.write(
        "Invoices", [invoice(f"P-{n:03d}") for n in range(230)], match_numbers=False, atomic=True
    )
    assert not written.errors
    # The referee takes seconds over a page of 100 invoices: it checks a page of two below instead.
    unchecked = xero_api(xero_sandbox, checked=False)
    assert sandbox_api.get("Invoices", page=2, pageSize=2).json()["pagination"]["itemCount"] == 230
    pages = [unchecked.get("Invoices", page=page).json() for page in (1, 2, 3, 4)]
    assert [len(p["Invoices"]) for p in pages] == [100, 100, 30, 0]
    assert pages[0]["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 3, "itemCount": 230}
    assert pages[2]["Invoices"][-1]["InvoiceNumber"] == "P-229"
    assert len(unchecked.get("Invoices").json()["Invoices"]) == 230  # no page: all of them


# -- idempotency ----------------------------------------------------------------------------------
def test_a_repeated_idempotency_key_replays_the_first_answer_and_creates_nothing(
    sandbox_api: XeroApi,
) -> None:
    first = sandbox_api.write("Invoices", [invoice("K-1")], key="file-1:doc-1")
    again = sandbox_api.write("Invoices", [invoice("K-1", Reference="changed")], key="file-1:doc-1")
    assert again.status_code == first.status_code == 200
    assert loads(again.content) == loads(first.content)
    assert (
        len(sandbox_api.sandbox.store.invoices) == 1
        and sandbox_api.sandbox.store.invoices[0]["Reference"] == ""
    )
    # Another path, or another key, is another request.
    note = {"Type": "ACCRECCREDIT", "Contact": {"Name": "Acme Ltd"}, "LineItems": []}
    assert sandbox_api.write("CreditNotes", [note], key="file-1:doc-1").status_code == 200
    assert sandbox_api.write("Invoices", [invoice("K-2")], key="file-1:doc-2").status_code == 200
    assert len(sandbox_api.sandbox.store.invoices) == 2 and len(sandbox_api.sandbox.store.credit_notes) == 1


def test_an_idempotency_key_over_128_characters_is_refused(sandbox_api: XeroApi) -> None:
    answer = sandbox_api.write("Invoices", [invoice()], key="k" * 129)
    assert answer.status_code == 400 and sandbox_api.sandbox.store.invoices == []


def test_the_command_line_prints_the_connection_and_serves_until_stopped() -> None:
    command = [sys.executable, "-m", "airflow_provider_cwgl.sandbox.xero", "--port", "0", "--name", "Cli Ltd"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("AIRFLOW_CONN_XERO_DEFAULT='")
        conn = json.loads(line.strip().split("=", 1)[1].strip("'"))
        answer = httpx.post(
            conn["extra"]["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(conn["login"], conn["password"]),
        )
        bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        tenants = httpx.get(f"{conn['host']}/connections", headers=bearer).json()
        assert [(t["tenantId"], t["tenantName"]) for t in tenants] == [
            (conn["extra"]["tenant_id"], "Cli Ltd")
        ]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
