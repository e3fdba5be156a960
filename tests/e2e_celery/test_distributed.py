"""The example DAGs on a distributed Airflow (see conftest.py): CeleryExecutor with two workers that
share no folder, Postgres, Redis, output on S3, credentials only in connections. Run with
`make e2e-celery`.

A backfill of ``cwgl_gl_export_and_post`` over three posting days and one run of
``cwgl_gl_export_by_location`` are made through the REST API, as an operator would; then: every
task succeeded, both workers ran tasks, every export and its GL entry ids are objects in the bucket
(none on a worker's disk), and the sandbox holds one batch per day, disjoint, made in date order.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import posting_days

from airflow_provider_cwgl.glexport.documents import read_documents

from .conftest import BUCKET, OUTPUT_ROOT, WORKERS, Deployment

pytestmark = pytest.mark.e2e_celery
POST = "cwgl_gl_export_and_post"
BY_LOCATION = "cwgl_gl_export_by_location"
# The runs' conf: DAG params a deployment sets per run go here.
# Posting unattended: the approval step (human-in-the-loop) is tested on a real scheduler in
# tests/e2e/test_approvals.py; here the branch skips it.
POST_CONF: dict[str, Any] = {"require_approval": False}
SKIPPED_BY_DESIGN = {"approve_gl_export"}
BY_LOCATION_CONF: dict[str, Any] = {}
RUNS_TIMEOUT = 300.0  # seconds for all four runs to finish


def api(deployment: Deployment, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(method, f"{deployment.base}/api/v2/{path}", timeout=60, **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def task_instances(deployment: Deployment, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return api(deployment, "GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})[
        "task_instances"
    ]


def xcom(deployment: Deployment, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
    entry = api(
        deployment,
        "GET",
        f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        params={"map_index": map_index, "deserialize": True},
    )
    return entry["value"]


def task_log(deployment: Deployment, ti: dict[str, Any]) -> tuple[str, Path] | None:
    """The worker whose folder holds ``ti``'s log of its latest try, and the file."""
    parts = [f"dag_id={ti['dag_id']}", f"run_id={ti['dag_run_id']}", f"task_id={ti['task_id']}"]
    if ti["map_index"] >= 0:
        parts.append(f"map_index={ti['map_index']}")
    for name, home in deployment.worker_homes.items():
        path = home.joinpath("logs", *parts, f"attempt={ti['try_number']}.log")
        if path.exists():
            return name, path
    return None


def log_lines(path: Path) -> list[str]:
    """A task log (JSON lines) as ``level: event``, an error as its exceptions' types and messages."""
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            lines.append(text)
            continue
        errors = [f"{e['exc_type']}: {e['exc_value']}" for e in entry.get("error_detail") or []]
        lines.append(f"{entry.get('level')}: {entry.get('event')}" + "".join(f"\n    {e}" for e in errors))
    return lines


def describe_failure(deployment: Deployment, ti: dict[str, Any]) -> str:
    where = task_log(deployment, ti)
    tail = "\n".join(log_lines(where[1])[-12:]) if where else "(no log)"
    return (
        f"{ti['dag_id']} {ti['dag_run_id']} {ti['task_id']}[{ti['map_index']}] is {ti['state']} "
        f"after try {ti['try_number']} on {ti['hostname'] or '?'}; its log ends:\n{tail}"
    )


