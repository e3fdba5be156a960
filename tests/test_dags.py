"""The example DAGs: they import, schedule as documented, and run against the sandbox in a real
Airflow (SQLite metadata DB, dag.test) for past dates, with no logical date and with params."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.sdk import DAG
from lxml import etree

from airflow_provider_cwgl.glexport.reference_paths import REFERENCE_PATHS
from airflow_provider_cwgl.sandbox import Sandbox

DAGS = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    from airflow.utils import db

    db.initdb()


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports(dagbag: DagBag) -> None:
    assert not dagbag.import_errors
    assert {"cwgl_daily_gl_export", "cwgl_gl_export_and_post"} <= set(dagbag.dag_ids)


def test_daily_schedule_and_params(dagbag: DagBag) -> None:
    from airflow.sdk import CronTriggerTimetable

    dag = dagbag.dags["cwgl_daily_gl_export"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 0 * * *"
    assert dag.timetable.interval == timedelta(days=1)
    assert dag.catchup is False
    params = dag.params
    assert params["export_unposted_invoices"] is True
    assert params["export_unposted_expenses"] is False
    assert params["export_unposted_procurement"] is False
    assert params["thru_date"] is None and params["location_id"] is None
    schema = params.get_param("references_to_fetch").schema
    assert schema["examples"] == list(REFERENCE_PATHS)  # a multi-select in the trigger form
    assert schema["items"]["enum"] == list(REFERENCE_PATHS)
    assert dag.default_args["retries"] >= 1


def _run(
    dag: DAG, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **kwargs: Any
) -> DagRun:
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    conf = {"output_root": str(tmp_path), **kwargs.pop("run_conf", {})}
    run = dag.test(run_conf=conf, **kwargs)
    assert run.state == DagRunState.SUCCESS
    return run


def _transaction_ids(path: Path) -> set[int]:
    root = etree.parse(str(path)).getroot()
    return {int(t.findtext("id")) for t in root.findall("transactions/transaction")}


def test_two_logical_dates_give_two_files_by_thru_date(
    airflow_db: None,
    dagbag: DagBag,
    cw_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from airflow.sdk import timezone

    dag = dagbag.dags["cwgl_daily_gl_export"]
    store = cw_sandbox.store
    days = sorted({d.document_date for d in store.documents if d.section == "transactions"})
    early, late = days[len(days) // 3], days[-1]
    for day in (early, late):
        _run(
            dag,
            cw_sandbox,
            monkeypatch,
            tmp_path,
            logical_date=timezone.datetime(day.year, day.month, day.day),
        )
    for day in (early, late):
        expected = {
            d.body["id"] for d in store.documents if d.section == "transactions" and d.document_date <= day
        }
        assert _transaction_ids(tmp_path / "gl" / day.isoformat() / "glexport.xml") == expected
    bodies = [r.json() for r in cw_sandbox.log.matching("POST", "finance/accounting/export")]
    assert [b["thruDate"] for b in bodies] == [f"{early}T00:00:00Z", f"{late}T00:00:00Z"]


def test_run_without_logical_date_uses_the_trigger_day(
    airflow_db: None,
    dagbag: DagBag,
    cw_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    dag = dagbag.dags["cwgl_daily_gl_export"]
    run = _run(dag, cw_sandbox, monkeypatch, tmp_path, logical_date=None)
    assert run.logical_date is None
    day = run.run_after.date()
    assert (tmp_path / "gl" / day.isoformat() / "glexport.xml").exists()
    body = cw_sandbox.log.matching("POST", "finance/accounting/export")[-1].json()
    assert body["thruDate"] == f"{day}T00:00:00Z"


def test_params_override_the_defaults(
    airflow_db: None,
    dagbag: DagBag,
    cw_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from airflow.sdk import timezone

    dag = dagbag.dags["cwgl_daily_gl_export"]
    conf = {
        "export_unposted_invoices": False,
        "export_unposted_procurement": True,
        "location_name": "london office",
        "thru_date": "2026-02-20",
        "references_to_fetch": ["purchaseTransaction/purchaseOrder", "vendor/company"],
    }
    _run(dag, cw_sandbox, monkeypatch, tmp_path, logical_date=timezone.datetime(2026, 3, 1), run_conf=conf)
    body = cw_sandbox.log.matching("POST", "finance/accounting/export")[-1].json()
    assert body == {
        "exportInvoicesFlag": False,
        "exportExpensesFlag": False,
        "exportProductsFlag": True,
        "thruDate": "2026-02-20T00:00:00Z",
        "locationId": 2,
    }
    root = etree.parse(str(tmp_path / "gl" / "2026-03-01" / "glexport.xml")).getroot()
    purchases = root.findall("purchaseTransactions/purchaseTransaction")
    expected = [
        d
        for d in cw_sandbox.store.documents
        if d.section == "purchaseTransactions" and d.location_id == 2 and d.document_date <= date(2026, 2, 20)
    ]
    assert len(purchases) == len(expected)
    assert all(p.find("purchaseOrder/record") is not None for p in purchases)
    assert root.find("transactions") is None


def test_export_load_and_post_flow(
    airflow_db: None,
    dagbag: DagBag,
    cw_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from airflow.sdk import timezone

    dag = dagbag.dags["cwgl_gl_export_and_post"]
    _run(dag, cw_sandbox, monkeypatch, tmp_path, logical_date=timezone.datetime(2026, 3, 1))
    assert len(cw_sandbox.store.batches) == 1
    batch = next(iter(cw_sandbox.store.batches.values()))
    assert batch.identifier.startswith("cwgl-20260301-IEP-")
    # The next day's run has nothing new up to that day but the documents dated after it.
    _run(dag, cw_sandbox, monkeypatch, tmp_path, logical_date=timezone.datetime(2026, 3, 2))
    posted = {k for b in cw_sandbox.store.batches.values() for k in b.document_keys}
    assert len(posted) == len(set(posted))
    day_two = etree.parse(str(tmp_path / "posted" / "2026-03-02" / "glexport.xml")).getroot()
    first_ids = {d.body["id"] for d in cw_sandbox.store.batch_documents(batch) if d.section == "transactions"}
    assert not first_ids & {int(t.findtext("id")) for t in day_two.findall("transactions/transaction")}
