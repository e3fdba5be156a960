"""OpenLineage: the export's and the batch operator's datasets, read through the OpenLineage
provider's own extractor manager after real runs against the sandbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG, Asset, ObjectStoragePath

from airflow_provider_cwgl.operators.assets import asset_uri
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.operators.lineage import file_dataset
from airflow_provider_cwgl.output.objectstore import ObjectStorageOutput
from airflow_provider_cwgl.sandbox import Sandbox

pytest.importorskip("airflow.providers.openlineage")


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def lineage(operator: Any) -> Any:
    """What the OpenLineage listener would emit for a successful task."""
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.utils.state import TaskInstanceState

    return ExtractorManager().extract_metadata(
        dagrun=SimpleNamespace(run_id="test"),
        task=operator,
        task_instance_state=TaskInstanceState.SUCCESS,
        task_instance=SimpleNamespace(task=operator),
    )


def as_dict(dataset: Any) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    return json.loads(Serde.to_json(dataset))


def test_export_lineage_names_the_endpoint_with_the_request_and_the_file(
    connected: Sandbox, tmp_path: Path
) -> None:
    with DAG("lineage_test", schedule=None):
        op = GLBatchExportOperator(
            task_id="export",
            output_file=str(tmp_path / "gl files" / "glexport.xml"),
            export_unposted_procurement=True,
            location_id=2,
            thru_date="2026-03-01",
            summarize_invoices="Detailed",
            excluded_product_ids=["PO3000"],
        )
    op.execute({})
    got = lineage(op)
    [source] = got.inputs
    [output] = got.outputs
    host = connected.url.split("://", 1)[1].rstrip("/")
    assert (source.namespace, source.name) == (
        f"connectwise://{host}",
        f"{connected.credentials['company_id']}/finance/accounting/export",
    )
    sent = connected.log.matching("POST", "finance/accounting/export")[-1].json()
    facet = as_dict(source)["facets"]["connectwiseRequest"]
    assert facet["request"] == sent and facet["endpoint"] == "finance/accounting/export"
    assert sent["summarizeInvoices"] == "Detailed" and sent["excludedProductIds"] == ["PO3000"]
    assert (output.namespace, output.name) == ("file", str(tmp_path / "gl files" / "glexport.xml"))
    serialized = json.dumps(as_dict(source))
    for secret in (connected.credentials["private_key"], connected.credentials["client_id"]):
        assert secret not in serialized


def test_batch_reexport_lineage_names_the_batch_endpoint(connected: Sandbox, tmp_path: Path) -> None:
    first = GLBatchExportOperator(task_id="e1", output_file=str(tmp_path / "a.xml"), thru_date="2026-03-01")
    summary = first.execute({})
    made = GLBatchCreateOperator(task_id="b", export_summary=summary, batch_identifier="LIN-1").execute({})
    again = GLBatchExportOperator(task_id="e2", output_file=str(tmp_path / "b.xml"), batch_id="LIN-1")
    again.execute({})
    [source] = lineage(again).inputs
    assert source.name.endswith(f"/finance/accounting/batches/{made['batch_id']}/export")


def test_batch_operator_lineage_reads_the_file_and_writes_batches(connected: Sandbox, tmp_path: Path) -> None:
    summary = GLBatchExportOperator(
        task_id="e", output_file=str(tmp_path / "glexport.xml"), thru_date="2026-03-01"
    ).execute({})
    for source in ({"export_summary": summary}, {"export_file": str(tmp_path / "glexport.xml")}):
        op = GLBatchCreateOperator(task_id="b", batch_identifier="LIN-2", **source)
        op.execute({})
        got = lineage(op)
        assert [(d.namespace, d.name) for d in got.inputs] == [("file", str(tmp_path / "glexport.xml"))]
        [target] = got.outputs
        assert target.namespace.startswith("connectwise://127.0.0.1:")
        assert target.name == f"{connected.credentials['company_id']}/finance/accounting/batches"


def test_skipped_export_reports_no_datasets(connected: Sandbox, tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    op = GLBatchExportOperator(
        task_id="e", output_file=str(tmp_path / "x.xml"), thru_date="2000-01-01", skip_when_empty=True
    )
    with pytest.raises(AirflowSkipException):
        op.execute({})
    got = op.get_openlineage_facets_on_complete(None)
    assert got.inputs == [] and got.outputs == []


def test_object_storage_names_without_the_connection() -> None:
    target = ObjectStorageOutput(
        ObjectStoragePath("s3://gl-exports/gl/2026-03-01/glexport.xml", conn_id="aws_x")
    )
    uri = asset_uri(target)
    assert uri == "s3://gl-exports/gl/2026-03-01/glexport.xml"
    assert Asset(uri).uri == uri  # a valid asset URI
    # The summary's `output` (what the batch operator reads) carries the connection; the name does not.
    assert target.describe().startswith("s3://aws_x@")
    for location in (uri, target.describe()):
        dataset = file_dataset(location)
        assert (dataset.namespace, dataset.name) == ("s3://gl-exports", "gl/2026-03-01/glexport.xml")


def test_modules_do_not_import_openlineage() -> None:
    """Importing the operators pulls in no OpenLineage module Airflow itself did not (it is optional)."""
    import subprocess

    code = (
        "import sys, airflow.sdk; before = set(sys.modules);"
        "import airflow_provider_cwgl.operators.gl_export, airflow_provider_cwgl.operators.gl_batch;"
        "print(sorted(m for m in set(sys.modules) - before if 'openlineage' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
