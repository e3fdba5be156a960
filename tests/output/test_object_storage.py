"""Output to object storage: a real S3 API on loopback (moto's server mode) through Airflow's
ObjectStoragePath and the Amazon provider's s3fs support."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import BUCKET, bucket_keys, fails_task

from airflow_provider_cwgl.errors import ConnectWiseError, ElementNameError
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def export(output_file: str, **settings: Any) -> dict[str, Any]:
    settings = {
        "export_unposted_procurement": True,
        "thru_date": "2026-03-01",
        "references_to_fetch": ["customer/company"],
        **settings,
    }
    return GLBatchExportOperator(task_id="export", output_file=output_file, **settings).execute({})


def test_export_to_s3_equals_the_local_file(connected: Sandbox, s3: Any, tmp_path: Path) -> None:
    local = export(str(tmp_path / "glexport.xml"))
    remote = export(f"s3://{BUCKET}/gl/2026-03-01/glexport.xml", output_conn_id="aws_s3_test")
    body = s3.get_object(Bucket=BUCKET, Key="gl/2026-03-01/glexport.xml")["Body"].read()
    assert body == (tmp_path / "glexport.xml").read_bytes()
    assert remote["sha256"] == local["sha256"] and remote["output"].endswith(
        "gl-exports/gl/2026-03-01/glexport.xml"
    )
    # The batch step can read the export back from S3.
    result = GLBatchCreateOperator(
        task_id="b",
        export_file=f"s3://{BUCKET}/gl/2026-03-01/glexport.xml",
        export_file_conn_id="aws_s3_test",
        batch_identifier="S3-1",
    ).execute({})
    assert result["records"] == remote["gl_entry_id_count"]
    # Or from the summary: its documents and their GL entry ids are in an object beside the export.
    assert "gl/2026-03-01/glexport.xml.gl-docs.jsonl" in bucket_keys(s3)
    again = GLBatchCreateOperator(task_id="c", export_summary=remote, batch_identifier="S3-1").execute({})
    assert again["records"] == result["records"] and again["batch_id"] == result["batch_id"]


def test_failure_half_way_leaves_no_object(connected: Sandbox, s3: Any) -> None:
    # The export's last transaction gets a field XML cannot name: the writer fails after the rest.
    [d for d in connected.store.documents if d.section == "transactions"][-1].body["bad name"] = 1
    with fails_task(ElementNameError, match="^'bad name' cannot be an XML element name$"):
        export(
            f"s3://{BUCKET}/gl/2026-03-02/glexport.xml", output_conn_id="aws_s3_test", thru_date="2030-01-01"
        )
    assert bucket_keys(s3) == []


def test_failed_run_keeps_the_previous_object(connected: Sandbox, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="gl/x/glexport.xml", Body=b"previous export")
    connected.faults.add(path="finance/accounting/export", status=400)
    with pytest.raises(ConnectWiseError) as failure:
        export(f"s3://{BUCKET}/gl/x/glexport.xml", output_conn_id="aws_s3_test")
    assert str(failure.value) == (
        "ConnectWise POST finance/accounting/export failed (HTTP 400): ServerError: The sandbox injected this failure."
    )
    assert s3.get_object(Bucket=BUCKET, Key="gl/x/glexport.xml")["Body"].read() == b"previous export"
    assert bucket_keys(s3) == ["gl/x/glexport.xml"]


def test_documents_from_an_s3_export(connected: Sandbox, s3: Any) -> None:
    remote = export(f"s3://{BUCKET}/gl/2026-03-01/glexport.xml", output_conn_id="aws_s3_test")
    assert "gl/2026-03-01/glexport.xml.gl-docs.jsonl" in bucket_keys(s3)
    first = next(d for d in connected.store.documents if d.section == "purchaseTransactions")
    result = GLBatchCreateOperator(
        task_id="d",
        export_summary=remote,
        batch_identifier="S3-DOCS",
        documents=[{"collection": "purchaseTransactions", "id": first.body["id"]}],
    ).execute({})
    assert result["posted_documents"] == 1 and result["reconciled"] is True
    assert set(connected.store.batches[result["batch_id"]].processed_record_ids) == set(first.gl_entry_ids)
