"""A local output path on workers that share no disk: a step that reads an export another task
wrote (the post DAG's batch step, the load DAG) and does not find it says the file is probably on
another worker's disk and to use object storage, not a bare FileNotFoundError. Each test writes
the export as "the first worker" and removes it before "the second" reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from conftest import DAGS, fails_task

from airflow_provider_cwgl.errors import NotOnThisWorkerError
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox


@pytest.fixture
def elsewhere(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """An export written on "another worker": its summary, with the files gone from this disk."""
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    folder = tmp_path / "worker-a"
    summary = GLBatchExportOperator(
        task_id="export", output_file=str(folder / "glexport.xml"), thru_date="2026-03-01"
    ).execute({})
    assert summary["gl_entry_id_count"] > 0 and Path(summary["gl_documents_file"]).is_file()
    shutil.rmtree(folder)
    cw_sandbox.log.clear()
    return summary


def _says_where_it_is(error: NotOnThisWorkerError, setting: str, path: str) -> None:
    text = str(error)
    assert text.startswith(f"{setting}: {path} is not on this worker (")
    assert "share no disk" in text and "object storage" in text and "cwgl_output_root" in text
    assert not isinstance(error, FileNotFoundError)


def test_the_batch_step_without_the_documents_file(elsewhere: dict[str, Any], cw_sandbox: Sandbox) -> None:
    with fails_task(NotOnThisWorkerError) as failure:  # retrying here would not bring the file
        GLBatchCreateOperator(task_id="mark", export_summary=elsewhere).execute({})
    _says_where_it_is(failure.value, "export_summary", elsewhere["gl_documents_file"])
    assert len(cw_sandbox.log) == 0  # nothing was asked of ConnectWise, no batch was made


def test_the_batch_step_without_the_export_file(elsewhere: dict[str, Any], cw_sandbox: Sandbox) -> None:
    with fails_task(NotOnThisWorkerError) as failure:
        GLBatchCreateOperator(task_id="mark", export_file=elsewhere["output"]).execute({})
    _says_where_it_is(failure.value, "export_file", elsewhere["output"])
    assert len(cw_sandbox.log) == 0


def test_the_load_dag_without_the_announced_file(elsewhere: dict[str, Any]) -> None:
    """The load DAG's task, given the asset event the export announced (a ``file://`` URI)."""
    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_load_gl_export"]
    load = dag.get_task("load_into_accounting_package").python_callable
    uri = Path(elsewhere["output"]).as_uri()
    event = SimpleNamespace(asset=SimpleNamespace(uri=uri), extra={"sha256": elsewhere["sha256"]})
    with pytest.raises(NotOnThisWorkerError) as info:
        load(params={}, triggering_asset_events={dag.timetable.asset_condition: [event]})
    _says_where_it_is(info.value, "export_file", elsewhere["output"])


def test_a_file_that_is_there_is_read(elsewhere: dict[str, Any], tmp_path: Path, cw_sandbox: Sandbox) -> None:
    """The same steps with the file on this disk (a shared folder) read it."""
    summary = GLBatchExportOperator(
        task_id="export", output_file=str(tmp_path / "shared" / "glexport.xml"), thru_date="2026-03-01"
    ).execute({})
    result = GLBatchCreateOperator(task_id="mark", export_summary=summary).execute({})
    assert result["records"] == summary["gl_entry_id_count"] and result["created"] is True
