"""Credit memos and one-cent invoices, as real tenants send them, through the whole path: the XML
file, the summary's counts and totals, the review's balance per document, posting a subset of the
documents and the batch's reconciliation. The oracle is the sandbox's own store: what it serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import export_every_collection, without_adjustments

from airflow_provider_cwgl.glexport.xml_reader import iter_items
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.sandbox import Sandbox, generated_store
from airflow_provider_cwgl.sandbox.store import GLDocument

THRU = date(2026, 3, 1)  # export_every_collection's thru date


@pytest.fixture
def connected(make_sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = make_sandbox(without_adjustments(generated_store(transactions=100)))
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    return sandbox


def served(sandbox: Sandbox) -> list[GLDocument]:
    """The documents the sandbox serves for the thru date."""
    return [d for d in sandbox.store.unposted_documents() if d.document_date <= THRU]


def credit_memos(sandbox: Sandbox) -> list[GLDocument]:
    return [d for d in served(sandbox) if d.body.get("documentType") == "CREDIT MEMO"]


def one_cent(sandbox: Sandbox) -> list[GLDocument]:
    return [d for d in served(sandbox) if d.section == "transactions" and d.body["total"] == Decimal("0.01")]


def written(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as source:
        yield from (item for collection, item in iter_items(source) if collection == "transactions")


def test_the_sandbox_makes_credit_memos_and_one_cent_invoices(connected: Sandbox) -> None:
    memos, cents = credit_memos(connected), one_cent(connected)
    assert len(memos) == 2 and len(cents) == 1
    for memo in memos:
        lines = memo.body["detail"]
        assert memo.body["total"] < 0 and all(line["total"] >= 0 for line in lines)
        assert any(line["total"] > 0 for line in lines)
        assert memo.body["total"] == -sum(line["total"] for line in lines)
        assert memo.body["documentNumber"].endswith("CM") and not memo.body["documentNumber"].isdigit()
        assert memo.unposted["invoiceType"] == "CreditMemo" and memo.unposted["total"] == memo.body["total"]
    (cent,) = cents
    (revenue,) = [line for line in cent.body["detail"] if line["glTypeId"] == "RP"]
    assert (
        revenue["total"] == Decimal("-0.01")
        and revenue["itemPrice"] * revenue["quantity"] != revenue["total"]
    )


def test_the_file_summary_and_review_carry_them_exactly(connected: Sandbox, tmp_path: Path) -> None:
    documents = served(connected)
    summary = export_every_collection(tmp_path)
    transactions = [d.body for d in documents if d.section == "transactions"]
    memos = {d.body["id"]: d.body for d in credit_memos(connected)}
    cents = {d.body["id"]: d.body for d in one_cent(connected)}

    # The file: every amount as ConnectWise sent it, to the cent (written as plain decimals, trailing
    # zeros dropped: docs/output-format.md); a document number that is text stays text.
    by_id = {int(item["id"]): item for item in written(tmp_path / "glexport.xml")}
    for doc_id, body in {**memos, **cents}.items():
        item = by_id[doc_id]
        assert (item["documentType"], item["documentNumber"]) == (
            body["documentType"],
            body["documentNumber"],
        )
        assert Decimal(item["total"]) == body["total"]
        assert [Decimal(line["total"]) for line in item["detail"]] == [x["total"] for x in body["detail"]]
    (cent,) = cents
    assert by_id[cent]["total"] == "0.01" and by_id[cent]["detail"][0]["itemPrice"] == "0"

    # The summary: counts and exact totals, credit memos subtracting.
    assert summary["counts"]["transactions"] == len(transactions)
    assert Decimal(summary["totals"]["transactions"]) == sum(b["total"] for b in transactions)
    assert summary["document_count"] == len(documents)

    # The review: each credit memo balances by the one rule (header = minus the sum of its lines),
    # and posts as a credit to receivables, its lines as debits.
    review = summary["review"]
    checked = [d for d in documents if d.section in ("transactions", "purchaseTransactions")]
    assert review["balance"] == {"checked": len(checked), "unbalanced_count": 0, "unbalanced": [], "ok": True}
    receivables = review["accounts"]["transactions"]["1200"]
    assert Decimal(receivables["credit"]) == -sum(b["total"] for b in memos.values())
    assert Decimal(receivables["debit"]) == sum(b["total"] for b in transactions if b["total"] > 0)
    revenue = review["accounts"]["transactions"]["4000"]
    memo_lines = [x for b in memos.values() for x in b["detail"] if x["accountNumber"] == "4000"]
    assert Decimal(revenue["debit"]) == sum(x["total"] for x in memo_lines)


def test_a_credit_memo_whose_lines_do_not_offset_it_is_named(connected: Sandbox, tmp_path: Path) -> None:
    broken, fine = credit_memos(connected)
    for line in broken.body["detail"]:
        line["total"] = -line["total"]  # the invoice's sign: header and lines now add up, not cancel
    summary = export_every_collection(tmp_path)
    balance = summary["review"]["balance"]
    assert balance["unbalanced_count"] == 1 and not balance["ok"]
    (named,) = balance["unbalanced"]
    assert named["id"] == broken.body["id"] and named["document_number"] == broken.body["documentNumber"]
    assert (Decimal(named["total"]), Decimal(named["lines"])) == (broken.body["total"], -broken.body["total"])
    assert fine.body["id"] not in {d["id"] for d in balance["unbalanced"]}


def test_posting_only_a_credit_memo_marks_only_its_gl_entries(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    memo, other = credit_memos(connected)
    (cent,) = one_cent(connected)
    result = GLBatchCreateOperator(
        task_id="batch",
        export_summary=summary,
        batch_identifier="CM-ONLY",
        documents=[{"collection": "transactions", "id": memo.body["id"]}],
    ).execute({})

    # The sandbox records which GL entry ids make each document: exactly those were sent.
    (sent,) = [r.json() for r in connected.log.matching("POST", "finance/accounting/batches")]
    assert sorted(sent["processedRecordIds"]) == sorted(memo.gl_entry_ids)
    assert connected.store.posted == {memo.key}
    assert result["counts"] == {"transactions": 1}
    assert Decimal(result["totals"]["transactions"]) == memo.body["total"] < 0
    assert result["reconciled"] is True  # the batch's re-export holds the credit memo, to the cent

    # The next export no longer has it and still has the rest, the other credit memo included.
    again = export_every_collection(tmp_path, "next.xml")
    ids = {int(item["id"]) for item in written(tmp_path / "next.xml")}
    assert memo.body["id"] not in ids and {other.body["id"], cent.body["id"]} <= ids
    assert again["document_count"] == summary["document_count"] - 1
    assert (
        Decimal(again["totals"]["transactions"])
        == Decimal(summary["totals"]["transactions"]) - memo.body["total"]
    )

    # Posting the rest of the day reconciles too: the other credit memo and the one-cent invoice.
    rest = GLBatchCreateOperator(task_id="batch", export_summary=again, batch_identifier="REST").execute({})
    assert rest["reconciled"] is True and rest["posted_documents"] == again["document_count"]
    assert Decimal(rest["totals"]["transactions"]) == Decimal(again["totals"]["transactions"])
    assert not served(connected)
