"""The rest of ExportAccountingBatchRequest and skip_when_empty, end to end against the sandbox."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DAGS, fails_task
from lxml import etree

from airflow_provider_cwgl.errors import ExportSettingError
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox

EXPORT = "finance/accounting/export"


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def export(output: Path, **settings: Any) -> dict[str, Any]:
    return GLBatchExportOperator(task_id="export", output_file=str(output), **settings).execute({})


def ids(path: Path, section: str) -> set[str]:
    return {item.findtext("id") for item in etree.parse(str(path)).getroot().findall(f"{section}/*")}


# [START request_options]
def test_the_docs_example_is_sent_exactly_under_the_api_names(connected: Sandbox, tmp_path: Path) -> None:
    export(
        tmp_path / "x.xml",
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="2026-03-01",
        summarize_invoices="Condensed",
        excluded_invoice_ids=[5, 6],
        included_expense_ids=[7],
        excluded_product_ids=["PO-1"],
        gl_interface_identifier="GL-IF-1",
    )
    [request] = connected.log.matching("POST", EXPORT)
    assert request.json() == {
        "exportInvoicesFlag": True,
        "exportExpensesFlag": True,
        "exportProductsFlag": True,
        "thruDate": "2026-03-01T00:00:00Z",
        "summarizeInvoices": "Condensed",
        "glInterfaceIdentifier": "GL-IF-1",
        "excludedInvoiceIds": [5, 6],
        "includedExpenseIds": [7],
        "excludedProductIds": ["PO-1"],
    }
    # [END request_options]


def test_rendered_strings_reach_the_api_as_typed_lists(connected: Sandbox, tmp_path: Path) -> None:
    export(
        tmp_path / "x.xml",
        export_unposted_procurement=True,
        included_invoice_ids="[10001, 10002]",  # as Jinja renders a list param
        excluded_product_ids="['3001', 3002]",
        excluded_expense_ids="101090, 101091",
        summarize_invoices="detailed",
        gl_interface_identifier="None",  # an empty param rendered
    )
    body = connected.log.matching("POST", EXPORT)[-1].json()
    assert body["includedInvoiceIds"] == [10001, 10002]
    assert body["excludedProductIds"] == ["3001", "3002"]
    assert body["excludedExpenseIds"] == [101090, 101091]  # sent as given, whatever the flags
    assert body["summarizeInvoices"] == "Detailed" and "glInterfaceIdentifier" not in body


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"summarize_invoices": "Sometimes"},
            r"summarize_invoices: expected one of 'Default', 'Condensed', 'Detailed'",
        ),
        (
            {"included_invoice_ids": [1, "x"]},
            r"included_invoice_ids: expected a list of positive integer ids",
        ),
        ({"excluded_expense_ids": [0]}, r"excluded_expense_ids: expected a list of positive integer ids"),
        ({"included_product_ids": [None]}, r"included_product_ids: expected a list of product ids"),
        (
            {
                "included_invoice_ids": "[1, 2",
            },
            r"included_invoice_ids: cannot read",
        ),
        (
            {"included_product_ids": ["A", "B"], "excluded_product_ids": "B"},
            r"included_product_ids/excluded_product_ids: 'B' both included and excluded",
        ),
        (
            {"included_invoice_ids": [7], "excluded_invoice_ids": ["7"]},
            r"included_invoice_ids/excluded_invoice_ids: 7 both included and excluded",
        ),
        ({"gl_interface_identifier": 12}, r"gl_interface_identifier: expected the GL interface identifier"),
        ({"skip_when_empty": "sometimes"}, r"skip_when_empty: expected a boolean"),
    ],
)
def test_bad_values_fail_before_any_request(
    connected: Sandbox, tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    with fails_task(ExportSettingError, match=message):
        export(tmp_path / "x.xml", **settings)
    assert connected.log.matching("POST", EXPORT) == []
    assert not (tmp_path / "x.xml").exists()


def test_sandbox_applies_included_and_excluded_ids(connected: Sandbox, tmp_path: Path) -> None:
    store = connected.store
    invoices = sorted(d.export_id for d in store.documents if d.section == "transactions")
    purchases = sorted(d.export_id for d in store.documents if d.section == "purchaseTransactions")
    expenses = sorted(d.export_id for d in store.documents if d.section == "expenses")
    assert all(isinstance(p, str) for p in purchases)  # procurement ids are strings, as in the API
    out = tmp_path / "x.xml"
    export(
        out,
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="2030-01-01",
        included_invoice_ids=invoices[:2],
        excluded_product_ids=purchases[:1],
        included_expense_ids=expenses[-1:],
    )
    assert ids(out, "transactions") == {str(i) for i in invoices[:2]}
    expected_purchases = {
        str(d.body["id"])
        for d in store.documents
        if d.section == "purchaseTransactions" and d.export_id not in purchases[:1]
    }
    assert expected_purchases and ids(out, "purchaseTransactions") == expected_purchases
    assert ids(out, "expenses") == {str(expenses[-1])}
    # Kinds without a list are not narrowed.
    assert ids(out, "inventoryTransfers") == {
        str(d.body["id"]) for d in store.documents if d.section == "inventoryTransfers"
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"summarizeInvoices": "Sometimes"}, "summarizeInvoices"),
        ({"summarizeInvoices": "condensed"}, "summarizeInvoices"),  # ConnectWise's enum is exact
        ({"includedInvoiceIds": ["5"]}, "includedInvoiceIds"),
        ({"excludedProductIds": [5]}, "excludedProductIds"),
        ({"includedExpenseIds": 5}, "includedExpenseIds"),
    ],
)
def test_sandbox_answers_400_like_connectwise(cw_sandbox: Sandbox, body: dict[str, Any], field: str) -> None:
    creds = cw_sandbox.credentials
    response = httpx.post(
        f"{cw_sandbox.api_url}{EXPORT}",
        json={"exportInvoicesFlag": True, **body},
        auth=(f"{creds['company_id']}+{creds['public_key']}", creds["private_key"]),
        headers={"clientId": creds["client_id"]},
    )
    assert response.status_code == 400
    [problem] = response.json()["errors"]
    assert problem["field"] == field and problem["resource"] == "batchExportParameters"


# -- skip_when_empty ------------------------------------------------------------------------------


def test_empty_export_is_skipped_and_keeps_the_previous_file(connected: Sandbox, tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    out = tmp_path / "glexport.xml"
    out.write_bytes(b"previous export")
    with pytest.raises(AirflowSkipException, match="no documents"):
        export(out, thru_date="2000-01-01", skip_when_empty="True")
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["glexport.xml"]  # no temporary file left
    assert len(connected.log.matching("POST", EXPORT)) == 1


def test_empty_export_without_the_setting_writes_an_empty_file(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path / "glexport.xml", thru_date="2000-01-01")
    root = etree.parse(str(tmp_path / "glexport.xml")).getroot()
    assert root.tag == "GLExport" and len(root) == 0 and summary["counts"] == {}


def test_non_empty_export_is_written_with_the_setting(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path / "glexport.xml", thru_date="2030-01-01", skip_when_empty=True)
    assert summary["counts"]["transactions"] > 0 and (tmp_path / "glexport.xml").exists()


def test_daily_dag_run_shows_the_empty_day_as_skipped(
    airflow_db: None, connected: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone
    from airflow.utils.state import TaskInstanceState

    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_daily_gl_export"]
    first = min(d.document_date for d in connected.store.documents)
    assert first > date(2026, 1, 2)  # so the DAG's first day has nothing to export
    run = dag.test(
        logical_date=timezone.datetime(2026, 1, 2),
        run_conf={"output_root": str(tmp_path), "skip_when_empty": True},
    )
    [ti] = run.get_task_instances()
    assert ti.state == TaskInstanceState.SKIPPED
    assert not (tmp_path / "gl" / "2026-01-02").exists() or not any(
        (tmp_path / "gl" / "2026-01-02").iterdir()
    )


def test_daily_dag_params_reach_connectwise_typed(
    airflow_db: None, connected: Sandbox, tmp_path: Path
) -> None:
    """Trigger-form values go through Jinja (rendered as text) and arrive with the API's types."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone
    from airflow.utils.state import DagRunState

    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_daily_gl_export"]
    conf = {
        "output_root": str(tmp_path),
        "export_unposted_expenses": True,
        "summarize_invoices": "Condensed",
        "excluded_invoice_ids": [5, 6],
        "included_expense_ids": [7],
        "excluded_product_ids": ["PO-1", "1299"],
        "gl_interface_identifier": "GL-IF-1",
    }
    run = dag.test(logical_date=timezone.datetime(2026, 3, 1), run_conf=conf)
    assert run.state == DagRunState.SUCCESS
    body = connected.log.matching("POST", EXPORT)[-1].json()
    assert body == {
        "exportInvoicesFlag": True,
        "exportExpensesFlag": True,
        "exportProductsFlag": False,
        "thruDate": "2026-03-01T00:00:00Z",
        "summarizeInvoices": "Condensed",
        "glInterfaceIdentifier": "GL-IF-1",
        "excludedInvoiceIds": [5, 6],
        "includedExpenseIds": [7],
        "excludedProductIds": ["PO-1", "1299"],
    }


def test_daily_dag_trigger_form_has_the_new_settings_typed() -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_daily_gl_export"]
    params = dag.params
    assert params.get_param("summarize_invoices").schema["enum"] == [None, "Default", "Condensed", "Detailed"]
    for name, item in [
        ("included_invoice_ids", "integer"),
        ("excluded_invoice_ids", "integer"),
        ("included_expense_ids", "integer"),
        ("excluded_expense_ids", "integer"),
        ("included_product_ids", "string"),
        ("excluded_product_ids", "string"),
    ]:
        schema = params.get_param(name).schema
        assert schema["type"] == ["array", "null"] and schema["items"] == {"type": item}, name
    assert params.get_param("gl_interface_identifier").schema["type"] == ["null", "string"]
    assert params.get_param("skip_when_empty").schema["type"] == "boolean"
    assert params["skip_when_empty"] is False
    assert "export_payments" not in " ".join(params)
