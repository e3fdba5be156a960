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
