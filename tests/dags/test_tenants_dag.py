"""Several tenants: the example DAG maps the export over ConnectWise connections, one per tenant,
each tenant's file under its own prefix; one tenant failing does not stop the others. Two
sandboxes (two tenants with different data) and dag.test() on a real SQLite metadata DB."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag
from conftest import DAGS
from lxml import etree

from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.sandbox import Sandbox, generated_store

DAY = "2026-03-01"


@pytest.fixture
def tenants(make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> dict[str, Sandbox]:
    """Two tenants, each its own ConnectWise (different data), and a third whose connection lacks
    its company id."""
    found = {
        "tenant_a": make_sandbox(generated_store(seed=1, transactions=12)),
        "tenant_b": make_sandbox(generated_store(seed=2, transactions=7)),
    }
    for conn_id, sandbox in found.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(sandbox.connection()))
    broken = found["tenant_a"].connection()
    del broken["extra"]["company_id"]
    monkeypatch.setenv("AIRFLOW_CONN_TENANT_BROKEN", json.dumps(broken))
    monkeypatch.delenv("AIRFLOW_VAR_CWGL_CONNECTWISE_CONN_IDS", raising=False)
    return found


def _transaction_ids(path: Path) -> set[str]:
    return {t.findtext("id") for t in etree.parse(str(path)).getroot().findall("transactions/transaction")}


def _expected(sandbox: Sandbox) -> set[str]:
    return {
        str(d.body["id"])
        for d in sandbox.store.documents
        if d.section == "transactions" and d.document_date.isoformat() <= DAY
    }


def _run(conf: dict[str, Any]) -> Any:
    from airflow.sdk import timezone

    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_gl_export_by_tenant"]
    return dag.test(logical_date=timezone.datetime(2026, 3, 1), run_conf=conf)


def test_each_tenant_gets_its_own_file_and_a_failing_one_stops_no_other(
    airflow_db: None, tenants: dict[str, Sandbox], tmp_path: Path
) -> None:
    ids = ["tenant_a", "tenant_broken", "tenant_b"]
    run = _run({"connectwise_conn_ids": ids, "output_root": str(tmp_path)})
    assert run.state == "failed"  # the failure is seen
    mapped = {ti.rendered_map_index: ti for ti in run.get_task_instances() if ti.task_id == "export_tenant"}
    assert {k: ti.state for k, ti in mapped.items()} == {
        "tenant_a": "success",
        "tenant_broken": "failed",
        "tenant_b": "success",
    }
    assert mapped["tenant_broken"].try_number == 1  # a bad connection fails at once
    for conn_id, sandbox in tenants.items():
        path = tmp_path / "tenants" / conn_id / "gl" / DAY / "glexport.xml"
        assert _transaction_ids(path) == _expected(sandbox) != set()
        # Each tenant's ConnectWise was asked once, for its own export.
        assert sandbox.log.count("POST", "finance/accounting/export") == 1
    assert _expected(tenants["tenant_a"]) != _expected(tenants["tenant_b"])
    assert not [p for p in (tmp_path / "tenants" / "tenant_broken").rglob("*") if p.is_file()]


def test_tenants_from_the_variable(
    airflow_db: None, tenants: dict[str, Sandbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.variable import Variable

    Variable.set("cwgl_connectwise_conn_ids", json.dumps(["tenant_b", "tenant_a"]))
    try:
        run = _run({"output_root": str(tmp_path)})
    finally:
        Variable.delete("cwgl_connectwise_conn_ids")
    assert run.state == "success"
    for conn_id, sandbox in tenants.items():
        assert _transaction_ids(tmp_path / "tenants" / conn_id / "gl" / DAY / "glexport.xml") == _expected(
            sandbox
        )


@pytest.fixture(scope="module")
def parse() -> Callable[..., list[str]]:
    """The DAG file's tenant list parser."""
    sys.path.insert(0, str(DAGS))
    try:
        from cwgl_gl_export_by_tenant import tenant_conn_ids
    finally:
        sys.path.remove(str(DAGS))
    return tenant_conn_ids


class TestTenantList:
    def test_param_beats_variable(self, parse: Callable[..., list[str]]) -> None:
        assert parse(["a", "b", "a"], '["c"]') == ["a", "b"]
        assert parse(None, '["c", "d"]') == ["c", "d"]
        assert parse(None, " c , d ") == ["c", "d"]
        assert parse(None, None) == ["connectwise_default"]

    @pytest.mark.parametrize(
        ("param", "variable", "setting"),
        [
            (["../etc"], None, "connectwise_conn_ids"),
            (None, "a/b", "cwgl_connectwise_conn_ids"),
            (None, '["tenant_a",', "cwgl_connectwise_conn_ids"),
        ],
    )
    def test_an_id_that_is_not_a_connection_id_is_refused(
        self, parse: Callable[..., list[str]], param: Any, variable: Any, setting: str
    ) -> None:
        with pytest.raises(SettingError, match=f"^{setting}: expected connection ids"):
            parse(param, variable)
