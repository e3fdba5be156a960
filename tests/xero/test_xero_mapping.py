"""The mapping, plain: the spec's samples and hand-made documents, each payload checked against
Xero's OpenAPI description (openapi-core) and its field names against the schemas' properties."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from conftest import FIXTURES
from xero_openapi import XeroOpenAPI
from xero_schema import unknown_request_fields, validate_put

from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.xml_reader import iter_items
from airflow_provider_cwgl.xero.mapping import MappingSettings, Refusal, Tenant, XeroDocument, to_xero

CONTACT_ID = "8c5f8a4e-2b1f-4f59-9d0a-6a3b2f1c0d11"


def sample(name: str, collection: str) -> dict[str, Any]:
    with (FIXTURES / name).open("rb") as source:
        return next(item for c, item in iter_items(source) if c == collection)


REFEREE: list[XeroOpenAPI] = []  # the session's xero_openapi, for the helpers below


@pytest.fixture(autouse=True)
def _referee(xero_openapi: XeroOpenAPI) -> Iterator[None]:
    REFEREE.append(xero_openapi)
    yield
    REFEREE.clear()


def mapped(
    collection: str, item: dict[str, Any], tenant: Tenant | None = None, **settings: Any
) -> XeroDocument:
    result = to_xero(collection, item, MappingSettings(**settings), tenant or Tenant())
    assert isinstance(result, XeroDocument), result
    refereed(result)
    return result


def refereed(doc: XeroDocument) -> None:
    """What the loader sends for ``doc``, validated by Xero's spec and its field names checked."""
    body = dict(doc.payload)
    if doc.contact is not None:
        body["Contact"] = {"ContactID": CONTACT_ID}
    validate_put(REFEREE[0], doc.endpoint, {doc.endpoint: [body]})
    assert unknown_request_fields(doc.endpoint, {doc.endpoint: [body]}) == []


def refused(collection: str, item: dict[str, Any], tenant: Tenant | None = None, **settings: Any) -> str:
    result = to_xero(collection, item, MappingSettings(**settings), tenant or Tenant())
    assert isinstance(result, Refusal), result
    assert result.id == item.get("id")
    return result.reason


def xero_computed_total(payload: dict[str, Any]) -> Decimal:
    """As Xero adds up a document: the line amounts, plus each line's tax when exclusive."""
    total = Decimal(0)
    for line in payload["LineItems"]:
        assert Decimal(str(line["Quantity"])) * Decimal(str(line["UnitAmount"])) == Decimal(
            str(line["LineAmount"])
        )
        total += Decimal(str(line["LineAmount"]))
        if payload["LineAmountTypes"] == "Exclusive":
            total += Decimal(str(line["TaxAmount"]))
    return total


def test_the_sample_invoice_is_an_accrec_invoice_of_the_same_total() -> None:
    doc = mapped("transactions", sample("sample_invoices.xml", "transactions"))
    assert (doc.endpoint, doc.type, doc.number, doc.id) == ("Invoices", "ACCREC", "119", 125)
    assert doc.payload["InvoiceNumber"] == "119"
    assert (doc.payload["Date"], doc.payload["DueDate"]) == ("2011-06-20", "2011-06-30")
    assert doc.payload["Status"] == "DRAFT"
    assert doc.payload["LineAmountTypes"] == "NoTax"  # the sales tax line is 0
    # The revenue line is -10 in GLExport (a credit), 10 on the invoice; the zero tax line is no line.
    assert [(li["AccountCode"], li["LineAmount"]) for li in doc.payload["LineItems"]] == [("4000", 10)]
    assert doc.total == Decimal(10) == xero_computed_total(doc.payload)
    assert (doc.contact.number, doc.contact.name) == ("Angry Fox, Co.", "Angry Fox, Co.")  # type: ignore[union-attr]


def test_the_sample_purchase_is_a_bill_from_the_vendor() -> None:
    doc = mapped("purchaseTransactions", sample("sample_procurement.xml", "purchaseTransactions"))
    assert (doc.endpoint, doc.type) == ("Invoices", "ACCPAY")
    assert doc.payload["InvoiceNumber"] == "COMPANYBINV"  # the vendor's invoice number
    assert doc.contact is not None and doc.contact.number == "CONNECTWISE"
    assert doc.key == ("ACCPAY", "CONNECTWISE", "COMPANYBINV")  # bills are matched per contact
    # Net 10 from the vendor invoice date.
    assert (doc.payload["Date"], doc.payload["DueDate"]) == ("2014-05-01", "2014-05-11")
    line = doc.payload["LineItems"][0]
    assert (line["AccountCode"], line["Quantity"], line["UnitAmount"], line["LineAmount"]) == (
        "4001",
        50,
        0.25,
        12.5,
    )
    assert doc.total == Decimal("12.5") == xero_computed_total(doc.payload)


