"""The export's review: counts, totals, balance, unmapped documents and GL account totals, built
while writing, against the sandbox on loopback; and its Markdown."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import export_every_collection
from lxml import etree

from airflow_provider_cwgl.glexport.documents import DOCUMENTS_SUFFIX, read_documents
from airflow_provider_cwgl.glexport.review import MAX_LISTED_DOCUMENTS, ReviewBuilder, render_review
from airflow_provider_cwgl.sandbox import Sandbox, generated_store


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def _xml_accounts(path: Path) -> dict[str, dict[str, list[Decimal]]]:
    """Debit/credit per account read back from the written XML, independently of the builder."""
    root = etree.parse(str(path)).getroot()
    out: dict[str, dict[str, list[Decimal]]] = {}
    shapes = {
        "transactions": ("transaction", "accountNumber", ["detail/detailItem"]),
        "purchaseTransactions": (
            "purchaseTransaction",
            "apAccountNumber",
            ["purchaseDetail/purchaseDetailItem", "purchaseDetailTax/purchaseDetailTaxItem"],
        ),
    }
    for collection, (item, header, lines) in shapes.items():
        accounts = out.setdefault(collection, {})
        for element in root.findall(f"{collection}/{item}"):
            pairs = [(element.findtext(header), element.findtext("total"))]
            for path_ in lines:
                pairs += [
                    (li.findtext("accountNumber"), li.findtext("total")) for li in element.findall(path_)
                ]
            for account, total in pairs:
                amount = Decimal(total or "0")
                sums = accounts.setdefault(account or "(no account)", [Decimal(0), Decimal(0)])
                if amount >= 0:
                    sums[0] += amount
                else:
                    sums[1] -= amount
    return {c: a for c, a in out.items() if a}


# -- what the review holds ----------------------------------------------------------------------


def test_review_counts_totals_and_accounts_match_the_file(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    review = summary["review"]
    root = etree.parse(str(tmp_path / "glexport.xml")).getroot()
    for collection, values in review["collections"].items():
        assert values["count"] == len(root.find(collection))
    expected = _xml_accounts(tmp_path / "glexport.xml")
    got = {
        c: {a: [Decimal(v["debit"]), Decimal(v["credit"])] for a, v in accounts.items()}
        for c, accounts in review["accounts"].items()
    }
    assert got == expected
    for collection, accounts in got.items():  # balanced documents: debits equal credits
        assert sum(d for d, _ in accounts.values()) == sum(c for _, c in accounts.values()), collection
    assert review["balance"]["ok"] and review["unmapped"]["count"] == 0
    assert all(isinstance(v["debit"], str) for a in review["accounts"].values() for v in a.values())


def test_unbalanced_and_unmapped_documents_are_listed(
    make_sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = generated_store(transactions=40)
    invoices = [d for d in store.documents if d.section == "transactions"]
    invoices[0].body["total"] = invoices[0].body["total"] + Decimal("0.01")
    invoices[1].body["detail"][0]["accountNumber"] = ""
    invoices[2].body["accountNumber"] = None
    sandbox = make_sandbox(store)
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    review = export_every_collection(tmp_path)["review"]
    assert review["balance"]["unbalanced_count"] == 1
    assert review["balance"]["unbalanced"][0]["id"] == invoices[0].body["id"]
    unmapped = {d["id"]: d["missing"] for d in review["unmapped"]["documents"]}
    assert unmapped == {
        invoices[1].body["id"]: ["detail line 1 accountNumber"],
        invoices[2].body["id"]: ["header accountNumber"],
    }
    text = render_review(review)
    attention = text.split("## Documents")[0]
    assert "## Needs attention" in attention
    for doc in invoices[:3]:
        assert f"transactions id {doc.body['id']}" in attention


def test_at_most_n_documents_are_listed_but_all_are_counted() -> None:
    builder = ReviewBuilder()
    for n in range(MAX_LISTED_DOCUMENTS + 5):
        builder.add("transactions", {"id": n, "total": Decimal(1), "detail": [{"total": Decimal(0)}]})
    review = builder.result()
    assert review["balance"]["unbalanced_count"] == MAX_LISTED_DOCUMENTS + 5
    assert len(review["balance"]["unbalanced"]) == MAX_LISTED_DOCUMENTS
    assert review["unmapped"]["count"] == MAX_LISTED_DOCUMENTS + 5
    assert "… and 5 more" in render_review(review)


def test_sums_are_exact_decimals() -> None:
    builder = ReviewBuilder()
    big = Decimal("12345678901234567890123456789.01")
    for _ in range(3):
        builder.add("transactions", {"id": 1, "accountNumber": "1200", "total": big, "detail": []})
    review = builder.result()
    assert review["collections"]["transactions"]["total"] == "37037036703703703670370370367.03"
    assert review["accounts"]["transactions"]["1200"] == {
        "debit": "37037036703703703670370370367.03",
        "credit": "0",
    }


def test_markdown_escapes_table_cells() -> None:
    builder = ReviewBuilder()
    builder.add("transactions", {"id": "a|b", "accountNumber": "4|0", "total": Decimal(0), "detail": []})
    text = render_review(builder.result(), title="Day")
    assert text.startswith("# Day\n")
    assert "| 4\\|0 | 0 | 0 |" in text


# -- the documents file -------------------------------------------------------------------------


def test_documents_file_ties_gl_entry_ids_to_documents(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    assert summary["gl_documents_file"] == str(tmp_path / ("glexport.xml" + DOCUMENTS_SUFFIX))
    with open(summary["gl_documents_file"], "rb") as source:
        docs = list(read_documents(source, summary["sha256"]))
    by_key = {(d["collection"], str(d["id"])): set(d["gl_entry_ids"]) for d in docs}
    store_docs = {(d.section, str(d.body["id"])): d.gl_entry_ids for d in connected.store.documents}
    for key, ids in by_key.items():
        assert ids == set(store_docs[key]), key
    assert len(docs) == summary["document_count"]
    union = set().union(*by_key.values())
    assert len(union) == summary["gl_entry_id_count"]


def test_documents_file_of_another_export_is_refused(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    with (
        open(summary["gl_documents_file"], "rb") as source,
        pytest.raises(ValueError, match="another export"),
    ):
        list(read_documents(source, "0" * 64))


def test_the_spec_samples_accounts(
    cw_sample_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The guide's samples: invoice 119 debits AR 9999 with 10 and credits sales 4000 with 10 (its
    tax line, 9999, is 0); the purchase debits AP 9000 with 12.5 and credits 4001 with 12.5."""
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sample_sandbox.connection()))
    review = export_every_collection(tmp_path)["review"]
    assert review["accounts"] == {
        "transactions": {"4000": {"debit": "0", "credit": "10"}, "9999": {"debit": "10", "credit": "0"}},
        "purchaseTransactions": {
            "4001": {"debit": "0", "credit": "12.5"},
            "9000": {"debit": "12.5", "credit": "0"},
        },
    }
    assert review["balance"]["ok"] and review["balance"]["checked"] == 2
