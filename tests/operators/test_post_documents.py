"""Posting only the loaded documents, and proving what ConnectWise posted, against the sandbox."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import export_every_collection, fails_task, without_adjustments
from lxml import etree

from airflow_provider_cwgl.errors import BatchReconcileError, SettingError
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.sandbox import Sandbox, generated_store


@pytest.fixture
def connected(make_sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = make_sandbox(without_adjustments(generated_store(transactions=40)))
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    return sandbox


def post(summary: dict | None, **kwargs: object) -> dict:
    return GLBatchCreateOperator(task_id="batch", export_summary=summary, **kwargs).execute({})


def _transactions(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().findall("transactions/transaction")


# -- documents= ---------------------------------------------------------------------------------


def test_one_transaction_posts_exactly_its_gl_entry_ids(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    chosen = _transactions(tmp_path / "glexport.xml")[0]
    chosen_id = int(chosen.findtext("id"))
    expected = {int(i) for i in chosen.findtext("glEntryIds").split(",")}
    expected |= {int(d.findtext("id")) for d in chosen.findall("detail/detailItem")}
    result = post(
        summary, batch_identifier="ONE", documents=[{"collection": "transactions", "id": chosen_id}]
    )
    posts = [r.json() for r in connected.log.matching("POST", "finance/accounting/batches")]
    assert len(posts) == 1 and set(posts[0]["processedRecordIds"]) == expected
    assert result["posted_documents"] == 1 and result["posted"] == [
        {"collection": "transactions", "id": chosen_id}
    ]
    assert result["not_posted_documents"] == summary["document_count"] - 1
    assert result["counts"] == {"transactions": 1}
    assert result["totals"] == {"transactions": chosen.findtext("total")}
    assert result["reconciled"] is True and result["sha256"] == summary["sha256"]
    # The others stay unposted: the next export carries them, and not the posted one.
    again = export_every_collection(tmp_path, "next.xml")
    ids = {int(t.findtext("id")) for t in _transactions(tmp_path / "next.xml")}
    assert chosen_id not in ids and again["document_count"] == summary["document_count"] - 1


def test_a_template_rendered_list_is_read_back(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    first = _transactions(tmp_path / "glexport.xml")[0].findtext("id")
    result = post(
        summary, batch_identifier="TEXT", documents=f"[{{'collection': 'transactions', 'id': '{first}'}}]"
    )
    assert result["posted_documents"] == 1


def test_none_posts_every_document(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    result = post(summary, batch_identifier="ALL")
    assert result["posted_documents"] == summary["document_count"] and result["not_posted_documents"] == 0
    assert result["records"] == summary["gl_entry_id_count"]
    docs = {c: n for c, n in summary["counts"].items() if c not in ("vendors", "customers")}
    assert result["counts"] == docs
    assert {c: Decimal(t) for c, t in result["totals"].items()} == {
        c: Decimal(t) for c, t in summary["totals"].items() if c in docs
    }


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([{"collection": "transactions", "id": 999_999_999}], "not in the export: transactions 999999999"),
        ([{"collection": "invoices", "id": 1}], "collection 'invoices' is not one of"),
        ([{"ID": 1, "collection": "transactions", "xero_id": 2}], "entry 0"),
        ("not a list", "expected a list"),
        (42, "expected None or a list"),
    ],
)
def test_bad_documents_fail_before_any_request(
    connected: Sandbox, tmp_path: Path, documents: object, message: str
) -> None:
    summary = export_every_collection(tmp_path)
    connected.log.clear()
    with fails_task(SettingError, match="documents") as failure:
        post(summary, batch_identifier="BAD", documents=documents)
    assert message in str(failure.value)
    assert len(connected.log) == 0


def test_documents_from_an_export_file(connected: Sandbox, tmp_path: Path) -> None:
    export_every_collection(tmp_path)
    chosen = _transactions(tmp_path / "glexport.xml")[1]
    result = GLBatchCreateOperator(
        task_id="batch",
        export_file=str(tmp_path / "glexport.xml"),
        batch_identifier="FILE",
        documents=[{"collection": "transactions", "id": int(chosen.findtext("id"))}],
    ).execute({})
    assert result["posted_documents"] == 1 and result["reconciled"] is True
    assert result["totals"] == {"transactions": chosen.findtext("total")}


# -- reconciliation -----------------------------------------------------------------------------


def test_a_reexport_that_differs_fails_naming_the_difference(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches/*/export", change_total="0.01")
    # Fails the task without retries: the batch exists, a person checks it.
    with fails_task(BatchReconcileError) as failure:
        post(summary, batch_identifier="TAMPERED")
    text = str(failure.value)
    approved = Decimal(summary["totals"]["transactions"])
    assert f"transactions: total {approved} approved, {approved + Decimal('0.01')} in the batch" in text
    assert len(connected.store.batches) == 1  # nothing deleted


def test_an_existing_batch_is_reconciled_on_a_rerun(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    first = post(summary, batch_identifier="RERUN")
    assert first["created"] is True
    again = post(summary, batch_identifier="RERUN")
    assert (again["created"], again["reconciled"], again["batch_id"]) == (False, True, first["batch_id"])
    connected.faults.add(method="POST", path="finance/accounting/batches/*/export", change_total="-5")
    with fails_task(BatchReconcileError, match="in the batch"):
        post(summary, batch_identifier="RERUN")
    assert connected.log.count("POST", "finance/accounting/batches") == 1
