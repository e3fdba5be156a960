"""The loader against the sandbox Xero on loopback: what lands in Xero's books, exactly once, in
few calls, and every exchange refereed by Xero's OpenAPI description."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from conftest import FIXTURES
from xero_books import client_for
from xero_schema import referee

from airflow_provider_cwgl.errors import XeroError
from airflow_provider_cwgl.glexport.xml_reader import iter_items
from airflow_provider_cwgl.sandbox.data import generated_store
from airflow_provider_cwgl.sandbox.xero import XeroSandbox
from airflow_provider_cwgl.sandbox.xero.connectwise_books import ACCOUNT_CODES, TAX_TYPES
from airflow_provider_cwgl.xero import XeroClient
from airflow_provider_cwgl.xero.loader import LoadResult, XeroLoader, idempotency_key, where_any
from airflow_provider_cwgl.xero.mapping import MappingSettings
from airflow_provider_cwgl.xero.settings import settings_from_fields

SHA = "a" * 64
SETTINGS = MappingSettings(account_codes=ACCOUNT_CODES, tax_types=TAX_TYPES)


def samples() -> list[tuple[str, dict[str, Any]]]:
    items = []
    for name in ("sample_invoices.xml", "sample_procurement.xml"):
        with (FIXTURES / name).open("rb") as source:
            items += list(iter_items(source))
    return items


def generated(transactions: int = 100) -> list[tuple[str, dict[str, Any]]]:
    """The ConnectWise sandbox's documents (every collection), as the export carries them."""
    store = generated_store(transactions=transactions)
    return [(d.section, d.body) for d in store.documents]


def load(sandbox: XeroSandbox, items: Any, settings: MappingSettings = SETTINGS, **kwargs: Any) -> LoadResult:
    with client_for(sandbox) as client:
        return XeroLoader(client, settings, **kwargs).load(items, file_sha256=SHA)


def refereed(sandbox: XeroSandbox) -> None:
    """Every exchange valid by Xero's spec, the field names of what was sent and answered included."""
    referee().check_sandbox(sandbox)


def written(sandbox: XeroSandbox, path: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method == "PUT" and r.path == path]


def test_the_samples_land_as_an_invoice_and_a_bill_with_their_contacts(xero_books: XeroSandbox) -> None:
    result = load(xero_books, samples(), MappingSettings(account_codes={"4000": "200", "4001": "310"}))
    assert result.refused == []
    store = xero_books.store
    invoice = next(i for i in store.invoices if i["Type"] == "ACCREC")
    bill = next(i for i in store.invoices if i["Type"] == "ACCPAY")
    assert (invoice["InvoiceNumber"], invoice["Total"], invoice["Status"]) == (
        "119",
        Decimal("10.00"),
        "DRAFT",
    )
    assert (bill["InvoiceNumber"], bill["Total"]) == ("COMPANYBINV", Decimal("12.50"))
    contacts = {c["ContactNumber"]: c for c in store.contacts}
    assert invoice["Contact"]["ContactID"] == contacts["Angry Fox, Co."]["ContactID"]
    assert bill["Contact"]["ContactID"] == contacts["CONNECTWISE"]["ContactID"]
    assert sorted((d["collection"], d["number"], d["created"]) for d in result.loaded) == [
        ("purchaseTransactions", "COMPANYBINV", True),
        ("transactions", "119", True),
    ]
    assert {d["xero_id"] for d in result.loaded} == {invoice["InvoiceID"], bill["InvoiceID"]}
    refereed(xero_books)


def test_a_day_of_every_collection_lands_with_connectwises_totals(xero_books: XeroSandbox) -> None:
    items = generated(100)
    result = load(xero_books, items)
    assert result.refused == []
    documents = len(items)
    assert len(result.loaded) == documents
    totals = {
        (d.section, str(d.body["id"])): abs(Decimal(d.body.get("total") or 0))
        for d in generated_store(transactions=100).documents
    }
    store = xero_books.store
    by_id = {r.get("InvoiceID") or r.get("CreditNoteID"): r for r in store.invoices + store.credit_notes}
    for doc in result.loaded:
        if doc["xero_id"] in by_id:
            assert by_id[doc["xero_id"]]["Total"] == totals[(doc["collection"], str(doc["id"]))], doc
    journals = store.manual_journals
    assert len(journals) == sum(
        1 for c, _ in items if c in ("expenses", "inventoryTransfers", "adjustmentTransactions")
    )
    for journal in journals:
        assert sum(line["LineAmount"] for line in journal["JournalLines"]) == 0
    refereed(xero_books)


