"""GLExportToXeroOperator against the ConnectWise sandbox and the sandbox Xero on loopback: the
export loaded, its return value posted as is, exactly once, refusals named with Xero's message;
every Xero exchange refereed by Xero's OpenAPI description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import export_every_collection, fails_task, secret_fragments, without_adjustments

from airflow_provider_cwgl.errors import SettingError, XeroRefusedError
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.xero import GLExportToXeroOperator, check_refused
from airflow_provider_cwgl.sandbox import Sandbox, generated_store
from airflow_provider_cwgl.sandbox.xero import XeroSandbox
from airflow_provider_cwgl.sandbox.xero.connectwise_books import ACCOUNT_CODES, TAX_TYPES


class PushedXCom:
    """The one part of a task instance the operator uses: ``xcom_push``, recorded."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@pytest.fixture
def connected(make_sandbox: Any, xero_books: XeroSandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    sandbox = make_sandbox(without_adjustments(generated_store(transactions=40)))
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    monkeypatch.setenv("AIRFLOW_CONN_XERO_DEFAULT", json.dumps(xero_books.connection()))
    return sandbox


def load(summary: Any, **kwargs: Any) -> tuple[list[dict[str, Any]], PushedXCom]:
    ti = PushedXCom()
    settings = {"account_codes": ACCOUNT_CODES, "tax_types": TAX_TYPES, **kwargs}
    loaded = GLExportToXeroOperator(task_id="load", export_summary=summary, **settings).execute({"ti": ti})  # type: ignore[arg-type]
    return loaded, ti


def refereed(xero: XeroSandbox, xero_referee: Any) -> None:
    xero_referee.check_sandbox(xero)


def test_an_export_loads_and_its_return_value_posts_as_is(
    connected: Sandbox, xero_books: XeroSandbox, xero_referee: Any, tmp_path: Path
) -> None:
    summary = export_every_collection(tmp_path)
    loaded, ti = load(summary)
    assert ti.pushed == {"refused": []}
    documents = sum(n for c, n in summary["counts"].items() if c not in ("customers", "vendors"))
    assert len(loaded) == documents
    assert all(d["created"] and d["xero_id"] and d["number"] for d in loaded)
    store = xero_books.store
    assert len(store.invoices) + len(store.credit_notes) + len(store.manual_journals) == documents
    posted = GLBatchCreateOperator(task_id="post", export_summary=summary, documents=loaded).execute({})
    assert posted["posted_documents"] == documents and posted["not_posted_documents"] == 0
    assert posted["created"] is True
    refereed(xero_books, xero_referee)


def test_a_cleared_task_creates_nothing_new(
    connected: Sandbox, xero_books: XeroSandbox, tmp_path: Path
) -> None:
    summary = export_every_collection(tmp_path)
    first, _ = load(summary)
    store = xero_books.store
    before = [len(store.invoices), len(store.credit_notes), len(store.manual_journals), len(store.contacts)]
    again, _ = load(summary)
    assert [
        len(store.invoices),
        len(store.credit_notes),
        len(store.manual_journals),
        len(store.contacts),
    ] == before
    assert [d for d in again if d["created"]] == []
    assert sorted(d["xero_id"] for d in again) == sorted(d["xero_id"] for d in first)


def test_refused_documents_are_not_returned_and_are_named_with_xeros_message(
    connected: Sandbox, xero_books: XeroSandbox, tmp_path: Path
) -> None:
    summary = export_every_collection(tmp_path)
    codes = {k: v for k, v in ACCOUNT_CODES.items() if k != "6200"}  # the expense bills' account
    loaded, ti = load(summary, account_codes=codes)
    refused = ti.pushed["refused"]
    assert refused and {r["collection"] for r in refused} == {"expenseBills"}
    assert {r["id"] for r in refused}.isdisjoint(d["id"] for d in loaded if d["collection"] == "expenseBills")
    assert len(loaded) + len(refused) == sum(
        n for c, n in summary["counts"].items() if c not in ("customers", "vendors")
    )
    with fails_task(XeroRefusedError) as failure:
        check_refused(refused)
    message = str(failure.value)
    assert f"{len(refused)} document(s) not loaded into Xero" in message
    assert (
        f"expenseBills {refused[0]['id']}: Account code '6200' is not a valid code for this document."
        in message
    )
    check_refused(None)  # the load did not run: nothing to report
    check_refused([])


@pytest.mark.parametrize(
    ("settings", "setting", "message"),
    [
        ({"invoice_status": "PAID"}, "invoice_status", "accepted: DRAFT, AUTHORISED"),
        ({"account_codes": "[4000]"}, "account_codes", "expected a dict"),
        ({"tax_types": {"T1": ""}}, "tax_types", "an empty code"),
        ({"documents": [{"collection": "transactions", "id": 1}]}, "documents", "not in the export"),
        ({"documents": "not a list"}, "documents", "expected a list"),
    ],
)
def test_bad_settings_fail_before_any_request(
    connected: Sandbox,
    xero_books: XeroSandbox,
    tmp_path: Path,
    settings: dict[str, Any],
    setting: str,
    message: str,
) -> None:
    summary = export_every_collection(tmp_path)
    with fails_task(SettingError, match=setting) as failure:
        load(summary, **settings)
    assert message in str(failure.value)
    assert xero_books.requests == []


def test_a_file_that_is_not_the_approved_one_is_not_loaded(
    connected: Sandbox, xero_books: XeroSandbox, tmp_path: Path
) -> None:
    summary = export_every_collection(tmp_path)
    Path(summary["output"]).write_bytes(
        Path(summary["output"]).read_bytes().replace(b"<total>", b"<total>1", 1)
    )
    with fails_task(SettingError, match="export_summary") as failure:
        load(summary)
    assert "is not the file approved" in str(failure.value)
    assert xero_books.requests == []


def test_only_the_documents_asked_for_load(
    connected: Sandbox, xero_books: XeroSandbox, tmp_path: Path
) -> None:
    summary = export_every_collection(tmp_path)
    everything, _ = load(summary)
    chosen = [{"collection": d["collection"], "id": d["id"]} for d in everything[:3]]
    again, _ = load(summary, documents=json.dumps(chosen))  # as a template renders it
    assert [(d["collection"], d["id"]) for d in again] == [(c["collection"], c["id"]) for c in chosen]


def test_no_secret_in_the_return_value_xcom_or_logs(
    connected: Sandbox, xero_books: XeroSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    summary = export_every_collection(tmp_path)
    loaded, ti = load(summary, account_codes={"4000": "200"})  # most documents refused: messages kept
    secret = xero_books.credentials["client_secret"]
    kept = json.dumps([loaded, ti.pushed], default=str) + caplog.text
    assert secret_fragments(kept, [secret], 8) == []
    assert list(xero_books.tokens) and all(token not in kept for token in xero_books.tokens)


def test_templated_fields() -> None:
    assert set(GLExportToXeroOperator.template_fields) == {
        "export_summary",
        "xero_conn_id",
        "export_file_conn_id",
        "account_codes",
        "tax_types",
        "invoice_status",
        "documents",
    }