def credit_memo() -> dict[str, Any]:
    item = copy.deepcopy(sample("sample_invoices.xml", "transactions"))
    item |= {"documentType": "CREDIT MEMO", "documentNumber": "119CM", "total": "-10", "id": 126}
    item["detail"][0] |= {"quantity": "1", "total": "10"}
    return item


def test_a_credit_memo_is_an_accreccredit_credit_note_of_the_absolute_total() -> None:
    doc = mapped("transactions", credit_memo())
    assert (doc.endpoint, doc.type, doc.number) == ("CreditNotes", "ACCRECCREDIT", "119CM")
    assert doc.payload["CreditNoteNumber"] == "119CM"
    assert "InvoiceNumber" not in doc.payload
    assert [li["LineAmount"] for li in doc.payload["LineItems"]] == [10]
    assert doc.total == Decimal(10) == xero_computed_total(doc.payload)


def test_account_codes_map_each_line_and_unlisted_codes_stay() -> None:
    item = copy.deepcopy(sample("sample_invoices.xml", "transactions"))
    doc = mapped("transactions", item, account_codes={"4000": "200"})
    assert doc.payload["LineItems"][0]["AccountCode"] == "200"
    doc = mapped("transactions", item, account_codes={"9999": "820"})
    assert doc.payload["LineItems"][0]["AccountCode"] == "4000"


def taxed_invoice(amounts: list[str], tax: str, code: str = "T1") -> dict[str, Any]:
    """An invoice of revenue lines (signed as GLExport signs them) and one sales tax line."""
    lines: list[dict[str, Any]] = [
        {
            "id": n,
            "accountNumber": "4000",
            "glTypeId": "RP",
            "quantity": "-1",
            "total": f"-{a}",
            "taxCodeXref": code,
        }
        for n, a in enumerate(amounts, 1)
    ]
    lines.append({"id": 99, "accountNumber": "2200", "glTypeId": "ST", "quantity": "0", "total": f"-{tax}"})
    total = sum((Decimal(a) for a in amounts), Decimal(tax))
    return {
        "id": 500,
        "documentType": "INVOICE",
        "documentNumber": "INV500",
        "documentDate": "2026-03-01T00:00:00",
        "dueDate": "2026-03-31T00:00:00",
        "company": {"id": 8, "identifier": "AngryFox", "name": "Angry Fox, Co."},
        "currency": {"id": 2, "currencyCode": "GBP"},
        "total": str(total),
        "detail": lines,
    }


TWENTY = Tenant(tax_rates={"OUTPUT2": Decimal("20.0000"), "ZERORATEDOUTPUT": Decimal(0)})


def test_tax_is_xeros_per_line_and_the_total_connectwises_to_the_cent() -> None:
    # 3 x 0.05 at 20%: ConnectWise taxes the whole (0.15 -> 0.03); per line 0.01 each is also 0.03.
    doc = mapped(
        "transactions", taxed_invoice(["0.05", "0.05", "0.05"], "0.03"), TWENTY, tax_types={"T1": "OUTPUT2"}
    )
    assert doc.payload["LineAmountTypes"] == "Exclusive"
    assert [li["TaxType"] for li in doc.payload["LineItems"]] == ["OUTPUT2"] * 3
    assert doc.payload["CurrencyCode"] == "GBP"
    assert (doc.contact.number, doc.contact.name) == ("AngryFox", "Angry Fox, Co.")  # type: ignore[union-attr]
    assert doc.total == Decimal("0.18") == xero_computed_total(doc.payload)