def test_a_rerun_creates_nothing_and_finds_everything(xero_books: XeroSandbox) -> None:
    items = generated(60)
    first = load(xero_books, items)
    store = xero_books.store
    before = (len(store.invoices), len(store.credit_notes), len(store.manual_journals), len(store.contacts))
    xero_books.log.clear()
    second = load(xero_books, items)
    after = (len(store.invoices), len(store.credit_notes), len(store.manual_journals), len(store.contacts))
    assert after == before
    assert written(xero_books, "Invoices") == written(xero_books, "Contacts") == []
    assert written(xero_books, "ManualJournals") == []
    assert not any(d["created"] for d in second.loaded)
    key = lambda d: (d["collection"], str(d["id"]), d["xero_id"])  # noqa: E731
    assert sorted(map(key, second.loaded)) == sorted(map(key, first.loaded))
    refereed(xero_books)


def test_a_lost_answer_is_retried_under_the_same_key_and_creates_once(xero_books: XeroSandbox) -> None:
    xero_books.faults.add(path="Invoices", method="PUT", drop=True, times=1)
    result = load(xero_books, samples(), MappingSettings(account_codes={"4000": "200", "4001": "310"}))
    assert result.refused == []
    puts = written(xero_books, "Invoices")
    assert len(puts) == 2 and puts[0].headers["idempotency-key"] == puts[1].headers["idempotency-key"]
    assert sorted(i["InvoiceNumber"] for i in xero_books.store.invoices) == ["119", "COMPANYBINV"]


def test_a_task_retry_after_answers_lost_for_good_creates_nothing_twice(xero_books: XeroSandbox) -> None:
    items = generated(20)
    xero_books.faults.add(path="Invoices", method="PUT", drop=True)
    with pytest.raises(XeroError):
        load(xero_books, items)
    made = len(xero_books.store.invoices)
    assert made > 0  # the writes went through; only the answers were lost
    xero_books.faults.clear()
    result = load(xero_books, items)  # the task's next try
    assert result.refused == []
    assert len(xero_books.store.invoices) == len(
        {(i["Type"], i["InvoiceNumber"], i["Contact"]["ContactID"]) for i in xero_books.store.invoices}
    )
    numbers = [i["InvoiceNumber"] for i in xero_books.store.invoices if i["Type"] == "ACCREC"]
    invoices = sum(1 for c, item in items if c == "transactions" and item["documentType"] == "INVOICE")
    assert len(numbers) == len(set(numbers)) == invoices
    credit_notes = [n["CreditNoteNumber"] for n in xero_books.store.credit_notes]
    assert (
        len(credit_notes)
        == len(set(credit_notes))
        == len(items) - invoices - sum(1 for c, _ in items if c != "transactions")
    )


def test_refused_documents_name_xeros_message_and_the_rest_load(xero_books: XeroSandbox) -> None:
    items = generated(40)
    codes = {k: v for k, v in ACCOUNT_CODES.items() if k != "6200"}  # expense bills' account
    result = load(xero_books, items, MappingSettings(account_codes=codes, tax_types=TAX_TYPES))
    bills = {str(b["id"]) for c, b in items if c == "expenseBills"}
    assert {str(r["id"]) for r in result.refused} == bills
    for refusal in result.refused:
        assert refusal["collection"] == "expenseBills"
        # In Xero's words, once (Xero says it for each line on that account).
        assert refusal["messages"] == ["Account code '6200' is not a valid code for this document."]
    assert len(result.loaded) == len(items) - len(bills)
    refereed(xero_books)


def test_a_document_xero_has_with_another_total_is_refused_not_doubled(xero_books: XeroSandbox) -> None:
    settings = MappingSettings(account_codes={"4000": "200", "4001": "310"})
    load(xero_books, samples(), settings)
    items = samples()
    invoice = copy.deepcopy(next(i for c, i in items if c == "transactions"))
    invoice["total"] = "11"
    invoice["detail"][0]["total"] = "-11"
    result = load(xero_books, [("transactions", invoice)], settings)
    assert result.loaded == []
    assert (
        "Xero already has ACCREC '119' with total 10.00; ConnectWise's is 11" in result.refused[0]["reason"]
    )
    assert len([i for i in xero_books.store.invoices if i["InvoiceNumber"] == "119"]) == 1


