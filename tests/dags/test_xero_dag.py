"""The post DAG loading into the sandbox Xero, in a real Airflow (SQLite metadata DB, dag.test)
against the ConnectWise sandbox: a day loaded and posted, a re-run creating nothing in Xero, and a
document Xero refuses left unposted, named with Xero's message, and back in the next export."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from conftest import DAGS, airflow_kept, secret_fragments, without_adjustments

from airflow_provider_cwgl.operators.xero import load_target
from airflow_provider_cwgl.sandbox import Sandbox, generated_store
from airflow_provider_cwgl.sandbox.xero import XeroSandbox
from airflow_provider_cwgl.sandbox.xero.connectwise_books import ACCOUNT_CODES, TAX_TYPES

DAG_ID = "cwgl_gl_export_and_post"
XERO = {"xero_conn_id": "xero_books", "xero_account_codes": ACCOUNT_CODES, "xero_tax_types": TAX_TYPES}


@pytest.fixture
def dag() -> Any:
    return DagBag(dag_folder=str(DAGS)).dags[DAG_ID]


@pytest.fixture
def connectwise(make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = make_sandbox(without_adjustments(generated_store(transactions=40)))
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    return sandbox


@pytest.fixture
def xero(xero_books: XeroSandbox, monkeypatch: pytest.MonkeyPatch) -> XeroSandbox:
    monkeypatch.setenv("AIRFLOW_CONN_XERO_BOOKS", json.dumps(xero_books.connection()))
    return xero_books


def run_day(dag: Any, day: date, tmp_path: Path, state: str = "success", **conf: Any) -> DagRun:
    from airflow.sdk import timezone

    conf = {"output_root": str(tmp_path), "require_approval": False, **conf}
    run = dag.test(run_conf=conf, logical_date=timezone.datetime(day.year, day.month, day.day))
    assert run.state == state, {ti.task_id: ti.state for ti in run.get_task_instances()}
    return run


def posting_days(sandbox: Sandbox) -> list[date]:
    days = {d.document_date for d in sandbox.store.documents if d.section == "expenseBills"}
    days &= {d.document_date for d in sandbox.store.documents if d.section == "transactions"}
    return sorted(d for d in days if d <= sandbox.store.today)


def xero_documents(xero: XeroSandbox) -> list[tuple[str, str]]:
    store = xero.store
    return sorted(
        [(i["Type"], i["InvoiceID"]) for i in store.invoices]
        + [(c["Type"], c["CreditNoteID"]) for c in store.credit_notes]
        + [("MANUALJOURNAL", j["ManualJournalID"]) for j in store.manual_journals]
    )


def test_a_day_loads_into_xero_and_a_rerun_creates_nothing(
    airflow_db: None, dag: Any, connectwise: Sandbox, xero: XeroSandbox, xero_referee: Any, tmp_path: Path
) -> None:
    day = posting_days(connectwise)[-2]
    run = run_day(dag, day, tmp_path, **XERO)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["load_into_accounting_package"] == states["check_refused"] == "success"
    ti = run.get_task_instance("mark_exported_in_connectwise")
    summary = ti.xcom_pull(task_ids="export_gl_batch")
    loaded = ti.xcom_pull(task_ids="load_into_accounting_package")
    posted = ti.xcom_pull(task_ids="mark_exported_in_connectwise")
    assert ti.xcom_pull(task_ids="load_into_accounting_package", key="refused") == []
    assert len(loaded) == summary["document_count"] == posted["posted_documents"]
    assert posted["not_posted_documents"] == 0 and posted["reconciled"] is True
    books = xero_documents(xero)
    assert sorted(d["xero_id"] for d in loaded) == sorted(i for _, i in books)
    xero_referee.check_sandbox(xero)
    kept = airflow_kept(run)  # XCom, rendered fields, logs: no client secret, no token
    assert secret_fragments(kept, [xero.credentials["client_secret"], *xero.tokens], 8) == []
    # The same day again (a new run for a posted day): the batch is re-exported, Xero finds it all.
    xero.log.clear()
    again = run_day(dag, day, tmp_path, **XERO)
    assert xero_documents(xero) == books
    assert [r.path for r in xero.requests if r.method == "PUT"] == []
    reloaded = again.get_task_instance("load_into_accounting_package").xcom_pull(
        task_ids="load_into_accounting_package"
    )
    assert {d["xero_id"] for d in reloaded} == {d["xero_id"] for d in loaded}
    assert not any(d["created"] for d in reloaded)


def test_a_document_xero_refuses_stays_unposted_is_named_and_comes_back(
    airflow_db: None,
    dag: Any,
    connectwise: Sandbox,
    xero: XeroSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The Xero settings from Variables and the worker's environment this time, not params.
    monkeypatch.setenv("CWGL_XERO_CONN_ID", "xero_books")
    unmapped = {k: v for k, v in ACCOUNT_CODES.items() if k != "6200"}  # the expense bills' account
    monkeypatch.setenv("AIRFLOW_VAR_CWGL_XERO_ACCOUNT_CODES", json.dumps(unmapped))
    monkeypatch.setenv("AIRFLOW_VAR_CWGL_XERO_TAX_TYPES", json.dumps(TAX_TYPES))
    first, second = posting_days(connectwise)[-2:]
    run = run_day(dag, first, tmp_path, state="failed")
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["load_into_accounting_package"] == states["mark_exported_in_connectwise"] == "success"
    assert states["check_refused"] == "failed"  # the run fails, after the rest is posted
    ti = run.get_task_instance("mark_exported_in_connectwise")
    refused = ti.xcom_pull(task_ids="load_into_accounting_package", key="refused")
    bills = {str(r["id"]) for r in refused}
    assert bills and {r["collection"] for r in refused} == {"expenseBills"}
    message = "Account code '6200' is not a valid code for this document."
    assert all(message in r["messages"] for r in refused)
    posted = ti.xcom_pull(task_ids="mark_exported_in_connectwise")
    assert posted["not_posted_documents"] == len(bills)
    assert {str(d["id"]) for d in posted["not_posted"]} == bills
    assert message in airflow_kept(run)  # in XCom
    # The failed task's error names each document with Xero's message.
    assert f"expenseBills {sorted(bills)[0]}: {message}; Xero refused it" in caplog.text
    unposted = {
        str(d.body["id"]) for d in connectwise.store.unposted_documents() if d.section == "expenseBills"
    }
    assert bills <= unposted
    # The mapping fixed, the next day's export carries them again, and they load.
    monkeypatch.setenv("AIRFLOW_VAR_CWGL_XERO_ACCOUNT_CODES", json.dumps(ACCOUNT_CODES))
    following = run_day(dag, second, tmp_path)
    loaded = following.get_task_instance("load_into_accounting_package").xcom_pull(
        task_ids="load_into_accounting_package"
    )
    assert bills <= {str(d["id"]) for d in loaded if d["collection"] == "expenseBills"}
    after = {str(d.body["id"]) for d in connectwise.store.unposted_documents() if d.section == "expenseBills"}
    assert not bills & after


@pytest.mark.xero_prism
def test_a_whole_run_through_prism_shows_no_violation(
    airflow_db: None,
    dag: Any,
    connectwise: Sandbox,
    xero_books: XeroSandbox,
    xero_prism: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = xero_prism(xero_books)  # Stoplight Prism in front of the sandbox Xero
    monkeypatch.setenv("AIRFLOW_CONN_XERO_BOOKS", json.dumps(xero_books.connection(host=proxy.url)))
    run = run_day(dag, posting_days(connectwise)[-1], tmp_path, **XERO)
    loaded = run.get_task_instance("load_into_accounting_package").xcom_pull(
        task_ids="load_into_accounting_package"
    )
    assert loaded and len(xero_documents(xero_books)) == len(loaded)
    assert proxy.violations() == []


def test_the_review_says_what_will_be_loaded_where(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CWGL_XERO_CONN_ID", raising=False)
    assert load_target({}).startswith("Load: the placeholder step")
    assert "`xero_books`" in load_target({"xero_conn_id": "xero_books"})
    monkeypatch.setenv("CWGL_XERO_CONN_ID", "from_env")
    text = load_target({"xero_invoice_status": "AUTHORISED"})
    assert "`from_env`" in text and "as AUTHORISED" in text and "journals as POSTED" in text


def test_no_day_after_today(connectwise: Sandbox) -> None:
    """The helper's days are real posting days: a check on the data the tests above rely on."""
    days = posting_days(connectwise)
    assert len(days) >= 2 and days[-1] <= connectwise.store.today and days[0] > days[-1] - timedelta(days=60)
