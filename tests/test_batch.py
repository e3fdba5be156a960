"""Marking exports exported: idempotent batch creation and re-export, against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from airflow_provider_cwgl.glexport.batch import (
    BatchConflictError,
    default_batch_identifier,
    ids_from_summary,
    ids_from_xml,
)
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox


def canonical(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data, etree.XMLParser(remove_blank_text=True)), method="c14n")


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def export(tmp_path: Path, name: str = "glexport.xml", **settings: object) -> dict:
    settings = {
        "export_unposted_expenses": True,
        "export_unposted_procurement": True,
        "thru_date": "2026-03-01",
        **settings,
    }
    return GLBatchExportOperator(task_id="export", output_file=str(tmp_path / name), **settings).execute({})


def create(summary: dict | None = None, **kwargs: object) -> dict:
    operator = GLBatchCreateOperator(task_id="batch", export_summary=summary, **kwargs)
    return operator.execute({})


def test_batch_marks_records_exported(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)
    result = create(summary, batch_identifier="GL-2026-03-01-IEP")
    assert result["created"] is True and result["records"] == len(ids_from_summary(summary)[0])
    batch = connected.store.batches[result["batch_id"]]
    assert batch.identifier == "GL-2026-03-01-IEP"
    assert sorted(batch.processed_record_ids) == ids_from_summary(summary)[0]
    assert batch.flags == {"invoices": True, "expenses": True, "procurement": True}
    again = export(tmp_path, "next.xml")
    # Everything batched is gone; adjustments carry no GL entry id and stay (a known gap).
    assert set(again["counts"]) <= {"adjustmentTransactions"}
    assert not ids_from_summary(again)[0]


def test_dropped_response_does_not_make_a_second_batch(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches", drop=True, times=1)
    result = create(summary, batch_identifier="DROPPED-1")
    assert result["created"] is True
    assert len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 1


def test_server_error_before_creation_is_retried_once_looked_up(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches", status=503, times=1)
    result = create(summary, batch_identifier="RETRY-503")
    assert result["created"] is True and len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 2
    assert connected.log.count("GET", "finance/accounting/batches") >= 2  # looked up before each POST


def test_retried_task_finds_its_batch(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)
    first = create(summary, batch_identifier="SAME-RUN")
    second = create(summary, batch_identifier="SAME-RUN")
    assert first["batch_id"] == second["batch_id"]
    assert (first["created"], second["created"]) == (True, False)
    assert len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 1


def test_identifier_reused_with_other_records_fails(connected: Sandbox, tmp_path: Path) -> None:
    create(
        export(tmp_path, export_unposted_expenses=False, export_unposted_procurement=False),
        batch_identifier="TAKEN",
    )
    other = export(tmp_path, "expenses.xml", export_unposted_invoices=False)
    with pytest.raises(
        BatchConflictError, match="'TAKEN' is already used by ConnectWise batch 1 with other records"
    ):
        create(other, batch_identifier="TAKEN")
    assert len(connected.store.batches) == 1


def test_empty_export_creates_no_batch(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path, thru_date="2000-01-01")
    assert ids_from_summary(summary)[0] == []
    result = create(summary, batch_identifier="EMPTY")
    assert result == {
        "batch_identifier": "EMPTY",
        "records": 0,
        "batch_id": None,
        "created": False,
        "reason": "empty export",
    }
    assert connected.log.count("POST", "finance/accounting/batches") == 0


def test_reexport_reproduces_the_original_file(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(
        tmp_path, "original.xml", export_unposted_expenses=False, export_unposted_procurement=False
    )
    result = create(summary, batch_identifier="PERIOD-2026-02")
    for batch in (result["batch_id"], "PERIOD-2026-02", str(result["batch_id"])):
        again = export(
            tmp_path,
            "reexport.xml",
            batch_id=batch,
            export_unposted_expenses=False,
            export_unposted_procurement=False,
        )
        assert canonical((tmp_path / "reexport.xml").read_bytes()) == canonical(
            (tmp_path / "original.xml").read_bytes()
        )
        assert (
            ids_from_summary(again)[0] == ids_from_summary(summary)[0]
            and again["batch_id"] == result["batch_id"]
        )


def test_unknown_batch_identifier_is_a_clear_error(connected: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_id: no ConnectWise batch has the identifier 'NOPE'"):
        export(tmp_path, batch_id="NOPE")


def test_ids_from_the_file_equal_the_summary(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)
    with open(tmp_path / "glexport.xml", "rb") as handle:
        ids, flags = ids_from_xml(handle)
    assert ids == ids_from_summary(summary)[0]
    assert flags == {"invoices": True, "expenses": True, "procurement": True}
    result = GLBatchCreateOperator(
        task_id="b", export_file=str(tmp_path / "glexport.xml"), batch_identifier="FROM-FILE"
    ).execute({})
    assert result["records"] == len(ids) and result["created"]


@pytest.mark.parametrize("sources", [{}, {"export_summary": {"gl_entry_ids": []}, "export_file": "x.xml"}])
def test_exactly_one_source(connected: Sandbox, sources: dict) -> None:
    with pytest.raises(ValueError, match="give exactly one"):
        GLBatchCreateOperator(task_id="b", **sources).execute({})
    assert len(connected.log) == 0


def test_default_identifier_is_deterministic_and_short() -> None:
    one = default_batch_identifier(
        "cwgl_daily_gl_export" * 5,
        "scheduled__2026-03-01T00:00:00+00:00",
        "2026-03-01",
        ["invoices", "procurement"],
    )
    assert one == default_batch_identifier(
        "cwgl_daily_gl_export" * 5,
        "scheduled__2026-03-01T00:00:00+00:00",
        "2026-03-01",
        ["procurement", "invoices"],
    )
    assert one.startswith("cwgl-20260301-IP-") and len(one) <= 50
    assert one != default_batch_identifier(
        "cwgl_daily_gl_export" * 5, "manual__x", "2026-03-01", ["invoices"]
    )


def test_too_long_identifier_is_refused(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)
    connected.log.clear()
    with pytest.raises(ValueError, match="batch_identifier: at most 50 characters"):
        create(summary, batch_identifier="X" * 51)
    assert len(connected.log) == 0


def test_default_identifier_from_run_context(connected: Sandbox, tmp_path: Path) -> None:
    summary = export(tmp_path)

    class Run:
        run_id = "scheduled__2026-03-01T00:00:00+00:00"
        run_after = None

    from airflow.sdk import timezone

    context: dict[str, Any] = {"dag_run": Run(), "logical_date": timezone.datetime(2026, 3, 1)}
    result = GLBatchCreateOperator(task_id="b", export_summary=summary).execute(context)  # type: ignore[arg-type]
    assert result["batch_identifier"].startswith("cwgl-20260301-IEP-")
