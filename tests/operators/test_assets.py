"""Asset events: a run of the daily export DAG (dag.test, real SQLite metadata DB, sandbox) leaves an
asset event for the file it wrote, with the summary in its extra, and queues the consumer DAG."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from conftest import DAGS

from airflow_provider_cwgl.sandbox import Sandbox

CONSUMER = "cwgl_load_gl_export"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def _sync_and_unpause_consumer() -> None:
    """Write the DAG folder to the metadata DB (as the dag processor does) and unpause the
    consumer: a paused DAG is never queued, and new DAGs start paused."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id == CONSUMER).update({"is_paused": False})


def _events_for(uri: str) -> list[Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .filter(AssetModel.uri == uri)
            .all()
        )
        return [
            SimpleNamespace(asset_id=r.asset_id, extra=dict(r.extra or {}), dag_id=r.source_dag_id)
            for r in rows
        ]


def test_export_run_leaves_an_asset_event_and_queues_the_consumer(
    airflow_db: None, dagbag: DagBag, cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    _sync_and_unpause_consumer()
    dag = dagbag.dags["cwgl_daily_gl_export"]
    run = dag.test(
        logical_date=timezone.datetime(2026, 3, 1),
        run_conf={"output_root": str(tmp_path), "location_id": 2},
    )
    assert run.state == DagRunState.SUCCESS
    path = tmp_path / "gl" / "2026-03-01" / "glexport.xml"
    data = path.read_bytes()
    uri = path.as_uri()

    [event] = _events_for(uri)
    assert event.dag_id == "cwgl_daily_gl_export"
    extra = event.extra
    assert extra["sha256"] == hashlib.sha256(data).hexdigest()
    assert extra["bytes"] == len(data)
    assert extra["business_day"] == "2026-03-01"
    assert extra["thru_date"] == "2026-03-01T00:00:00Z"
    assert extra["location_id"] == 2
    docs = [
        d
        for d in cw_sandbox.store.documents
        if d.location_id == 2 and d.document_date.isoformat() <= "2026-03-01"
    ]
    assert extra["counts"]["transactions"] == sum(1 for d in docs if d.section == "transactions")
    assert set(extra["totals"]) <= set(extra["counts"])
    assert "gl_entry_ids" not in extra  # the long id list stays in XCom

    with create_session() as session:
        queued = session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == CONSUMER).all()
        assert event.asset_id in {q.asset_id for q in queued}
        # What the scheduler asks next: the alias resolves to the new file's asset, so the
        # consumer's condition is met and a run is created for it.
        needing, _ = DagModel.dags_needing_dagruns(session)
        consumer = [d for d in needing if d.dag_id == CONSUMER]
        assert consumer
        # The scheduler's own step: the consumer's run is created, consuming the event and its extra.
        SchedulerJobRunner(job=Job())._create_dag_runs_asset_triggered(dag_models=consumer, session=session)
        session.flush()
        [consumer_run] = (
            session.query(DagRun)
            .filter(DagRun.dag_id == CONSUMER, DagRun.run_type == DagRunType.ASSET_TRIGGERED)
            .all()
        )
        consumed = [e for e in consumer_run.consumed_asset_events if e.asset_id == event.asset_id]
        assert [e.extra["sha256"] for e in consumed] == [extra["sha256"]]

    # The consumer's task, given the event as the scheduler would, checks the file and loads it.
    load = dagbag.dags[CONSUMER].task_dict["load_into_accounting_package"].python_callable
    alias = dagbag.dags[CONSUMER].timetable.asset_condition  # the alias it is scheduled on
    announced = {alias: [SimpleNamespace(asset=SimpleNamespace(uri=uri), extra=extra)]}
    [loaded] = load(triggering_asset_events=announced)
    assert loaded["uri"] == uri and loaded["sha256"] == extra["sha256"]
    path.write_bytes(data.replace(b"<transactions>", b"<transactions><!-- changed -->", 1))
    with pytest.raises(ValueError, match="does not match the checksum"):
        load(triggering_asset_events=announced)


def test_without_outlets_no_event_is_emitted(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))

    class Events(dict):
        def __missing__(self, key: object) -> None:
            raise AssertionError(f"an event was emitted for {key}")

    op = GLBatchExportOperator(task_id="export", output_file=str(tmp_path / "x.xml"))
    op.execute({"outlet_events": Events()})  # type: ignore[arg-type]
    assert (tmp_path / "x.xml").exists()
