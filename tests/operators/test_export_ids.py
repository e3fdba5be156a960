"""Which ids the export request takes, as real integrations send them: an unposted invoice's
``billingLogId`` in ``includedInvoiceIds``, and ``locationId`` 0 for all locations
(RationallyPrime/connectwise-etl, ethan-sorenson/SmartConnectConnectWise)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from airflow_provider_cwgl.glexport.xml_reader import iter_items
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox, generated_store

EXPORT = "finance/accounting/export"


@pytest.fixture
def connected(make_sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = make_sandbox(generated_store(transactions=40))
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    return sandbox


def unposted_invoices(sandbox: Sandbox) -> list[dict]:
    """What an integration lists first: GET finance/accounting/unpostedinvoices."""
    creds = sandbox.credentials
    response = httpx.get(
        f"{sandbox.api_url}finance/accounting/unpostedinvoices",
        params={"pageSize": 1000},
        auth=(f"{creds['company_id']}+{creds['public_key']}", creds["private_key"]),
        headers={"clientId": creds["client_id"]},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json())


def export(path: Path, **settings: object) -> dict:
    operator = GLBatchExportOperator(
        task_id="export", output_file=str(path), thru_date="2030-01-01", **settings
    )
    return operator.execute({})


def transaction_ids(path: Path) -> set[int]:
    with path.open("rb") as source:
        return {int(item["id"]) for collection, item in iter_items(source) if collection == "transactions"}


def test_included_invoice_ids_take_the_unposted_invoices_billing_log_id(
    connected: Sandbox, tmp_path: Path
) -> None:
    invoices = unposted_invoices(connected)
    memo = next(i for i in invoices if i["invoiceType"] == "CreditMemo")
    chosen = [invoices[0], memo]
    summary = export(tmp_path / "x.xml", included_invoice_ids=[i["billingLogId"] for i in chosen])
    assert summary["request"]["includedInvoiceIds"] == [i["billingLogId"] for i in chosen]
    # The exported transactions are those invoices: a transaction's id is its invoice's.
    assert transaction_ids(tmp_path / "x.xml") == {i["billingLogId"] for i in chosen}
    assert summary["counts"]["transactions"] == 2


def test_an_unposted_invoices_own_id_names_no_invoice(connected: Sandbox, tmp_path: Path) -> None:
    invoices = unposted_invoices(connected)
    assert all(i["id"] != i["billingLogId"] for i in invoices)
    billing_log_ids = {i["billingLogId"] for i in invoices}
    wrong = [i["id"] for i in invoices[:3] if i["id"] not in billing_log_ids]
    summary = export(tmp_path / "x.xml", included_invoice_ids=wrong)
    assert len(wrong) == 3 and summary["counts"].get("transactions", 0) == 0


def test_excluded_invoice_ids_take_the_billing_log_id_too(connected: Sandbox, tmp_path: Path) -> None:
    invoices = unposted_invoices(connected)
    left_out = invoices[1]["billingLogId"]
    export(tmp_path / "x.xml", excluded_invoice_ids=[left_out])
    assert transaction_ids(tmp_path / "x.xml") == {i["billingLogId"] for i in invoices} - {left_out}


@pytest.mark.parametrize("value", [0, "0"])
def test_location_id_0_exports_all_locations_without_a_location_id(
    connected: Sandbox, tmp_path: Path, value: object
) -> None:
    summary = export(tmp_path / "x.xml", location_id=value)
    (sent,) = connected.log.matching("POST", EXPORT)
    assert "locationId" not in sent.json() and summary["location_id"] is None
    every = {d.body["id"] for d in connected.store.documents if d.section == "transactions"}
    assert len({d.location_id for d in connected.store.documents}) > 1
    assert transaction_ids(tmp_path / "x.xml") == every
