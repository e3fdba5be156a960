"""Run the sandbox in its own process for the benchmarks, so its memory and CPU are not measured."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx


class SandboxProcess:
    def __init__(self, transactions: int, latency_ms: float = 0.0, seed: int = 42) -> None:
        self.args = [
            sys.executable,
            "-m",
            "airflow_provider_cwgl.sandbox",
            "--port",
            "0",
            "--scale",
            str(transactions),
            "--seed",
            str(seed),
            "--latency-ms",
            str(latency_ms),
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.connection: dict[str, Any] = {}

    def __enter__(self) -> SandboxProcess:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("AIRFLOW_CONN_CONNECTWISE_DEFAULT="):
            raise RuntimeError(f"sandbox did not start: {line}{self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.connection = json.loads(line.split("=", 1)[1].strip().strip("'"))
        return self

    @property
    def url(self) -> str:
        return self.connection["host"]

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=30).json()

    def clear_log(self) -> None:
        httpx.delete(f"{self.url}/_sandbox/log", timeout=30)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        time.sleep(0.1)


def fetch_export(sandbox: SandboxProcess, target: Any, flags: dict[str, bool] | None = None) -> int:
    """POST the sandbox's export (invoices by default, thru 2030) and stream it into ``target``."""
    conn = sandbox.connection
    auth = (f"{conn['extra']['company_id']}+{conn['login']}", conn["password"])
    info = httpx.get(f"{sandbox.url}/login/companyinfo/{conn['extra']['company_id']}", timeout=30).json()
    body = {"exportInvoicesFlag": True, "thruDate": "2030-01-01T00:00:00Z", **(flags or {})}
    url = f"{sandbox.url}/{info['Codebase']}apis/3.0/finance/accounting/export"
    headers = {"clientId": conn["extra"]["client_id"]}
    size = 0
    with (
        httpx.stream("POST", url, json=body, auth=auth, headers=headers, timeout=600) as response,
        open(target, "wb") as out,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            size += out.write(chunk)
    return size


def run_child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a measuring child in a fresh interpreter; its last output line is its JSON figures."""
    result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])
