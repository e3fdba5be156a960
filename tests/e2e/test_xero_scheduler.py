"""The post DAG loading into Xero on a real scheduler (`airflow standalone`, see conftest.py), with
Stoplight Prism validating every Xero request and answer against Xero's own description: export ->
approve in the UI's API -> load into the sandbox Xero -> post; a cleared day creates nothing new in
Xero; a document Xero refuses stays unposted, is named with Xero's message, and comes back in the
next day's export. Run with `make e2e`.

The Xero settings reach the tasks as an operator would set them for a deployment: the connection
and the Variables in the scheduler's environment, read by each task when it runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from xero_prism import PrismProxy, prism_missing, start_prism, write_prism_copy

from airflow_provider_cwgl.sandbox import Sandbox
from airflow_provider_cwgl.sandbox.xero import XeroLimits, XeroSandbox
from airflow_provider_cwgl.sandbox.xero.connectwise_books import ACCOUNT_CODES, TAX_TYPES, connectwise_books
from e2e.test_approvals import _finished, _trigger, _waiting
from e2e.test_scheduler import answer, api, runs, task_instance, wait

pytestmark = pytest.mark.e2e
POST = "cwgl_gl_export_and_post"
LOAD = "load_into_accounting_package"
UNMAPPED = "6200"  # the expense bills' GL account: unmapped, Xero refuses those bills


@pytest.fixture(scope="module")
def xero(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[XeroSandbox, PrismProxy]]:
    missing = prism_missing()
    if missing:
        pytest.fail(missing)  # `make e2e` installs Prism (make prism) before it runs
    folder = tmp_path_factory.mktemp("xero")
    with XeroSandbox(connectwise_books(), limits=XeroLimits(minute=1.0)) as sandbox:
        proxy = start_prism(write_prism_copy(folder / "xero.prism.json"), sandbox.url, folder / "prism.log")
        try:
            yield sandbox, proxy
        finally:
            proxy.stop()


@pytest.fixture(scope="module")
def airflow_env(xero: tuple[XeroSandbox, PrismProxy]) -> dict[str, str]:
    sandbox, proxy = xero
    return {
        "AIRFLOW_CONN_XERO_BOOKS": json.dumps(sandbox.connection(host=proxy.url)),
        "CWGL_XERO_CONN_ID": "xero_books",
        "AIRFLOW_VAR_CWGL_XERO_ACCOUNT_CODES": json.dumps(ACCOUNT_CODES),
        "AIRFLOW_VAR_CWGL_XERO_TAX_TYPES": json.dumps(TAX_TYPES),
    }


def _xcom(airflow: dict[str, Any], run_id: str, task_id: str, key: str = "return_value") -> Any:
    path = f"dags/{POST}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
    return api(airflow, "GET", path, params={"deserialize": True})["value"]


def _books(sandbox: XeroSandbox) -> list[str]:
    store = sandbox.store
    return sorted(
        [i["InvoiceID"] for i in store.invoices]
        + [c["CreditNoteID"] for c in store.credit_notes]
        + [j["ManualJournalID"] for j in store.manual_journals]
    )


def _writes(sandbox: XeroSandbox) -> int:
    """Writes to the accounting API (its paths are relative; a token request's is not)."""
    return sum(1 for r in sandbox.requests if r.method in ("PUT", "POST") and not r.path.startswith("/"))


def _trigger_day(airflow: dict[str, Any], day: date, conf: dict[str, Any]) -> str:
    """Trigger ``day``; when SQLite refused the write ("Database error": the API server shares the
    file with a busy scheduler), trigger again only if no run of that day was made."""
    for attempt in (1, 2, 3):
        try:
            return _trigger(airflow, day, conf)
        except AssertionError as exc:
            if "Database error" not in str(exc) or attempt == 3:
                raise
        time.sleep(2)
        made = [r for r in runs(airflow, POST) if r["logical_date"][:10] == day.isoformat()]
        if made:
            return str(made[-1]["dag_run_id"])
    raise AssertionError("unreachable")


def _days(sandbox: Sandbox) -> tuple[date, date, date]:
    """Three posting days, the second with expense bills (the documents the refusal test unmaps)."""
    dated = sorted({d.document_date for d in sandbox.store.documents if d.gl_entry_ids})
    dated = [d for d in dated if d <= sandbox.store.today]
    bills = {d.document_date for d in sandbox.store.documents if d.section == "expenseBills"}
    second = next(d for d in reversed(dated[1:-1]) if d in bills)
    return max(d for d in dated if d < second), second, min(d for d in dated if d > second)


def _unposted_bills(sandbox: Sandbox) -> set[str]:
    return {str(d.body["id"]) for d in sandbox.store.unposted_documents() if d.section == "expenseBills"}


@pytest.fixture(scope="module")
def loaded_day(
    airflow: dict[str, Any], sandbox: Sandbox, xero: tuple[XeroSandbox, PrismProxy]
) -> dict[str, Any]:
    """The first of three posting days, approved and loaded. Unpausing schedules the latest day at
    once (every record up to today): that run is rejected first, so it loads and posts nothing."""
    api(airflow, "PATCH", f"dags/{POST}", json={"is_paused": False})
    scheduled = wait("the scheduled run", lambda: next(iter(runs(airflow, POST)), None))
    detail = wait("its approval request", lambda: _waiting(airflow, scheduled["dag_run_id"]), timeout=300)
    answer(airflow, detail, "Reject")
    wait("the rejected run", lambda: _finished(airflow, scheduled["dag_run_id"]), timeout=300)
    assert not sandbox.store.batches and _books(xero[0]) == []
    day = _days(sandbox)[0]
    run_id = _trigger_day(airflow, day, {})
    detail = wait("the approval request", lambda: _waiting(airflow, run_id), timeout=300)
    assert "Xero" in detail["body"] and "`xero_books`" in detail["body"]  # what goes where
    answer(airflow, detail, "Approve")
    run = wait("the approved run", lambda: _finished(airflow, run_id), timeout=300)
    return {"day": day, "run": run, "books": _books(xero[0])}


def test_an_approved_day_is_loaded_into_xero_then_posted(
    airflow: dict[str, Any],
    sandbox: Sandbox,
    xero: tuple[XeroSandbox, PrismProxy],
    loaded_day: dict[str, Any],
) -> None:
    run_id = loaded_day["run"]["dag_run_id"]
    assert loaded_day["run"]["state"] == "success"
    summary = _xcom(airflow, run_id, "export_gl_batch")
    loaded = _xcom(airflow, run_id, LOAD)
    posted = _xcom(airflow, run_id, "mark_exported_in_connectwise")
    assert _xcom(airflow, run_id, LOAD, "refused") == []
    assert len(loaded) == summary["document_count"] == posted["posted_documents"] > 0
    assert sorted(d["xero_id"] for d in loaded) == loaded_day["books"]
    [batch] = sandbox.store.batches.values()
    assert posted["batch_id"] == batch.id and posted["reconciled"] is True
    assert xero[1].violations() == []  # Prism saw every call of the load: none off Xero's description


def test_a_cleared_day_creates_nothing_new_in_xero(
    airflow: dict[str, Any],
    sandbox: Sandbox,
    xero: tuple[XeroSandbox, PrismProxy],
    loaded_day: dict[str, Any],
) -> None:
    xero_sandbox, proxy = xero
    run_id = loaded_day["run"]["dag_run_id"]
    writes = _writes(xero_sandbox)
    api(
        airflow,
        "POST",
        f"dags/{POST}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "only_failed": False, "reset_dag_runs": True},
    )
    detail = wait("the cleared run's approval request", lambda: _waiting(airflow, run_id), timeout=300)
    answer(airflow, detail, "Approve")

    def rerun_done() -> bool:
        ti = task_instance(airflow, POST, run_id, "mark_exported_in_connectwise")
        return ti["try_number"] >= 2 and ti["state"] in ("success", "failed")

    wait("the cleared run", rerun_done, timeout=300)
    assert task_instance(airflow, POST, run_id, "mark_exported_in_connectwise")["state"] == "success"
    assert _books(xero_sandbox) == loaded_day["books"]  # nothing created twice
    assert _writes(xero_sandbox) == writes
    assert len(sandbox.store.batches) == 1
    assert proxy.violations() == []


def test_a_bill_xero_refuses_stays_unposted_and_comes_back(
    airflow: dict[str, Any],
    sandbox: Sandbox,
    xero: tuple[XeroSandbox, PrismProxy],
    loaded_day: dict[str, Any],
) -> None:
    xero_sandbox, proxy = xero
    _, second, third = _days(sandbox)
    unmapped = {k: v for k, v in ACCOUNT_CODES.items() if k != UNMAPPED}
    refused_run = _trigger_day(airflow, second, {"require_approval": False, "xero_account_codes": unmapped})
    run = wait("the run with refused bills", lambda: _finished(airflow, refused_run), timeout=300)
    assert run["state"] == "failed"  # visible to the finance team...
    for task_id in (LOAD, "mark_exported_in_connectwise"):  # ...after the rest was loaded and posted
        assert task_instance(airflow, POST, refused_run, task_id)["state"] == "success"
    assert task_instance(airflow, POST, refused_run, "check_refused")["state"] == "failed"
    refused = _xcom(airflow, refused_run, LOAD, "refused")
    bills = {str(r["id"]) for r in refused}
    assert bills and {r["collection"] for r in refused} == {"expenseBills"}
    message = f"Account code '{UNMAPPED}' is not a valid code for this document."
    assert all(message in r["messages"] for r in refused)
    assert bills <= _unposted_bills(sandbox)  # not marked exported in ConnectWise

    # The next day, with the Variables' full mapping, the next export carries them and they load.
    following = _trigger_day(airflow, third, {"require_approval": False})
    assert (
        wait("the next day's run", lambda: _finished(airflow, following), timeout=300)["state"] == "success"
    )
    loaded = _xcom(airflow, following, LOAD)
    assert bills <= {str(d["id"]) for d in loaded if d["collection"] == "expenseBills"}
    assert not bills & _unposted_bills(sandbox)
    assert len(set(_books(xero_sandbox))) == len(_books(xero_sandbox))
    assert proxy.violations() == []
