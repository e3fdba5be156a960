"""The example DAGs: they import, schedule as documented, and run against the sandbox in a real
Airflow (SQLite metadata DB, dag.test) for past dates, with no logical date and with params."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.models.dagrun import DagRun
from airflow.sdk import timezone
from conftest import DAGS, without_adjustments
from lxml import etree

from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS
from airflow_provider_cwgl.glexport.request import EXPORT_SETTINGS
from airflow_provider_cwgl.sandbox import Sandbox, generated_store

UNATTENDED = {"require_approval": False}  # dag.test cannot answer an approval


@pytest.fixture
def dagbag() -> DagBag:
    # Per test: dag.test(run_conf=...) leaves the conf in the DAG's params.
    return DagBag(dag_folder=str(DAGS))


def test_every_dag_file_imports(dagbag: DagBag) -> None:
    assert not dagbag.import_errors
    assert {"cwgl_daily_gl_export", "cwgl_gl_export_and_post"} <= set(dagbag.dag_ids)


def test_the_load_dag_is_scheduled_on_the_alias_the_daily_export_writes(dagbag: DagBag) -> None:
    [alias] = dagbag.dags["cwgl_daily_gl_export"].get_task("export_gl_batch").outlets
    assert alias.name == "cwgl_daily_gl_export"  # the name the docs give
    assert dagbag.dags["cwgl_load_gl_export"].timetable.asset_condition == alias


def test_daily_schedule_and_params(dagbag: DagBag) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["cwgl_daily_gl_export"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 0 * * *"
    assert dag.catchup is False
    params = dag.params
    assert params["export_unposted_invoices"] is True
    assert params["export_unposted_expenses"] is False
    assert params["export_unposted_procurement"] is False
    assert params["thru_date"] is None and params["location_id"] is None
    # A field per export setting that has one (all but the batch settings), and the output's two.
    offered = {s.name for s in EXPORT_SETTINGS if s.form is not None}
    assert offered | {"output_root", "output_conn_id"} == set(params) and len(params) == 18
    schema = params.get_param("references_to_fetch").schema
    assert schema["examples"] == list(REFERENCE_PATHS)  # a multi-select in the trigger form
    assert schema["items"]["enum"] == list(REFERENCE_PATHS)
    assert dag.default_args["retries"] >= 1


@pytest.mark.parametrize(
    "dag_id", ["cwgl_daily_gl_export", "cwgl_gl_export_and_post", "cwgl_gl_export_by_location"]
)
def test_backfill_creates_the_business_days(dagbag: DagBag, dag_id: str) -> None:
    """What `airflow backfill create --from-date 2026-03-01 --to-date 2026-03-03` plans (its own
    function, on the serialized DAG), and when the scheduled run for a day fires."""
    from airflow.models.backfill import _get_info_list
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id]))
    infos = _get_info_list(
        from_date=timezone.datetime(2026, 3, 1),
        to_date=timezone.datetime(2026, 3, 3),
        reverse=False,
        dag=dag,
    )
    assert [i.logical_date.date().isoformat() for i in infos] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    for info in infos:  # the run after midnight exports the day just ended
        assert info.data_interval.end - info.data_interval.start == timedelta(days=1)
        assert info.run_after == info.data_interval.end


def test_post_dag_posts_days_in_order(dagbag: DagBag) -> None:
    dag = dagbag.dags["cwgl_gl_export_and_post"]
    export = dag.get_task("export_gl_batch")
    assert dag.max_active_runs == 1
    assert export.wait_for_downstream and export.depends_on_past
    # wait_for_downstream looks at the tasks directly downstream: the batch must be one of them.
    assert "mark_exported_in_connectwise" in export.downstream_task_ids
    assert export.batch_identifier == "auto"


EXPORT = "finance/accounting/export"


@pytest.fixture
def run_dag(
    airflow_db: None, dagbag: DagBag, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., DagRun]:
    """``run_dag(dag_id, sandbox, day, state="success", **conf)``: one ``dag.test`` run against
    ``sandbox`` with logical date ``day`` (None: none), output under ``tmp_path``; it ends in ``state``."""

    def run(dag_id: str, sandbox: Sandbox, day: date | None, state: str = "success", **conf: Any) -> DagRun:
        monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
        logical_date = None if day is None else timezone.datetime(day.year, day.month, day.day)
        dag_run = dagbag.dags[dag_id].test(
            run_conf={"output_root": str(tmp_path), **conf}, logical_date=logical_date
        )
        assert dag_run.state == state
        return dag_run

    return run


@pytest.fixture
def posting_sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox(without_adjustments(generated_store(transactions=40)))


def exports(sandbox: Sandbox) -> list[dict[str, Any]]:
    """The bodies of the export requests the sandbox received, in order."""
    return [r.json() for r in sandbox.log.matching("POST", EXPORT)]


def invoice_days(sandbox: Sandbox) -> list[date]:
    return sorted({d.document_date for d in sandbox.store.documents if d.section == "transactions"})


def assert_the_days_file_holds_its_invoices(root: Path, sandbox: Sandbox, day: date) -> None:
    """``root/gl/{day}/glexport.xml`` holds every invoice dated up to ``day``, and no other."""
    xml = etree.parse(str(root / "gl" / day.isoformat() / "glexport.xml")).getroot()
    expected = {
        d.body["id"]
        for d in sandbox.store.documents
        if d.section == "transactions" and d.document_date <= day
    }
    assert {int(t.findtext("id")) for t in xml.findall("transactions/transaction")} == expected


@pytest.mark.parametrize(
    "given_by", ["logical date", "thru date, no logical date", "thru date, one logical date for both"]
)
def test_two_days_give_two_files_named_by_their_thru_date(
    run_dag: Callable[..., DagRun], cw_sandbox: Sandbox, tmp_path: Path, given_by: str
) -> None:
    """Two runs for two days, the day given by the run's logical date or by the thru date param
    (with no logical date, or with one logical date for both, as the Trigger form keeps it): two
    files, each named by its own thru date and holding that day's records; the asset event says the
    same."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    days = invoice_days(cw_sandbox)
    first, second = days[len(days) // 3], days[len(days) // 2]
    for day in (first, second):
        if given_by == "logical date":
            run_dag("cwgl_daily_gl_export", cw_sandbox, day)
        else:
            logical = None if given_by.endswith("no logical date") else date(2026, 3, 9)
            run = run_dag("cwgl_daily_gl_export", cw_sandbox, logical, thru_date=day.isoformat())
            assert (run.logical_date is None) is (logical is None)
    assert [b["thruDate"] for b in exports(cw_sandbox)] == [f"{first}T00:00:00Z", f"{second}T00:00:00Z"]
    assert not (tmp_path / "gl" / "2026-03-09").exists()
    for day in (first, second):
        assert_the_days_file_holds_its_invoices(tmp_path, cw_sandbox, day)
    with create_session() as session:
        events = session.query(AssetEvent).order_by(AssetEvent.id).all()
        by_uri = {e.asset.uri: e.extra for e in events}
    for day in (first, second):
        [extra] = [x for uri, x in by_uri.items() if uri.endswith(f"{tmp_path}/gl/{day}/glexport.xml")]
        assert extra["business_day"] == day.isoformat()


def test_run_without_logical_date_uses_the_trigger_day(
    run_dag: Callable[..., DagRun], cw_sandbox: Sandbox, tmp_path: Path
) -> None:
    run = run_dag("cwgl_daily_gl_export", cw_sandbox, None)
    assert run.logical_date is None
    day = run.run_after.date()
    assert (tmp_path / "gl" / day.isoformat() / "glexport.xml").exists()
    assert exports(cw_sandbox)[-1]["thruDate"] == f"{day}T00:00:00Z"


def test_params_override_the_defaults(
    run_dag: Callable[..., DagRun], cw_sandbox: Sandbox, tmp_path: Path
) -> None:
    conf = {
        "export_unposted_invoices": False,
        "export_unposted_procurement": True,
        "location_name": "london office",
        "thru_date": "2026-02-20",
        "references_to_fetch": ["purchaseTransaction/purchaseOrder", "vendor/company"],
    }
    run_dag("cwgl_daily_gl_export", cw_sandbox, date(2026, 3, 1), **conf)
    assert exports(cw_sandbox)[-1] == {
        "exportInvoicesFlag": False,
        "exportExpensesFlag": False,
        "exportProductsFlag": True,
        "thruDate": "2026-02-20T00:00:00Z",
        "locationId": 2,
    }
    # Named by the thru date the request used, not by the logical date.
    assert not (tmp_path / "gl" / "2026-03-01").exists()
    root = etree.parse(str(tmp_path / "gl" / "2026-02-20" / "glexport.xml")).getroot()
    purchases = root.findall("purchaseTransactions/purchaseTransaction")
    expected = [
        d
        for d in cw_sandbox.store.documents
        if d.section == "purchaseTransactions" and d.location_id == 2 and d.document_date <= date(2026, 2, 20)
    ]
    assert len(purchases) == len(expected)
    assert all(p.find("purchaseOrder/record") is not None for p in purchases)
    assert root.find("transactions") is None


def test_daily_params_reach_the_operator_as_python_values(
    run_dag: Callable[..., DagRun], cw_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Rendered natively: the operator gets the params' values (the rendered-fields view shows
    them), and text that reads as a Python literal ("12", "None") stays text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    conf = {
        "location_id": 2,
        "location_name": "None",
        "gl_interface_identifier": "12",
        "excluded_product_ids": ["1299"],
        "references_to_fetch": ["vendor/company"],
    }
    run = run_dag("cwgl_daily_gl_export", cw_sandbox, date(2026, 3, 1), **conf)
    rendered = RenderedTaskInstanceFields.get_templated_fields(run.get_task_instance("export_gl_batch"))
    assert rendered is not None
    assert rendered["location_id"] == 2 and rendered["location_name"] == "None"
    assert rendered["export_unposted_invoices"] is True and rendered["skip_when_empty"] is False
    assert rendered["gl_interface_identifier"] == "12" and rendered["excluded_product_ids"] == ["1299"]
    assert rendered["references_to_fetch"] == ["vendor/company"]
    assert rendered["summarize_invoices"] is None and rendered["included_invoice_ids"] == []
    assert rendered["thru_date"] == "2026-03-01"
    assert rendered["output_file"] == f"{tmp_path}/gl/2026-03-01/glexport.xml"
    body = exports(cw_sandbox)[-1]
    assert (body["locationId"], body["glInterfaceIdentifier"], body["excludedProductIds"]) == (
        2,
        "12",
        ["1299"],
    )


def test_cli_dags_test_with_a_thru_date_names_the_file_by_it(
    airflow_db: None, cw_sandbox: Sandbox, tmp_path: Path
) -> None:
    """What a new user types: ``airflow dags test DAG -c '{"thru_date": ...}'`` with no logical date
    on the command line, so the CLI gives the run the moment it was asked for."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "AIRFLOW_CONN_CONNECTWISE_DEFAULT": json.dumps(cw_sandbox.connection()),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    conf = json.dumps({"thru_date": "2026-02-20", "output_root": str(tmp_path)})
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "cwgl_daily_gl_export", "-c", conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [p.name for p in (tmp_path / "gl").iterdir()] == ["2026-02-20"]
    assert (tmp_path / "gl" / "2026-02-20" / "glexport.xml").stat().st_size > 0
    assert exports(cw_sandbox)[-1]["thruDate"] == "2026-02-20T00:00:00Z"


def test_post_dag_names_file_and_batch_by_the_thru_date_param(
    run_dag: Callable[..., DagRun], posting_sandbox: Sandbox, tmp_path: Path
) -> None:
    day = _posting_days(posting_sandbox, 1)[0]
    run_dag(
        "cwgl_gl_export_and_post", posting_sandbox, date(2026, 3, 9), thru_date=day.isoformat(), **UNATTENDED
    )
    assert exports(posting_sandbox)[-1]["thruDate"] == f"{day}T00:00:00Z"
    assert [p.name for p in (tmp_path / "posted").iterdir()] == [day.isoformat()]
    assert sorted(_batches_by_identifier(posting_sandbox)) == [f"cwgl-{day:%Y%m%d}-IEP"]


def _posting_days(sandbox: Sandbox, count: int = 3) -> list[date]:
    """The last ``count`` days up to the data's anchor on which invoices were dated."""
    days = sorted(
        {d.document_date for d in sandbox.store.documents if d.section == "transactions"}
        - {d for d in (sandbox.store.today + timedelta(days=n) for n in range(1, 5))}
    )
    return days[-count:]


def _batches_by_identifier(sandbox: Sandbox) -> dict[str, Any]:
    return {b.identifier: b for b in sandbox.store.batches.values()}


def test_post_flow_one_batch_per_day_and_reruns_change_nothing(
    run_dag: Callable[..., DagRun], posting_sandbox: Sandbox, tmp_path: Path
) -> None:
    cw_sandbox = posting_sandbox
    days = _posting_days(cw_sandbox)
    for day in days:
        run_dag("cwgl_gl_export_and_post", cw_sandbox, day, **UNATTENDED)
    batches = _batches_by_identifier(cw_sandbox)
    assert sorted(batches) == [f"cwgl-{d:%Y%m%d}-IEP" for d in days]
    store = cw_sandbox.store
    seen: set[str] = set()
    for n, day in enumerate(days):  # disjoint, each holding what was unposted up to its day
        batch = batches[f"cwgl-{day:%Y%m%d}-IEP"]
        docs = store.batch_documents(batch)
        assert docs and not seen & set(batch.document_keys)
        seen |= set(batch.document_keys)
        assert all(d.document_date <= day for d in docs)
        if n:
            assert all(d.document_date > days[n - 1] for d in docs)
    # Re-running a posted day (a new run for the same date) re-exports its batch: same file.
    middle = days[1]
    path = tmp_path / "posted" / middle.isoformat() / "glexport.xml"
    first = hashlib.sha256(path.read_bytes()).hexdigest()
    posts = cw_sandbox.log.count("POST", "finance/accounting/batches")
    batch_id = batches[f"cwgl-{middle:%Y%m%d}-IEP"].id
    run = run_dag("cwgl_gl_export_and_post", cw_sandbox, middle, **UNATTENDED)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == first
    assert len(store.batches) == len(days)
    assert cw_sandbox.log.count("POST", "finance/accounting/batches") == posts
    assert cw_sandbox.log.count("POST", f"finance/accounting/batches/{batch_id}/export") >= 1
    ti = run.get_task_instance("mark_exported_in_connectwise")
    assert ti.xcom_pull(task_ids="mark_exported_in_connectwise")["created"] is False


@pytest.mark.parametrize(
    ("conf", "setting"),
    [
        ({"export_unposted_invoices": False}, "export_unposted_invoices"),
        ({"location_id": 999}, "location_id"),
    ],
)
def test_bad_setting_fails_after_one_try(
    run_dag: Callable[..., DagRun], cw_sandbox: Sandbox, tmp_path: Path, conf: dict, setting: str
) -> None:
    run = run_dag("cwgl_daily_gl_export", cw_sandbox, date(2026, 3, 1), state="failed", **conf)
    ti = run.get_task_instance("export_gl_batch")
    assert (ti.state, ti.try_number) == ("failed", 1)  # not up_for_retry, despite retries=2
    assert cw_sandbox.log.count("POST", EXPORT) == 0
    assert not (tmp_path / "gl" / "2026-03-01" / "glexport.xml").exists()


# -- the approval flow --------------------------------------------------------------------------


def test_post_dag_asks_for_approval_before_loading(dagbag: DagBag) -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    dag = dagbag.dags["cwgl_gl_export_and_post"]
    approve = dag.get_task("approve_gl_export")
    assert isinstance(approve, ApprovalOperator)
    assert approve.defaults == [ApprovalOperator.REJECT]  # a timeout rejects
    assert approve.ignore_downstream_trigger_rules is True
    assert "load_into_accounting_package" in approve.downstream_task_ids
    assert dag.get_task("load_into_accounting_package").downstream_task_ids == {
        "mark_exported_in_connectwise"
    }
    assert dag.params["require_approval"] is True
    assert dag.params["approvers"] == [] and dag.params["approval_timeout_minutes"] > 0
    assert dag.get_task("export_gl_batch").skip_when_empty is True


def _states(run: DagRun) -> dict[str, str | None]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_unattended_run_loads_posts_and_reconciles(
    run_dag: Callable[..., DagRun], posting_sandbox: Sandbox
) -> None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    sandbox = posting_sandbox
    run = run_dag("cwgl_gl_export_and_post", sandbox, _posting_days(sandbox)[0], **UNATTENDED)
    assert _states(run) == {
        "export_gl_batch": "success",
        "approval_gate": "success",
        "approve_gl_export": "skipped",
        "load_into_accounting_package": "success",
        "mark_exported_in_connectwise": "success",
        "check_refused": "success",  # the placeholder refuses nothing
    }
    ti = run.get_task_instance("mark_exported_in_connectwise")
    result = ti.xcom_pull(task_ids="mark_exported_in_connectwise")
    summary = ti.xcom_pull(task_ids="export_gl_batch")
    assert result["reconciled"] is True and result["sha256"] == summary["sha256"]
    assert result["posted_documents"] == summary["document_count"] and result["not_posted_documents"] == 0
    [batch] = sandbox.store.batches.values()
    assert result["batch_id"] == batch.id and result["batch_identifier"] == batch.identifier
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetModel.uri.like(f"%/finance/accounting/batches/{batch.id}"))
            .filter(AssetEvent.source_run_id == run.run_id)
            .all()
        )
        assert len(events) == 1
        assert (
            events[0].extra["sha256"] == summary["sha256"] and events[0].extra["counts"] == result["counts"]
        )


def test_an_empty_day_skips_approval_load_and_post(
    run_dag: Callable[..., DagRun], cw_sandbox: Sandbox
) -> None:
    # With approval required: an empty day must not wait for anyone.
    run = run_dag("cwgl_gl_export_and_post", cw_sandbox, date(2026, 1, 2))
    assert set(_states(run).values()) == {"skipped"}
    assert cw_sandbox.log.count("POST", "finance/accounting/batches") == 0