def test_a_contact_xero_refuses_refuses_its_documents(xero_books: XeroSandbox) -> None:
    xero_books.store.add_contact("Angry Fox, Co.")  # same name, no contact number: Xero refuses a twin
    result = load(xero_books, samples(), MappingSettings(account_codes={"4000": "200", "4001": "310"}))
    assert [(r["collection"], r["reason"]) for r in result.refused] == [
        ("transactions", "Xero refused its contact 'Angry Fox, Co.'")
    ]
    assert result.refused[0]["messages"] and "Angry Fox, Co." in result.refused[0]["messages"][0]
    assert [d["collection"] for d in result.loaded] == ["purchaseTransactions"]


def test_calls_per_document_stay_low(xero_books: XeroSandbox) -> None:
    items = generated(200)
    with client_for(xero_books) as client:
        result = XeroLoader(client, SETTINGS).load(items, file_sha256=SHA)
        calls = client.calls
    assert result.refused == []
    # Per 50 documents: a contact look-up and creation, a document look-up and one write.
    assert calls / len(items) < 0.12, (calls, len(items))


def test_keys_and_filters() -> None:
    key = idempotency_key("f" * 64, "ManualJournals", [("expenses", 1, {"Narration": "x"})])
    assert len(key) <= 128 and key.startswith("cwgl-ffffffffffffffffffffffff-ManualJournals-")
    assert key != idempotency_key("f" * 64, "ManualJournals", [("expenses", 1, {"Narration": "y"})])
    assert where_any("ContactNumber", ['"Quoted" Systems', "a\\b"]) == (
        'ContactNumber=="\\"Quoted\\" Systems" OR ContactNumber=="a\\\\b"'
    )


@pytest.mark.xero_prism
def test_a_load_through_prism_shows_no_violation(xero_books: XeroSandbox, xero_prism: Any) -> None:
    """Stoplight Prism (``prism proxy --errors``) in front of the sandbox: every request the loader
    sends and every answer it reads, refusals included, conform to Xero's description."""
    proxy = xero_prism(xero_books)
    codes = {k: v for k, v in ACCOUNT_CODES.items() if k != "6200"}  # some refusals too
    with client_for(xero_books, host=proxy.url) as client:
        result = XeroLoader(client, MappingSettings(codes, TAX_TYPES)).load(generated(40), file_sha256=SHA)
        again = XeroLoader(client, MappingSettings(codes, TAX_TYPES)).load(generated(40), file_sha256=SHA)
    assert result.loaded and result.refused and not any(d["created"] for d in again.loaded)
    assert proxy.violations() == []
    assert len([r for r in xero_books.requests if not r.path.startswith("/")]) == client.calls


def test_the_command_line_serves_books_for_the_connectwise_sandbox() -> None:
    """``python -m airflow_provider_cwgl.sandbox.xero --connectwise-books`` prints a connection and
    the mapping Variables that load the ConnectWise sandbox's documents without a refusal."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_cwgl.sandbox.xero",
        "--port",
        "0",
        "--connectwise-books",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        printed = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        conn = json.loads(printed["AIRFLOW_CONN_XERO_DEFAULT"].strip("'"))
        codes = json.loads(printed["AIRFLOW_VAR_CWGL_XERO_ACCOUNT_CODES"].strip("'"))
        taxes = json.loads(printed["AIRFLOW_VAR_CWGL_XERO_TAX_TYPES"].strip("'"))
        settings = settings_from_fields(conn["login"], conn["password"], conn["host"], conn["extra"])
        with XeroClient(settings) as client:
            result = XeroLoader(client, MappingSettings(codes, taxes)).load(generated(20), file_sha256=SHA)
        assert result.loaded and result.refused == []
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_credit_memo_lands_as_a_credit_note_once(xero_books: XeroSandbox) -> None:
    invoice = next(i for c, i in samples() if c == "transactions")
    memo = copy.deepcopy(invoice) | {"id": 126, "documentType": "CREDIT MEMO", "documentNumber": "119CM"}
    memo |= {"total": "-10"}
    memo["detail"][0] |= {"quantity": "1", "total": "10"}
    settings = MappingSettings(account_codes={"4000": "200"})
    first = load(xero_books, [("transactions", invoice), ("transactions", memo)], settings)
    again = load(xero_books, [("transactions", memo)], settings)
    [note] = xero_books.store.credit_notes
    assert (note["Type"], note["CreditNoteNumber"], note["Total"]) == (
        "ACCRECCREDIT",
        "119CM",
        Decimal("10.00"),
    )
    assert [d["xero_id"] for d in first.loaded if d["type"] == "ACCRECCREDIT"] == [note["CreditNoteID"]]
    assert [(d["xero_id"], d["created"]) for d in again.loaded] == [(note["CreditNoteID"], False)]
    refereed(xero_books)