def test_a_cent_of_rounding_is_absorbed_by_a_tax_override_never_by_another_total() -> None:
    # 0.025 three times: per line 0.03 + 0.03 + 0.03 = 0.09; ConnectWise: 0.375 * 20% = 0.075 -> 0.08.
    item = taxed_invoice(["0.125", "0.125", "0.125"], "0.08")
    item["detail"][:3] = [line | {"total": "-0.13"} for line in item["detail"][:3]]
    # Lines of 0.13: per line 0.026 -> 0.03 (0.09 in all); the whole 0.39 * 20% = 0.078 -> 0.08.
    item["total"] = "0.47"
    doc = mapped("transactions", item, TWENTY, tax_types={"T1": "OUTPUT2"})
    taxes = sorted(Decimal(str(li["TaxAmount"])) for li in doc.payload["LineItems"])
    assert taxes == [Decimal("0.02"), Decimal("0.03"), Decimal("0.03")]
    assert xero_computed_total(doc.payload) == Decimal("0.47") == doc.total


def test_one_line_rounded_another_way_is_a_cent_more_is_a_refusal() -> None:
    # 210.565 at 5%: ConnectWise rounded half to even (210.56), Xero rounds half up (210.57).
    tenant = Tenant(tax_rates={"TAX5": Decimal(5)})
    doc = mapped("transactions", taxed_invoice(["4211.30"], "210.56"), tenant, tax_types={"T1": "TAX5"})
    assert doc.payload["LineItems"][0]["TaxAmount"] == Decimal("210.56")
    assert xero_computed_total(doc.payload) == Decimal("4421.86") == doc.total
    reason = refused("transactions", taxed_invoice(["4211.30"], "210.55"), tenant, tax_types={"T1": "TAX5"})
    assert "Xero would compute tax 210.57, ConnectWise's is 210.55" in reason


def test_a_one_cent_invoice() -> None:
    item = taxed_invoice(["0.01"], "0")
    doc = mapped("transactions", item)
    assert doc.payload["LineAmountTypes"] == "NoTax"
    assert "TaxType" not in doc.payload["LineItems"][0]
    assert doc.total == Decimal("0.01") == xero_computed_total(doc.payload)


def test_a_tax_rate_that_is_not_connectwises_is_refused_not_loaded_with_another_total() -> None:
    # ConnectWise charged 20% (2.00 on 10.00); the TaxType given is 15% in Xero: 1.50.
    tenant = Tenant(tax_rates={"OUTPUT": Decimal(15)})
    reason = refused("transactions", taxed_invoice(["10.00"], "2.00"), tenant, tax_types={"T1": "OUTPUT"})
    assert "Xero would compute tax 1.50" in reason and "2.00" in reason


def test_an_unknown_tax_code_is_refused_naming_it() -> None:
    reason = refused(
        "transactions", taxed_invoice(["10.00"], "2.00", code="T9"), TWENTY, tax_types={"T1": "OUTPUT2"}
    )
    assert "'T9'" in reason and "tax_types" in reason
    reason = refused("transactions", taxed_invoice(["10.00"], "2.00"), TWENTY, tax_types={"T1": "NOPE"})
    assert "'NOPE'" in reason


def test_documents_whose_lines_do_not_add_up_or_are_of_the_wrong_sign_are_refused() -> None:
    item = taxed_invoice(["10.00"], "0") | {"total": "11"}
    assert "do not add up" in refused("transactions", item)
    item = credit_memo() | {"total": "10"}
    assert "positive total" in refused("transactions", item)
    item = taxed_invoice(["10.00"], "0") | {"documentType": "DOWN PAYMENT"}
    assert "'DOWN PAYMENT'" in refused("transactions", item)
    item = taxed_invoice(["10.00"], "0")
    item["detail"][0]["accountNumber"] = ""
    assert "no GL account number" in refused("transactions", item)


def expense(offset_account: str = "2000", offset_total: str = "-42.50") -> dict[str, Any]:
    return {
        "id": 100_123,
        "documentDate": "2026-03-02T00:00:00",
        "documentType": "EXPENSE",
        "accountNumber": "6100",
        "apAccountNumber": "2000",
        "description": "Taxi",
        "total": "42.50",
        "offset": {"id": 100_124, "accountNumber": offset_account, "total": offset_total},
    }


def test_an_expense_is_a_balanced_manual_journal_debits_positive() -> None:
    doc = mapped("expenses", expense(), account_codes={"2000": "2100"})
    assert (doc.endpoint, doc.type) == ("ManualJournals", "MANUALJOURNAL")
    assert doc.payload["Narration"] == "ConnectWise expenses 100123: Taxi" == doc.number
    lines = [(li["AccountCode"], li["LineAmount"]) for li in doc.payload["JournalLines"]]
    assert lines == [("6100", 42.5), ("2100", -42.5)]
    assert doc.payload["Status"] == "DRAFT"
    assert mapped("expenses", expense(), invoice_status="AUTHORISED").payload["Status"] == "POSTED"


