"""The approval step: its subject and body (the review, what needs attention first) and its
params (approvers, timeout), each refused naming the param."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from conftest import export_every_collection

from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.operators.approval import (
    parse_approvers,
    parse_timeout,
    review_body,
    review_subject,
)
from airflow_provider_cwgl.sandbox import generated_store
from airflow_provider_cwgl.sandbox.store import ExportFilter


def test_subject_and_body_put_what_needs_attention_first(
    make_sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store = generated_store(transactions=20)
    invoice = next(d for d in store.documents if d.section == "transactions")
    invoice.body["accountNumber"] = ""
    sandbox = make_sandbox(store)
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
    summary = export_every_collection(tmp_path)
    exported = {d.key for d in sandbox.store.select(ExportFilter(True, True, True, date(2026, 3, 1)))}
    subject = review_subject(summary, "2026-03-01")
    assert subject.startswith(f"GL export 2026-03-01: {summary['counts']['transactions']} transactions")
    assert subject.endswith("(1 need attention)")
    # The days the file covers, per collection: the earliest and latest documentDate served.
    for section in ("transactions", "expenses", "purchaseTransactions"):
        days = sorted(d.document_date for d in store.documents if d.section == section and d.key in exported)
        span = {"first": days[0].isoformat(), "last": days[-1].isoformat()}
        assert summary["document_dates"][section] == span
        dated = f" dated {span['first']}" + (f" to {span['last']}" if days[0] != days[-1] else "")
        assert f"{summary['counts'][section]} {section}{dated}" in subject
    body = review_body(summary)
    assert body.index("## Needs attention") < body.index("## Documents") < body.index("## GL accounts")
    assert f"transactions id {invoice.body['id']}" in body and summary["sha256"] in body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([], None),
        ("", None),
        (["ann", "bob"], [{"id": "ann", "name": "ann"}, {"id": "bob", "name": "bob"}]),
        ("ann, bob", [{"id": "ann", "name": "ann"}, {"id": "bob", "name": "bob"}]),
        ('[{"id": "7", "name": "Ann"}]', [{"id": "7", "name": "Ann"}]),
    ],
)
def test_approvers_param(value: object, expected: object) -> None:
    assert parse_approvers(value) == expected


@pytest.mark.parametrize("value", [0, -1, "soon", None, float("inf"), [True]])
def test_bad_timeout_or_approvers_name_the_param(value: object) -> None:
    with pytest.raises(SettingError, match="approval_timeout_minutes"):
        parse_timeout(value)
    if isinstance(value, list):
        with pytest.raises(SettingError, match="approvers"):
            parse_approvers(value)


def test_malformed_approvers_json_names_the_param() -> None:
    with pytest.raises(SettingError, match=r"^approvers: expected a JSON list of user ids, got '\[ann'"):
        parse_approvers("[ann")
