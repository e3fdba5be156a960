"""The accountant's approval on a real scheduler (`airflow standalone`, see conftest.py): a run of
the post DAG waits for approval with the review in its body; a rejection, and a timeout, load and
post nothing and the records stay for the next export; an approval makes exactly one batch, which
reconciles. Answers go through the REST API (`.../hitlDetails`). Run with `make e2e`.

Unpausing the DAG schedules its latest day at once; that run is the first to wait (and is
rejected), since ``max_active_runs=1`` holds every other run until it ends.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest

from airflow_provider_cwgl.sandbox import Sandbox
from e2e.test_scheduler import answer, api, runs, task_instance, wait, waiting_approvals

pytestmark = pytest.mark.e2e
POST = "cwgl_gl_export_and_post"
APPROVE = "approve_gl_export"
AFTER_APPROVAL = ("load_into_accounting_package", "mark_exported_in_connectwise")


def _ti_state(airflow: dict[str, Any], run_id: str, task_id: str) -> str | None:
    return task_instance(airflow, POST, run_id, task_id)["state"]


def _finished(airflow: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    return next(
        (r for r in runs(airflow, POST) if r["dag_run_id"] == run_id and r["state"] in ("success", "failed")),
        None,
    )


def _waiting(airflow: dict[str, Any], run_id: str) -> dict[str, Any] | None:
    return next(
        (d for d in waiting_approvals(airflow, POST) if d["task_instance"]["dag_run_id"] == run_id), None
    )


def _trigger(airflow: dict[str, Any], day: date, conf: dict[str, Any] | None = None) -> str:
    run = api(
        airflow,
        "POST",
        f"dags/{POST}/dagRuns",
        json={"logical_date": f"{day.isoformat()}T00:00:00Z", "conf": conf or {}},
    )
    return run["dag_run_id"]


def _xcom(airflow: dict[str, Any], run_id: str, task_id: str) -> Any:
    path = f"dags/{POST}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    return api(airflow, "GET", path, params={"deserialize": True})["value"]


@pytest.fixture(scope="module")
def days(sandbox: Sandbox) -> list[date]:
    """Two consecutive days with GL documents of their own."""
    dated = {d.document_date for d in sandbox.store.documents if d.gl_entry_ids}
    day = sandbox.store.today - timedelta(days=5)
    while day - timedelta(days=1) not in dated or day not in dated:
        day -= timedelta(days=1)
    return [day - timedelta(days=1), day]


@pytest.fixture(scope="module")
def scheduled(airflow: dict[str, Any]) -> dict[str, Any]:
    api(airflow, "PATCH", f"dags/{POST}", json={"is_paused": False})
    run = wait("the scheduled run", lambda: next(iter(runs(airflow, POST)), None))
    detail = wait("its approval request", lambda: _waiting(airflow, run["dag_run_id"]), timeout=300)
    return {"run": run, "detail": detail}


def test_a_run_waits_for_approval_with_the_review_in_its_body(
    airflow: dict[str, Any], sandbox: Sandbox, scheduled: dict[str, Any]
) -> None:
    run_id = scheduled["run"]["dag_run_id"]
    detail = api(airflow, "GET", f"dags/{POST}/dagRuns/{run_id}/taskInstances/{APPROVE}/-1/hitlDetails")
    assert detail["options"] == ["Approve", "Reject"] and detail["defaults"] == ["Reject"]
    summary = _xcom(airflow, run_id, "export_gl_batch")
    assert detail["subject"].startswith(f"GL export {scheduled['run']['logical_date'][:10]}: ")
    assert f"{summary['counts']['transactions']} transactions" in detail["subject"]
    assert "## Documents" in detail["body"] and "## GL accounts: transactions" in detail["body"]
    assert summary["sha256"] in detail["body"]
    expected = "awaiting_input" if _airflow_3_3(airflow) else "deferred"
    assert _ti_state(airflow, run_id, APPROVE) == expected
    for task_id in AFTER_APPROVAL:  # nothing loaded or posted while it waits
        assert _ti_state(airflow, run_id, task_id) in (None, "none", "scheduled", "queued")
    assert not sandbox.store.batches


def test_rejecting_posts_nothing(
    airflow: dict[str, Any], sandbox: Sandbox, scheduled: dict[str, Any]
) -> None:
    run_id = scheduled["run"]["dag_run_id"]
    unposted = {d.key for d in sandbox.store.unposted_documents()}
    answer(airflow, scheduled["detail"], "Reject")
    run = wait("the rejected run", lambda: _finished(airflow, run_id))
    assert run["state"] == "success"
    assert [_ti_state(airflow, run_id, t) for t in AFTER_APPROVAL] == ["skipped", "skipped"]
    assert not sandbox.store.batches
    assert sandbox.log.count("POST", "finance/accounting/batches") == 0
    assert {d.key for d in sandbox.store.unposted_documents()} == unposted


def test_a_timeout_rejects_and_approving_the_next_day_posts_both_once(
    airflow: dict[str, Any], sandbox: Sandbox, scheduled: dict[str, Any], days: list[date]
) -> None:
    wait("the rejected run", lambda: _finished(airflow, scheduled["run"]["dag_run_id"]))
    first, second = days
    # No answer within 0.2 minutes: the default answer (Reject) is applied.
    timed_out = _trigger(airflow, first, {"approval_timeout_minutes": 0.2})
    wait("the first day's approval request", lambda: _waiting(airflow, timed_out), timeout=300)
    started = time.monotonic()
    run = wait("the timed-out run", lambda: _finished(airflow, timed_out), timeout=300)
    assert time.monotonic() - started >= 5  # it waited, then timed out
    assert run["state"] == "success"
    assert [_ti_state(airflow, timed_out, t) for t in AFTER_APPROVAL] == ["skipped", "skipped"]
    assert not sandbox.store.batches
    first_day_docs = {d.key for d in sandbox.store.unposted_documents() if d.document_date <= first}
    assert first_day_docs

    approved = _trigger(airflow, second)
    detail = wait("the second day's approval request", lambda: _waiting(airflow, approved), timeout=300)
    answer(airflow, detail, "Approve")
    run = wait("the approved run", lambda: _finished(airflow, approved), timeout=300)
    assert run["state"] == "success"
    [batch] = sandbox.store.batches.values()  # exactly one batch
    assert batch.identifier == f"cwgl-{second:%Y%m%d}-IEP"
    # The records the timed-out day left are in the next day's batch.
    assert first_day_docs <= set(batch.document_keys)
    result = _xcom(airflow, approved, "mark_exported_in_connectwise")
    summary = _xcom(airflow, approved, "export_gl_batch")
    assert result["batch_id"] == batch.id and result["reconciled"] is True
    assert result["sha256"] == summary["sha256"]
    assert result["posted_documents"] == summary["document_count"] == len(batch.document_keys)
    assert sandbox.log.count("POST", f"finance/accounting/batches/{batch.id}/export") >= 1


def _airflow_3_3(airflow: dict[str, Any]) -> bool:
    version = api(airflow, "GET", "version")["version"]
    return tuple(int(p) for p in version.split(".")[:2]) >= (3, 3)
