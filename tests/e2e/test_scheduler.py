"""The example DAGs on a real scheduler: backfills, a cleared posted day, a trigger with no logical
date and a bad setting, through `airflow backfill create` and the REST API of `airflow standalone`
(see conftest.py). Run with `make e2e`.

The DAGs are created paused (Airflow's default): backfills are created first, then the DAGs are
unpaused, as docs/guides/02-backfill-and-rerun.md says; otherwise the backfill's runs would sit queued.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import posting_days

from airflow_provider_cwgl.sandbox import Sandbox

pytestmark = pytest.mark.e2e
DAILY = "cwgl_daily_gl_export"
POST = "cwgl_gl_export_and_post"
API_DEADLINE = 180.0  # seconds for one REST call, reads asked again within it
UNATTENDED = '{"require_approval": false}'


def cli(airflow: dict[str, Any], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=airflow["env"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def backfill(airflow: dict[str, Any], dag_id: str, days: list[date], *options: str) -> str:
    """``airflow backfill create`` from the first to the last of ``days`` (both included)."""
    args = ["backfill", "create", "--dag-id", dag_id, "--from-date", days[0].isoformat()]
    args += ["--to-date", days[-1].isoformat(), *options]
    for attempt in (1, 2, 3):
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=airflow["env"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode == 0 or "database is locked" not in done.stderr or attempt == 3:
            break
        # SQLite refuses at once a writer that would deadlock, whatever its busy timeout. The
        # backfill and its runs are created in one transaction, so a refused one left nothing:
        # check that, then create it again.
        if "--dry-run" not in options:
            left = api(airflow, "GET", "backfills", params={"dag_id": dag_id})["total_entries"]
            assert left == 0, f"a refused backfill of {dag_id} left {left} behind"
        time.sleep(2)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def api(airflow: dict[str, Any], method: str, path: str, **kwargs: Any) -> Any:
    """One REST call. The API server shares SQLite with a busy scheduler on two cores, so an answer
    can take long: reads are asked again until a deadline; a write is sent once, with a long timeout
    (sending it again could trigger or clear twice)."""
    url = f"{airflow['base']}/api/v2/{path}"
    deadline = time.monotonic() + API_DEADLINE
    while True:
        try:
            response = httpx.request(method, url, timeout=API_DEADLINE if method != "GET" else 30, **kwargs)
            break
        except httpx.TransportError:
            if method != "GET" or time.monotonic() > deadline:
                raise
            time.sleep(2)
    assert response.status_code < 300, response.text
    return response.json()


def runs(airflow: dict[str, Any], dag_id: str) -> list[dict[str, Any]]:
    return api(airflow, "GET", f"dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]


def task_instance(airflow: dict[str, Any], dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    return api(airflow, "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")


def waiting_approvals(airflow: dict[str, Any], dag_id: str) -> list[dict[str, Any]]:
    """The HITL requests of ``dag_id`` no one has answered yet."""
    details = api(airflow, "GET", f"dags/{dag_id}/dagRuns/~/hitlDetails", params={"limit": 100})
    return [d for d in details["hitl_details"] if not d["response_received"]]


PARKED = ("awaiting_input", "deferred")  # waiting for an answer: Airflow 3.3+, and 3.1/3.2
# Seconds between a task parking and its answer. Airflow 3.3.2 fails a task answered before the
# scheduler has seen its worker exit ("finished with state success, but the task instance's state
# attribute is queued"); a person takes longer than this, a test must wait for it. On a busy CI
# machine the scheduler saw that exit 5.6 s after the pause (5 s was too short): 15 s leaves room.
ANSWER_AFTER = 15.0


def answer(airflow: dict[str, Any], detail: dict[str, Any], option: str) -> dict[str, Any]:
    """Answer a HITL request, as a person would: once its task is parked, a few seconds later."""
    ti = detail["task_instance"]
    path = f"dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}"
    wait("the task to park", lambda: api(airflow, "GET", path)["state"] in PARKED, timeout=120)
    time.sleep(ANSWER_AFTER)
    return api(airflow, "PATCH", f"{path}/{ti['map_index']}/hitlDetails", json={"chosen_options": [option]})


def wait(what: str, check: Any, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def finished_backfill_runs(airflow: dict[str, Any], dag_id: str, days: list[date]) -> list[dict] | None:
    wanted = {d.isoformat() for d in days}
    found = [
        r for r in runs(airflow, dag_id) if r["run_type"] == "backfill" and r["logical_date"][:10] in wanted
    ]
    if len(found) == len(days) and all(r["state"] in ("success", "failed") for r in found):
        return sorted(found, key=lambda r: r["logical_date"])
    return None


@pytest.fixture(scope="module")
def backfilled(airflow: dict[str, Any], sandbox: Sandbox) -> dict[str, Any]:
    """Both backfills created while the DAGs are paused, then the DAGs unpaused, then finished."""
    daily_days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    post_days = posting_days(sandbox)
    backfill(airflow, DAILY, daily_days)
    # Airflow asks for --reprocess-behavior when a task depends on the past.
    # Backfilled days post unattended; the scheduled run an unpause makes asks for approval.
    backfill(airflow, POST, post_days, "--reprocess-behavior", "failed", "--dag-run-conf", UNATTENDED)
    for dag_id in (DAILY, POST):
        api(airflow, "PATCH", f"dags/{dag_id}", json={"is_paused": False})
    daily = wait("the daily backfill", lambda: finished_backfill_runs(airflow, DAILY, daily_days))
    post = wait("the posting backfill", lambda: finished_backfill_runs(airflow, POST, post_days), timeout=360)

    # Unpausing also scheduled the latest day of each DAG. Let those finish too: a clear or a
    # trigger while they write would contend with them for SQLite's single write lock.
    def scheduled_runs_done() -> bool:
        for pending in waiting_approvals(airflow, POST):
            answer(airflow, pending, "Approve")
        return all(r["state"] in ("success", "failed") for d in (DAILY, POST) for r in runs(airflow, d))

    wait("the scheduled runs", scheduled_runs_done, timeout=360)
    return {"daily_days": daily_days, "daily": daily, "post_days": post_days, "post": post}


def test_backfill_dry_run_lists_the_business_days(airflow: dict[str, Any]) -> None:
    out = backfill(airflow, DAILY, [date(2026, 3, 1), date(2026, 3, 3)], "--dry-run")
    listed = re.findall(r"(\d{4}-\d{2}-\d{2})[ T]00:00:00", out.split("Runs to be attempted")[-1])
    assert listed == ["2026-03-01", "2026-03-02", "2026-03-03"], out


def test_daily_backfill_writes_one_file_per_day(
    airflow: dict[str, Any], sandbox: Sandbox, backfilled: dict[str, Any]
) -> None:
    assert [r["state"] for r in backfilled["daily"]] == ["success"] * 3
    for day in backfilled["daily_days"]:
        assert (Path(airflow["exports"]) / "gl" / day.isoformat() / "glexport.xml").exists()
    thru = {r.json().get("thruDate") for r in sandbox.log.matching("POST", "finance/accounting/export")}
    assert {f"{d.isoformat()}T00:00:00Z" for d in backfilled["daily_days"]} <= thru


def _day_batches(sandbox: Sandbox, days: list[date]) -> list[Any]:
    by_identifier = {b.identifier: b for b in sandbox.store.batches.values()}
    return [by_identifier.get(f"cwgl-{d:%Y%m%d}-IEP") for d in days]


def test_posting_backfill_gives_disjoint_batches_in_date_order(
    sandbox: Sandbox, backfilled: dict[str, Any]
) -> None:
    assert [r["state"] for r in backfilled["post"]] == ["success"] * 3
    batches = _day_batches(sandbox, backfilled["post_days"])
    assert all(b is not None and b.document_keys for b in batches)
    keys = [set(b.document_keys) for b in batches]
    assert not (keys[0] & keys[1] or keys[1] & keys[2] or keys[0] & keys[2])
    assert [b.id for b in batches] == sorted(b.id for b in batches)  # created day after day
    days = backfilled["post_days"]
    for n, batch in enumerate(batches):
        docs = sandbox.store.batch_documents(batch)
        assert all(d.document_date <= days[n] for d in docs)
        if n:  # exported only once the day before was posted: nothing of that day is left in it
            assert all(d.document_date > days[n - 1] for d in docs)


def test_clearing_a_posted_day_rewrites_the_same_file_and_no_batch(
    airflow: dict[str, Any], sandbox: Sandbox, backfilled: dict[str, Any]
) -> None:
    day = backfilled["post_days"][1]
    run = backfilled["post"][1]
    path = Path(airflow["exports"]) / "posted" / day.isoformat() / "glexport.xml"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    batch = _day_batches(sandbox, [day])[0]
    creates = [r for r in sandbox.log.matching("POST", "finance/accounting/batches")]
    api(
        airflow,
        "POST",
        f"dags/{POST}/clearTaskInstances",
        json={
            "dry_run": False,
            "dag_run_id": run["dag_run_id"],
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )

    def rerun_done() -> bool:
        ti = task_instance(airflow, POST, run["dag_run_id"], "mark_exported_in_connectwise")
        return ti["try_number"] >= 2 and ti["state"] in ("success", "failed")

    wait("the cleared run", rerun_done)
    ti = task_instance(airflow, POST, run["dag_run_id"], "mark_exported_in_connectwise")
    assert ti["state"] == "success"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sum(b.identifier == batch.identifier for b in sandbox.store.batches.values()) == 1
    assert (
        sandbox.log.count("POST", f"finance/accounting/batches/{batch.id}/export") >= 2
    )  # re-export + check
    # No batch POST for this day: any new one belongs to another day (the scheduled run).
    new_posts = [r.json() for r in sandbox.log.matching("POST", "finance/accounting/batches")][len(creates) :]
    assert all(p["batchIdentifier"] != batch.identifier for p in new_posts)


def _trigger(
    airflow: dict[str, Any], conf: dict[str, Any], logical_date: str | None = None
) -> dict[str, Any]:
    body = {"logical_date": logical_date, "conf": conf}
    run = api(airflow, "POST", f"dags/{DAILY}/dagRuns", json=body)
    return wait(
        "the triggered run",
        lambda: next(
            (
                r
                for r in runs(airflow, DAILY)
                if r["dag_run_id"] == run["dag_run_id"] and r["state"] in ("success", "failed")
            ),
            None,
        ),
    )


def test_trigger_without_logical_date_names_the_file_by_its_thru_date(
    airflow: dict[str, Any], sandbox: Sandbox, backfilled: dict[str, Any]
) -> None:
    run = _trigger(airflow, {"thru_date": "2026-02-20"})
    assert run["state"] == "success" and run["logical_date"] is None
    assert (Path(airflow["exports"]) / "gl" / "2026-02-20" / "glexport.xml").exists()
    bodies = [r.json() for r in sandbox.log.matching("POST", "finance/accounting/export")]
    assert any(b.get("thruDate") == "2026-02-20T00:00:00Z" for b in bodies)


def test_trigger_with_a_logical_date_and_a_thru_date_names_the_file_by_the_thru_date(
    airflow: dict[str, Any], sandbox: Sandbox, backfilled: dict[str, Any]
) -> None:
    run = _trigger(airflow, {"thru_date": "2026-02-22"}, logical_date="2026-03-20T00:00:00Z")
    assert run["state"] == "success" and run["logical_date"].startswith("2026-03-20")
    assert (Path(airflow["exports"]) / "gl" / "2026-02-22" / "glexport.xml").exists()
    assert not (Path(airflow["exports"]) / "gl" / "2026-03-20").exists()
    bodies = [r.json() for r in sandbox.log.matching("POST", "finance/accounting/export")]
    assert any(b.get("thruDate") == "2026-02-22T00:00:00Z" for b in bodies)


def test_bad_setting_fails_after_one_try(airflow: dict[str, Any], backfilled: dict[str, Any]) -> None:
    run = _trigger(airflow, {"thru_date": "2026-02-21", "export_unposted_invoices": False})
    assert run["state"] == "failed"
    ti = task_instance(airflow, DAILY, run["dag_run_id"], "export_gl_batch")
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    assert not (Path(airflow["exports"]) / "gl" / "2026-02-21" / "glexport.xml").exists()
