"""A distributed Airflow on loopback for `make e2e-celery`, as a managed deployment runs it.

Started here, each in its own process group, all stopped at the end of the module (also when a
step fails): Postgres (the metadata DB and the Celery result backend; run as the ``postgres`` user
when we are root, since Postgres refuses root), Redis (the Celery broker), moto's S3 server and the
ConnectWise sandbox (threads of this process), then ``airflow db migrate``, the api-server, the
scheduler, the dag-processor and two Celery workers.

What makes it "distributed" for the provider: every Airflow process has its own HOME, TMPDIR,
AIRFLOW_HOME and working directory, so no folder is shared between the workers; the output goes to
S3; the credentials exist only as Airflow connections (``AIRFLOW_CONN_*``) and no process has an
``AWS_*`` variable or a ``~/.aws``. The output settings (``CWGL_OUTPUT_ROOT``,
``CWGL_OUTPUT_CONN_ID``) are given to the workers only: they are read where the task runs.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import s3_client

from airflow_provider_cwgl.sandbox import Sandbox, generated_store

REPO = Path(__file__).resolve().parents[2]
BUCKET = "cwgl-e2e"
OUTPUT_ROOT = f"s3://{BUCKET}/exports"
S3_CONN_ID = "cwgl_s3"
WORKERS = ("w1", "w2")
# Task slots per worker: two workers of two fit the posting chain and the per-location tasks side
# by side on two cores.
CONCURRENCY = 2
START_TIMEOUT = 240.0  # seconds for the whole deployment to come up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, ready: Any, timeout: float, alive: Any = None) -> Any:
    """Poll ``ready()`` until it returns a true value; fail after ``timeout`` seconds, or as soon
    as ``alive()`` (if given) raises."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        with contextlib.suppress(Exception):
            value = ready()
            if value:
                return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@dataclass
class Processes:
    """The servers this module started: each in its own session (process group), its output in
    ``logs/NAME.log``; stopped in the reverse order of their start."""

    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes], int]] = field(default_factory=list)
    # What each was given: /proc/PID/environ cannot tell, Airflow's setproctitle writes over it.
    environments: dict[str, dict[str, str]] = field(default_factory=dict)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, *, as_user: str | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=as_user,
                group=as_user,
                extra_groups=[] if as_user else None,
            )
        self.environments[name] = env
        # Postgres stops at once on SIGINT ("fast shutdown"); SIGTERM would wait for its clients.
        self.started.append((name, process, signal.SIGINT if name == "postgres" else signal.SIGTERM))
        return process

    def check_alive(self) -> None:
        for name, process, _ in self.started:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self) -> None:
        for name, process, sig in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in 20 s: killed", file=sys.stderr)
            # Whatever the group still holds (a Celery pool child, a task's supervisor).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.started.clear()


