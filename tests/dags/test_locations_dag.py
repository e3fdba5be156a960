"""One export task per location: the hook lists the sandbox's locations and the example DAG maps the
export over them with dag.test() on a real SQLite metadata DB, one file per location."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from conftest import BUCKET, DAGS
from lxml import etree

# The fixtures `s3` (moto's S3 server on loopback, a bucket behind the connection `aws_s3_test`)
# and `s3_endpoint`, shared with the object-storage tests.
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.sandbox import Sandbox

SECTIONS = ("transactions", "expenses", "expenseBills", "purchaseTransactions", "inventoryTransfers")


def test_hook_lists_locations(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    stored = cw_sandbox.store.resources["system/locations"]
    assert ConnectWiseHook().list_locations() == [
        {"id": i, "name": stored[i]["name"]} for i in sorted(stored)
    ]
    assert cw_sandbox.log.matching("GET", "system/locations")


def _ids(root: etree._Element, section: str) -> set[str]:
    return {item.findtext("id") for item in root.findall(f"{section}/*")}


def test_one_file_per_location_with_only_its_records(
    airflow_db: None, cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk import timezone
    from airflow.utils.state import DagRunState, TaskInstanceState

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_gl_export_by_location"]
    store = cw_sandbox.store
    day = max(d.document_date for d in store.documents)
    run = dag.test(
        logical_date=timezone.datetime(day.year, day.month, day.day), run_conf={"output_root": str(tmp_path)}
    )
    assert run.state == DagRunState.SUCCESS
    mapped = [ti for ti in run.get_task_instances() if ti.task_id == "export_location"]
    locations = store.resources["system/locations"]
    assert len(locations) >= 3
    assert sorted(ti.map_index for ti in mapped) == list(range(len(locations)))
    assert all(ti.state == TaskInstanceState.SUCCESS for ti in mapped)
    assert sorted(ti.rendered_map_index for ti in mapped) == sorted(f"location {i}" for i in locations)

    files = sorted((tmp_path / "gl" / day.isoformat()).glob("*.xml"))
    seen = 0
    assert len(files) == len(locations)
    for loc_id, loc in locations.items():
        [path] = [f for f in files if f"-location-{loc_id}-" in f.name]
        assert path.name.startswith(f"glexport-{day.isoformat()}-location-{loc_id}-")
        root = etree.parse(str(path)).getroot()
        for section in SECTIONS:
            docs = [d for d in store.documents if d.section == section and d.document_date <= day]
            mine = {str(d.body["id"]) for d in docs if d.location_id == loc_id}
            assert _ids(root, section) == mine, (loc["name"], section)
            seen += len(mine)
    assert seen == sum(1 for d in store.documents if d.section in SECTIONS and d.document_date <= day)
    bodies = [r.json() for r in cw_sandbox.log.matching("POST", "finance/accounting/export")]
    assert sorted(b["locationId"] for b in bodies) == sorted(locations)


@pytest.mark.usefixtures("s3")
def test_object_storage_root_one_object_per_location(
    airflow_db: None, cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same DAG, unchanged, with an s3:// root (moto's S3 on loopback): what a Celery or
    Kubernetes deployment runs, where mapped tasks share no disk."""
    from airflow.sdk import ObjectStoragePath, timezone
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    # Its own connection id: Airflow caches a filesystem per connection id, and this module's moto
    # server stops before the object-storage tests start theirs.
    monkeypatch.setenv("AIRFLOW_CONN_AWS_S3_LOCATIONS", os.environ["AIRFLOW_CONN_AWS_S3_TEST"])
    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_gl_export_by_location"]
    # After parsing: the worker's environment is read when the task runs.
    monkeypatch.setenv("CWGL_OUTPUT_CONN_ID", "aws_s3_locations")
    run = dag.test(
        logical_date=timezone.datetime(2026, 3, 1), run_conf={"output_root": f"s3://{BUCKET}/exports"}
    )
    assert run.state == DagRunState.SUCCESS
    locations = cw_sandbox.store.resources["system/locations"]
    folder = ObjectStoragePath(f"s3://{BUCKET}/exports/gl/2026-03-01/", conn_id="aws_s3_locations")
    got = sorted(p.name for p in folder.iterdir() if p.name.endswith(".xml"))
    assert len(got) == len(locations)
    for loc_id in locations:
        [name] = [n for n in got if f"-location-{loc_id}-" in n]
        assert name.startswith(f"glexport-2026-03-01-location-{loc_id}-")
        root = etree.fromstring((folder / name).read_bytes())
        mine = {
            str(d.body["id"])
            for d in cw_sandbox.store.documents
            if d.section == "transactions"
            and d.location_id == loc_id
            and d.document_date.isoformat() <= "2026-03-01"
        }
        assert _ids(root, "transactions") == mine