def test_journals_that_do_not_balance_or_touch_receivables_or_payables_are_refused() -> None:
    assert "do not balance" in refused("expenses", expense(offset_total="-42.49"))
    tenant = Tenant(system_accounts={"800": "CREDITORS"})
    reason = refused("expenses", expense(), tenant, account_codes={"2000": "800"})
    assert "800" in reason and "CREDITORS" in reason


def test_inventory_documents_are_journals() -> None:
    transfer = {
        "id": "TR #1",
        "documentDate": "2026-03-02T00:00:00",
        "accountNumber": "1300",
        "description": "Inventory transfer",
        "total": "12.00",
        "offset": {"id": 7, "accountNumber": "1310", "total": "-12.00"},
    }
    doc = mapped("inventoryTransfers", transfer)
    assert [li["LineAmount"] for li in doc.payload["JournalLines"]] == [12, -12]
    adjustment = {
        "id": "ADJ #1",
        "documentDate": "2026-03-02T00:00:00",
        "accountNumber": "5100",
        "adjustmentDescription": "Stock count correction",
        "adjustmentDetail": [
            {"inventoryAccountNumber": "1300", "total": "-4.00"},
            {"accountNumber": "1300", "total": "1.50"},
        ],
    }
    doc = mapped("adjustmentTransactions", adjustment)
    lines = [(li["AccountCode"], li["LineAmount"]) for li in doc.payload["JournalLines"]]
    assert lines == [("1300", -4), ("1300", 1.5), ("5100", 2.5)]


def test_an_expense_bill_is_a_bill_from_the_member() -> None:
    bill = {
        "id": 60_001,
        "documentType": "BILL",
        "documentNumber": "EXP60001",
        "documentDate": "2026-03-02T00:00:00",
        "member": {"id": 4, "identifier": "m4", "name": "Ana Park"},
        "total": "30.00",
        "detail": [{"accountNumber": "6200", "total": "10.00"}, {"accountNumber": "6200", "total": "20.00"}],
    }
    doc = mapped("expenseBills", bill)
    assert (doc.type, doc.number, doc.contact) == ("ACCPAY", "EXP60001", doc.contact)
    assert doc.contact is not None and (doc.contact.number, doc.contact.name) == ("m4", "Ana Park")
    assert doc.total == Decimal(30) == xero_computed_total(doc.payload)


def test_parties_and_unknown_collections_are_not_documents() -> None:
    assert "parties" in refused("customers", {"id": 1})
    assert "no Xero document" in refused("payments", {"id": 1})


def test_settings_are_checked_naming_the_setting_and_what_it_accepts() -> None:
    with pytest.raises(SettingError, match="invoice_status.*DRAFT, AUTHORISED"):
        MappingSettings.parse(invoice_status="PAID")
    with pytest.raises(SettingError, match="account_codes"):
        MappingSettings.parse(account_codes=["4000"])
    with pytest.raises(SettingError, match="tax_types"):
        MappingSettings.parse(tax_types="{'T1': ''}")
    parsed = MappingSettings.parse('{"4000": 200}', "{'T1': 'OUTPUT2'}", "authorised")
    assert parsed == MappingSettings({"4000": "200"}, {"T1": "OUTPUT2"}, "AUTHORISED")
    assert MappingSettings.parse(None, "None", "") == MappingSettings()


def test_the_referee_rejects_a_bad_payload() -> None:
    """The checks above can fail: a misspelt field and a wrong type are caught."""
    doc = mapped("transactions", sample("sample_invoices.xml", "transactions"))
    problems = unknown_request_fields("Invoices", {"Invoices": [{**doc.payload, "InvoiceNo": "1"}]})
    assert problems == ["sent (body).Invoices[0].InvoiceNo: not a field of Invoice"]
    bad = {**doc.payload, "LineItems": [{"LineAmount": "ten"}]}
    with pytest.raises(Exception, match="not of type 'number'"):
        validate_put(REFEREE[0], "Invoices", {"Invoices": [bad]})