def postgres_binary(name: str) -> str:
    """Debian installs the server's programs outside PATH, under its major version."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make e2e-celery does)")
    return path


def start_postgres(processes: Processes, data: Path) -> str:
    """A throwaway cluster in ``data`` on a free loopback port; returns its SQLAlchemy URL."""
    import psycopg2

    as_user = "postgres" if os.geteuid() == 0 else None
    if as_user:
        shutil.chown(data, as_user, as_user)
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(data)}
    subprocess.run(
        [postgres_binary("initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"]
        + ["--locale=C", "--no-sync"],
        env=env,
        cwd=data,
        user=as_user,
        group=as_user,
        extra_groups=[] if as_user else None,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    # A test database: durability traded for speed.
    settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    settings |= {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(data)}
    settings |= {"max_connections": "200"}
    argv = [postgres_binary("postgres"), "-D", str(data), "-p", str(port)]
    argv += [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    processes.start("postgres", argv, env, data, as_user=as_user)

    def connect() -> Any:
        return psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")

    first = wait_until("Postgres", connect, 60, processes.check_alive)
    first.autocommit = True  # CREATE DATABASE runs outside a transaction
    try:
        with first.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
    finally:
        first.close()
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


def start_redis(processes: Processes, scratch: Path) -> str:
    import redis

    port = free_port()
    folder = scratch / "redis"
    folder.mkdir()
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    argv = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    processes.start("redis", argv, {"PATH": os.environ["PATH"]}, folder)
    wait_until("Redis", lambda: redis.Redis(port=port).ping(), 30, processes.check_alive)
    return f"redis://127.0.0.1:{port}/0"


@dataclass
class Deployment:
    base: str  # the api-server's URL
    sandbox: Sandbox
    s3: Any  # a boto3 client of the bucket (this process only; the DAGs use the connection)
    worker_homes: dict[str, Path]  # worker name -> its AIRFLOW_HOME (its own task logs)
    env: dict[str, str]  # a control-plane process's environment, for the ``airflow`` CLI
    processes: Processes


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(generated_store(transactions=60)) as running:
        yield running


@pytest.fixture(scope="module")
def deployment(
    sandbox: Sandbox, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    from cryptography.fernet import Fernet

    # The DAGs get the keys only in the connection below.
    s3 = s3_client(s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    # Kept after the run (pytest keeps its last three): every server's log and each worker's task logs.
    scratch = tmp_path_factory.mktemp("deployment")
    # Not under pytest's folder, which only root may enter: the postgres user works in there.
    pgdata = Path(tempfile.mkdtemp(prefix="cwgl-e2e-pgdata-"))
    logs = scratch / "logs"
    logs.mkdir()
    processes = Processes(logs)
    # Stopped from outside (make's timeout, a cancelled CI job), the servers are stopped too: the
    # signal becomes an interrupt, which runs the cleanup below. Set here because a shell's
    # background job starts with SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"\ndistributed deployment under {scratch} (server logs in {logs})", file=sys.stderr)
    try:
        database = start_postgres(processes, pgdata)
        broker = start_redis(processes, scratch)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        aws = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
        }
        # Built from nothing, not from this process's environment: no AWS_* variable, no Airflow
        # setting of the unit tests' conftest, reaches a deployed process.
        common = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "LANG": "C.UTF-8",
            "PYTHONWARNINGS": "ignore",
            # For the workers' hostname_callable (worker_identity.py).
            "PYTHONPATH": str(REPO / "tests"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            # Without +psycopg2, SQLAlchemy 2.1 picks psycopg 3, which is not installed.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            # Shared by every process (each would otherwise make up its own in its airflow.cfg):
            # the task tokens the scheduler signs are checked by the api-server.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # Only the runs the test makes (a backfill, a triggered run): unpausing a DAG would
            # otherwise also start its latest scheduled interval, which posts every day up to it.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW_CONN_CONNECTWISE_DEFAULT": json.dumps(sandbox.connection()),
            f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": json.dumps(aws),
        }

        def own_folders(name: str) -> tuple[dict[str, str], Path]:
            home = scratch / name
            (home / "tmp").mkdir(parents=True)
            env = {**common, "HOME": str(home), "TMPDIR": str(home / "tmp")}
            env["AIRFLOW_HOME"] = str(home / "airflow")
            return env, home

        airflow = [sys.executable, "-m", "airflow"]
        control_env, control_home = own_folders("migrate")
        with (logs / "migrate.log").open("wb") as log:
            migrated = subprocess.run(
                [*airflow, "db", "migrate"],
                env=control_env,
                cwd=control_home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        if migrated.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{processes.tail('migrate')}")
        commands = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
        }
        for name, args in commands.items():
            env, home = own_folders(name)
            processes.start(name, airflow + args, env, home)
        worker_homes = {}
        for name in WORKERS:
            env, home = own_folders(name)
            env |= {
                "CWGL_E2E_WORKER": name,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "e2e_celery.worker_identity.hostname",
                # The deployment's output settings, on the workers only: read where tasks run.
                "CWGL_OUTPUT_ROOT": OUTPUT_ROOT,
                "CWGL_OUTPUT_CONN_ID": S3_CONN_ID,
            }
            args = ["celery", "worker", "--celery-hostname", name, "--concurrency", str(CONCURRENCY)]
            # No log server (the test reads each worker's logs from its folder); no start-up chatter
            # between the workers.
            args += ["--skip-serve-logs", "--without-mingle", "--without-gossip"]
            processes.start(f"worker-{name}", airflow + args, env, home)
            worker_homes[name] = Path(env["AIRFLOW_HOME"])
        wait_until(
            "the api-server, scheduler, dag-processor and the example DAGs",
            lambda: _control_plane_ready(base),
            START_TIMEOUT,
            processes.check_alive,
        )
        wait_until(
            "both Celery workers", lambda: _workers_ready(broker), START_TIMEOUT, processes.check_alive
        )
        yield Deployment(base, sandbox, s3, worker_homes, control_env, processes)
    finally:
        for sig in previous:  # a second signal must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        processes.stop_all()
        shutil.rmtree(pgdata, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _control_plane_ready(base: str) -> bool:
    health = httpx.get(f"{base}/api/v2/monitor/health", timeout=5).json()
    if any(health[part]["status"] != "healthy" for part in ("metadatabase", "scheduler", "dag_processor")):
        return False
    dags = httpx.get(f"{base}/api/v2/dags", params={"limit": 100}, timeout=5).json()["dags"]
    return {"cwgl_gl_export_and_post", "cwgl_gl_export_by_location"} <= {d["dag_id"] for d in dags}


def _workers_ready(broker: str) -> bool:
    from celery import Celery

    app = Celery(broker=broker)
    try:
        answers = app.control.ping(timeout=2.0)
    finally:
        app.close()
    names = {name.split("@")[-1] for answer in answers for name in answer}
    return set(WORKERS) <= names