def object_key(url: str) -> str:
    """The bucket key of an ``s3://[conn@]bucket/key`` URL; the bucket must be ours."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname) == ("s3", BUCKET), url
    return parts.path.lstrip("/")


@pytest.fixture(scope="module")
def ran(deployment: Deployment) -> dict[str, Any]:
    """The backfill and the per-location run, made through the REST API, finished."""
    days = posting_days(deployment.sandbox)
    for dag_id in (POST, BY_LOCATION):
        api(deployment, "PATCH", f"dags/{dag_id}", json={"is_paused": False})
    api(
        deployment,
        "POST",
        "backfills",
        json={
            "dag_id": POST,
            "from_date": f"{days[0]}T00:00:00Z",
            "to_date": f"{days[-1]}T00:00:00Z",
            # Airflow asks for it when a task depends on the past (the command in docs/guides/02-backfill-and-rerun.md).
            "reprocess_behavior": "failed",
            "dag_run_conf": POST_CONF,
        },
    )
    location_day = days[-1]
    location_run = api(
        deployment,
        "POST",
        f"dags/{BY_LOCATION}/dagRuns",
        json={"logical_date": f"{location_day}T00:00:00Z", "conf": BY_LOCATION_CONF},
    )["dag_run_id"]

    def post_runs() -> list[dict[str, Any]]:
        found = api(deployment, "GET", f"dags/{POST}/dagRuns", params={"limit": 100})["dag_runs"]
        return sorted((r for r in found if r["run_type"] == "backfill"), key=lambda r: r["logical_date"])

    # A failed or retried task fails the test at once, with its log: the DAGs retry after 5 and
    # 10 minutes, and a failed day holds the later days back.
    deadline = time.monotonic() + RUNS_TIMEOUT
    while True:
        deployment.processes.check_alive()
        runs = [*post_runs(), api(deployment, "GET", f"dags/{BY_LOCATION}/dagRuns/{location_run}")]
        for run in runs:
            for ti in task_instances(deployment, run["dag_id"], run["dag_run_id"]):
                if ti["state"] in ("failed", "up_for_retry", "upstream_failed"):
                    pytest.fail(describe_failure(deployment, ti))
        if len(runs) == len(days) + 1 and all(r["state"] in ("success", "failed") for r in runs):
            break
        if time.monotonic() > deadline:
            states = {r["dag_run_id"]: r["state"] for r in runs}
            pytest.fail(f"the runs did not finish in {RUNS_TIMEOUT:.0f} s: {states}")
        time.sleep(2)
    return {"days": days, "post": runs[:-1], "location_day": location_day, "location": runs[-1]}


def all_task_instances(deployment: Deployment, ran: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        ti
        for run in [*ran["post"], ran["location"]]
        for ti in task_instances(deployment, run["dag_id"], run["dag_run_id"])
    ]


def test_every_task_succeeded(deployment: Deployment, ran: dict[str, Any]) -> None:
    assert [r["logical_date"][:10] for r in ran["post"]] == [d.isoformat() for d in ran["days"]]
    assert [r["state"] for r in [*ran["post"], ran["location"]]] == ["success"] * 4
    tis = all_task_instances(deployment, ran)
    locations = deployment.sandbox.store.resources["system/locations"]
    post_tasks = api(deployment, "GET", f"dags/{POST}/tasks")["tasks"]
    location_tasks = api(deployment, "GET", f"dags/{BY_LOCATION}/tasks")["tasks"]
    # Every task of each posting day; one mapped export per location.
    mapped = [t["task_id"] for t in location_tasks if t["is_mapped"]]
    assert mapped == ["export_location"]
    assert len(tis) == len(ran["days"]) * len(post_tasks) + len(location_tasks) - 1 + len(locations)
    assert [
        ti
        for ti in tis
        if ti["state"] != "success" and not (ti["task_id"] in SKIPPED_BY_DESIGN and ti["state"] == "skipped")
    ] == []
    assert [ti for ti in tis if ti["state"] == "success" and ti["try_number"] != 1] == []
    assert {ti["task_id"] for ti in tis if ti["state"] == "skipped"} == SKIPPED_BY_DESIGN


def test_both_workers_ran_tasks(deployment: Deployment, ran: dict[str, Any]) -> None:
    tis = [ti for ti in all_task_instances(deployment, ran) if ti["state"] != "skipped"]  # never ran
    assert {ti["hostname"] for ti in tis} == set(WORKERS)
    # Each task's log is in the folder of the worker Airflow says ran it, and only there.
    for ti in tis:
        where = task_log(deployment, ti)
        assert where is not None and where[0] == ti["hostname"], ti
        other = next(home for name, home in deployment.worker_homes.items() if name != ti["hostname"])
        assert not other.joinpath(where[1].relative_to(deployment.worker_homes[where[0]])).exists()


def test_every_export_and_its_ids_are_objects_in_the_bucket(
    deployment: Deployment, ran: dict[str, Any]
) -> None:
    s3 = deployment.s3
    prefix = urlsplit(OUTPUT_ROOT).path.lstrip("/")
    summaries = []
    for day, run in zip(ran["days"], ran["post"], strict=True):
        summary = xcom(deployment, POST, run["dag_run_id"], "export_gl_batch")
        assert object_key(summary["output"]) == f"{prefix}/posted/{day}/glexport.xml"
        summaries.append(summary)
    day = ran["location_day"].isoformat()
    locations = deployment.sandbox.store.resources["system/locations"]
    for map_index in range(len(locations)):
        summary = xcom(deployment, BY_LOCATION, ran["location"]["dag_run_id"], "export_location", map_index)
        key = object_key(summary["output"])
        assert key.startswith(f"{prefix}/gl/{day}/glexport-{day}-location-") and key.endswith(".xml")
        summaries.append(summary)
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")["Contents"]}
    expected = {object_key(s[name]) for s in summaries for name in ("output", "gl_documents_file")}
    assert len(expected) == 2 * len(summaries)
    assert expected <= listed
    for summary in summaries:
        # The object is the file the task wrote, and its documents file names it by that hash.
        body = s3.get_object(Bucket=BUCKET, Key=object_key(summary["output"]))["Body"].read()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (summary["bytes"], summary["sha256"])
        docs_key = object_key(summary["gl_documents_file"])
        assert docs_key.rpartition("/")[0] == object_key(summary["output"]).rpartition("/")[0]
        header = json.loads(s3.get_object(Bucket=BUCKET, Key=docs_key)["Body"].read().splitlines()[0])
        assert header["sha256"] == summary["sha256"]
    # No XML on a worker's disk: not under the DAGs' local default (~/cwgl-exports), nor a staged
    # copy left in its TMPDIR.
    for home in deployment.worker_homes.values():
        assert list(home.parent.rglob("*.xml")) == [], home.parent


def ids_in_bucket(deployment: Deployment, summary: dict[str, Any]) -> set[int]:
    """The GL entry ids of the documents file the export wrote to the bucket."""
    body = deployment.s3.get_object(Bucket=BUCKET, Key=object_key(summary["gl_documents_file"]))["Body"]
    docs = read_documents(io.BytesIO(body.read()), summary["sha256"])
    return set().union(*(d["gl_entry_ids"] for d in docs))


def test_one_batch_per_day_disjoint_and_in_date_order(deployment: Deployment, ran: dict[str, Any]) -> None:
    sandbox = deployment.sandbox
    days = ran["days"]
    by_identifier = {b.identifier: b for b in sandbox.store.batches.values()}
    batches = [by_identifier.get(f"cwgl-{d:%Y%m%d}-IEP") for d in days]
    assert all(b is not None and b.document_keys for b in batches), batches
    keys = [set(b.document_keys) for b in batches]
    assert not (keys[0] & keys[1] or keys[1] & keys[2] or keys[0] & keys[2])
    # Made day after day: ids ascending, and the batch requests in that order.
    assert [b.id for b in batches] == sorted(b.id for b in batches)
    made = [r.json()["batchIdentifier"] for r in sandbox.log.matching("POST", "finance/accounting/batches")]
    assert [m for m in made if m in by_identifier] == [b.identifier for b in batches]
    for n, (batch, run) in enumerate(zip(batches, ran["post"], strict=True)):
        docs = sandbox.store.batch_documents(batch)
        assert all(d.document_date <= days[n] for d in docs)
        if n:  # exported only once the day before was posted: nothing of that day is left in it
            assert all(d.document_date > days[n - 1] for d in docs)
        # The batch step read the ids the export wrote to the bucket, on whichever worker it ran.
        summary = xcom(deployment, POST, run["dag_run_id"], "export_gl_batch")
        marked = xcom(deployment, POST, run["dag_run_id"], "mark_exported_in_connectwise")
        assert marked["batch_id"] == batch.id
        assert marked["records"] == len(ids_in_bucket(deployment, summary)) > 0


def test_cloud_credentials_are_only_in_the_connection(deployment: Deployment, ran: dict[str, Any]) -> None:
    environments = deployment.processes.environments
    assert {"api-server", "scheduler", "dag-processor", "worker-w1", "worker-w2"} <= set(environments)
    for name, env in environments.items():
        assert not [k for k in env if k.startswith("AWS_")], name
        assert ("CWGL_OUTPUT_ROOT" in env) == name.startswith("worker-"), name
    for home in deployment.worker_homes.values():
        assert not (home.parent / ".aws").exists()
