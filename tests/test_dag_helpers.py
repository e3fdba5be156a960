"""Output settings come from one place, read when the task runs: param > Airflow Variable >
worker environment > default. Proven on the functions and on DAG runs (dag.test, real SQLite
metadata DB) whose environment and Variables change after the DAG file was parsed."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from conftest import BUCKET, CLOSED_PORT_S3_CONNECTION, DAGS, bucket_keys

# moto's S3 on loopback, a bucket behind the connection `aws_s3_test`.
from airflow_provider_cwgl.dag_helpers import output_conn_id, output_root
from airflow_provider_cwgl.sandbox import Sandbox


@pytest.fixture
def variables(airflow_db: None) -> Iterator[Any]:
    """Set Airflow Variables in the metadata DB (as the UI or `airflow variables set` does)."""
    from airflow.models.variable import Variable

    set_keys: list[str] = []

    def set_variable(key: str, value: str) -> None:
        Variable.set(key, value)
        set_keys.append(key)

    yield set_variable
    for key in set_keys:
        Variable.delete(key)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CWGL_OUTPUT_ROOT", "CWGL_OUTPUT_CONN_ID", "AIRFLOW_VAR_CWGL_OUTPUT_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AIRFLOW_VAR_CWGL_OUTPUT_CONN_ID", raising=False)
    return monkeypatch


class TestOrder:
    def test_default_is_the_workers_home_and_no_connection(self, clean_env: pytest.MonkeyPatch) -> None:
        assert output_root() == str(Path.home() / "cwgl-exports")
        assert output_conn_id() == ""

    def test_param_beats_variable_beats_environment(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("CWGL_OUTPUT_ROOT", "s3://env/root")
        clean_env.setenv("CWGL_OUTPUT_CONN_ID", "env_conn")
        assert (output_root(), output_conn_id()) == ("s3://env/root", "env_conn")
        # An environment-backed Variable: the secrets backend Airflow reads before the DB.
        clean_env.setenv("AIRFLOW_VAR_CWGL_OUTPUT_ROOT", "s3://variable/root")
        clean_env.setenv("AIRFLOW_VAR_CWGL_OUTPUT_CONN_ID", "variable_conn")
        assert (output_root(), output_conn_id()) == ("s3://variable/root", "variable_conn")
        assert (output_root("gs://param/root"), output_conn_id("param_conn")) == (
            "gs://param/root",
            "param_conn",
        )

    @pytest.mark.parametrize("empty", [None, "", "  ", "None", "null"])
    def test_an_empty_param_falls_through(self, clean_env: pytest.MonkeyPatch, empty: Any) -> None:
        clean_env.setenv("CWGL_OUTPUT_ROOT", "/srv/exports")
        clean_env.setenv("CWGL_OUTPUT_CONN_ID", "env_conn")
        assert (output_root(empty), output_conn_id(empty)) == ("/srv/exports", "env_conn")

    def test_a_home_relative_root_is_expanded_on_the_worker(self, clean_env: pytest.MonkeyPatch) -> None:
        clean_env.setenv("CWGL_OUTPUT_ROOT", "~/elsewhere")
        assert output_root() == str(Path.home() / "elsewhere")


def _daily_run(dag: Any, **conf: Any) -> Any:
    from airflow.sdk import timezone

    return dag.test(logical_date=timezone.datetime(2026, 3, 1), run_conf=conf)


class TestReadWhenTheTaskRuns:
    """The DAG file is parsed first; what changes afterwards decides where the run writes."""

    @pytest.fixture
    def daily(self, airflow_db: None, cw_sandbox: Sandbox, clean_env: pytest.MonkeyPatch) -> Any:
        clean_env.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
        clean_env.setenv("CWGL_OUTPUT_ROOT", "/nonexistent-at-parse-time")
        return DagBag(dag_folder=str(DAGS)).dags["cwgl_daily_gl_export"]

    def test_environment_set_after_parsing(
        self, daily: Any, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        clean_env.setenv("CWGL_OUTPUT_ROOT", str(tmp_path / "env"))
        assert _daily_run(daily).state == "success"
        assert (tmp_path / "env" / "gl" / "2026-03-01" / "glexport.xml").is_file()

    def test_variable_beats_environment_and_param_beats_variable(
        self, daily: Any, variables: Any, clean_env: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        clean_env.setenv("CWGL_OUTPUT_ROOT", str(tmp_path / "env"))
        variables("cwgl_output_root", str(tmp_path / "variable"))
        assert _daily_run(daily).state == "success"
        assert (tmp_path / "variable" / "gl" / "2026-03-01" / "glexport.xml").is_file()
        assert _daily_run(daily, output_root=str(tmp_path / "param")).state == "success"
        assert (tmp_path / "param" / "gl" / "2026-03-01" / "glexport.xml").is_file()
        assert not (tmp_path / "env").exists()

    @pytest.mark.usefixtures("s3")
    def test_connection_from_the_variable_writes_and_the_batch_step_reads_with_it(
        self,
        airflow_db: None,
        variables: Any,
        make_sandbox: Any,
        clean_env: pytest.MonkeyPatch,
        s3: Any,  # noqa: F811
    ) -> None:
        """The post DAG on S3 with no credentials but the connection's: the export writes and the
        batch step reads the documents file beside it through the connection the Variable names."""
        from airflow.sdk import timezone
        from conftest import without_adjustments

        from airflow_provider_cwgl.sandbox import generated_store

        sandbox = make_sandbox(without_adjustments(generated_store(transactions=20)))
        clean_env.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
        # Its own connection id: Airflow caches a filesystem per connection id.
        clean_env.setenv("AIRFLOW_CONN_AWS_S3_SETTINGS", os.environ["AIRFLOW_CONN_AWS_S3_TEST"])
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            clean_env.delenv(name, raising=False)
        dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_gl_export_and_post"]
        clean_env.setenv("CWGL_OUTPUT_ROOT", f"s3://{BUCKET}/settings")
        variables("cwgl_output_conn_id", "aws_s3_settings")
        day = max(d.document_date for d in sandbox.store.documents if d.section == "transactions")
        run = dag.test(
            logical_date=timezone.datetime(day.year, day.month, day.day), run_conf={"require_approval": False}
        )
        assert run.state == "success", [(t.task_id, t.state) for t in run.get_task_instances()]
        key = f"settings/posted/{day.isoformat()}/glexport.xml"
        assert {key, key + ".gl-docs.jsonl"} <= set(bucket_keys(s3))
        mark = run.get_task_instance("mark_exported_in_connectwise").xcom_pull(
            task_ids="mark_exported_in_connectwise"
        )
        assert mark["created"] is True and mark["records"] > 0
        assert len(sandbox.store.batches) == 1


@pytest.mark.usefixtures("s3")
def test_the_load_dag_reads_with_the_connection_chosen_on_the_worker(
    cw_sandbox: Sandbox,
    clean_env: pytest.MonkeyPatch,
    s3: Any,  # noqa: F811
) -> None:
    """The load DAG's task, given the asset event of an S3 export: asset URIs carry no
    connection, so it reads with the output connection, resolved when it runs."""
    from types import SimpleNamespace

    from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

    clean_env.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    clean_env.setenv("AIRFLOW_CONN_AWS_S3_LOAD", os.environ["AIRFLOW_CONN_AWS_S3_TEST"])
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        clean_env.delenv(name, raising=False)
    url = f"s3://{BUCKET}/load/glexport.xml"
    summary = GLBatchExportOperator(
        task_id="export", output_file=url, output_conn_id="aws_s3_load", thru_date="2026-03-01"
    ).execute({})
    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_load_gl_export"]
    load = dag.get_task("load_into_accounting_package")
    event = SimpleNamespace(asset=SimpleNamespace(uri=url), extra={"sha256": summary["sha256"]})
    events = {dag.timetable.asset_condition: [event]}  # the alias it is scheduled on
    clean_env.setenv("CWGL_OUTPUT_CONN_ID", "aws_s3_load")  # after parsing
    [loaded] = load.python_callable(params={}, triggering_asset_events=events)
    assert loaded["uri"] == url and loaded["sha256"] == summary["sha256"]
    # The param beats the environment: its connection (to a closed port) is the one used.
    clean_env.setenv("AIRFLOW_CONN_AWS_S3_CLOSED", CLOSED_PORT_S3_CONNECTION)
    with pytest.raises(Exception, match="127.0.0.1:9"):
        load.python_callable(params={"output_conn_id": "aws_s3_closed"}, triggering_asset_events=events)
