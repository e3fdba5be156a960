"""Shared fixtures of the end-to-end tests (`make e2e`): the ConnectWise sandbox and a real
`airflow standalone` (api-server, scheduler, dag-processor, triggerer; LocalExecutor on SQLite)
reaching it. Both are module-scoped: each test module gets its own instance."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_cwgl.sandbox import Sandbox, generated_store

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    store = generated_store(transactions=60)
    # Inventory adjustments carry no GL entry id, so no batch holds them and a posted day's
    # re-export lacks them (docs/design.md, "Known gaps"); without them a re-export equals the first file.
    store.documents = [d for d in store.documents if d.section != "adjustmentTransactions"]
    with Sandbox(store) as running:
        yield running


@pytest.fixture(scope="module")
def airflow_env() -> dict[str, str]:
    """More environment for the module's Airflow (its connections, Variables): a module overrides it."""
    return {}


@pytest.fixture(scope="module")
def airflow(
    sandbox: Sandbox, airflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``{"base": API URL, "home", "exports", "env"}``; ``env`` runs the ``airflow`` CLI against it."""
    home = tmp_path_factory.mktemp("airflow-home")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        # A CLI process (`airflow backfill create`) writes beside the scheduler: wait for SQLite's
        # lock up to 60 s instead of the default 5 s ("database is locked" on a busy machine).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=60",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW_CONN_CONNECTWISE_DEFAULT": json.dumps(sandbox.connection()),
        "CWGL_OUTPUT_ROOT": str(home / "exports"),
        "PYTHONWARNINGS": "ignore",
        **airflow_env,
    }
    # SQLite in WAL mode (it stays set in the file): readers no longer block the writer, so a CLI
    # process writing beside the scheduler, the API server and the tasks is far less often refused
    # with "database is locked". `standalone` would migrate the database itself; done first here
    # so the mode can be set before anything else has it open.
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    with sqlite3.connect(home / "airflow.db") as db:
        assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    log = (home / "standalone.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "standalone"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    wanted = {"cwgl_daily_gl_export", "cwgl_gl_export_and_post"}
    try:
        while True:
            try:
                health = httpx.get(f"{base}/api/v2/monitor/health", timeout=2).json()
                dags = httpx.get(f"{base}/api/v2/dags", timeout=5).json()
                if health["scheduler"]["status"] == "healthy" and wanted <= {
                    d["dag_id"] for d in dags.get("dags", [])
                }:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"airflow standalone did not come up; see {home / 'standalone.log'}")
            time.sleep(1)
        yield {"base": base, "home": home, "exports": home / "exports", "env": env}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
