"""Stoplight Prism (npm ``@stoplight/prism-cli``, ``make prism``) as a validating proxy in front of
the sandbox Xero: ``prism proxy COPY SANDBOX --errors`` answers 422 to a request that departs from
Xero's description (it never reaches the sandbox) and 500 with ``sl-violations`` to such an answer.

Prism 5.16.0 silently skips body validation of ``/Invoices`` and ``/CreditNotes`` on Xero's file as
it is: its bundler gives up on the circular schemas (stoplightio/prism#2442). ``prism_copy`` writes
the copy Prism is given:

- every ``$ref`` into the nine mutually recursive schemas (Invoice, Contact, CreditNote, Payment,
  ...) inlined; such a schema met inside itself, or nested more than ``CYCLE_DEPTH`` deep among
  them, becomes an open object ``{}`` (fully inlined the file is 18 MB and Prism takes 10 s a call);
  other references are kept;
- only the paths the sandbox serves, each under ``/api.xro/2.0`` (Prism matches the spec's paths,
  not its server URL), so a client keeps its usual accounting root with Prism's host in front.

Run as a script to write the copy: ``python tests/xero_prism.py OUT.json``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
PRISM = REPO / ".prism" / "node_modules" / ".bin" / "prism"
ACCOUNTING_SPEC = Path(__file__).resolve().parent / "fixtures" / "xero" / "xero_accounting.yaml"
API_PREFIX = "/api.xro/2.0"
SERVED = ("Accounts", "Contacts", "CreditNotes", "Invoices", "ManualJournals", "TaxRates")
CYCLE_DEPTH = 2
_SCHEMAS = "#/components/schemas/"


def prism_copy(source: Path = ACCOUNTING_SPEC) -> dict[str, Any]:
    """Xero's accounting description as Prism can validate it (see the module's docstring)."""
    with source.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schemas: dict[str, Any] = spec["components"]["schemas"]
    cyclic = _recursive_schemas({name: _references(schema) for name, schema in schemas.items()})

    def inline(node: Any, inside: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, inside) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref", "")
        name = ref.removeprefix(_SCHEMAS)
        if ref.startswith(_SCHEMAS) and name in cyclic:
            if name in inside or len(inside) >= CYCLE_DEPTH:
                return {}
            return inline(schemas[name], inside | {name})
        return {key: inline(value, inside) for key, value in node.items()}

    served = re.compile(rf"/({'|'.join(SERVED)})(/\{{\w+\}})?")
    paths = {
        API_PREFIX + p: inline(item, frozenset()) for p, item in spec["paths"].items() if served.fullmatch(p)
    }
    components = dict(spec["components"])
    components["schemas"] = {n: inline(s, frozenset()) for n, s in schemas.items() if n not in cyclic}
    return {k: v for k, v in spec.items() if k not in ("paths", "components")} | {
        "paths": paths,
        "components": components,
    }


def write_prism_copy(target: Path) -> Path:
    # YAML's own dates (in examples) are written as text: JSON has no date type.
    target.write_text(json.dumps(prism_copy(), default=str))
    return target


def _references(node: Any) -> set[str]:
    if isinstance(node, list):
        return set().union(*(_references(item) for item in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].removeprefix(_SCHEMAS)} if str(node.get("$ref", "")).startswith(_SCHEMAS) else set()
    return found.union(*(_references(value) for value in node.values()))


def _recursive_schemas(graph: dict[str, set[str]]) -> set[str]:
    """The schemas on a reference cycle: those that reach themselves."""

    def reaches(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph.get(name, ()))
        return seen

    return {name for name in graph if name in reaches(name)}


@dataclass
class PrismProxy:
    """A running ``prism proxy`` in front of one upstream. ``url`` replaces the sandbox's host in a
    connection (the token URL stays the sandbox's: Prism serves only the accounting paths)."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def violations(self) -> list[str]:
        """Every request or answer Prism refused so far (``✖`` lines of its log). Prism logs a
        refusal just after answering it, so the log is read once it has stopped growing."""
        size, deadline = -1, time.monotonic() + 3
        while size != self.log.stat().st_size and time.monotonic() < deadline:
            size = self.log.stat().st_size
            time.sleep(0.3)
        return [line for line in self.log.read_text(errors="replace").splitlines() if "✖" in line]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def prism_missing() -> str | None:
    if not PRISM.exists() or shutil.which("node") is None:
        return f"Stoplight Prism is not installed at {PRISM.relative_to(REPO)} (make prism)"
    return None


def start_prism(spec: Path, upstream: str, log: Path, seconds: float = 60.0) -> PrismProxy:
    """``prism proxy spec upstream --errors`` on a free loopback port, once it listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [
        str(PRISM),
        "proxy",
        str(spec),
        upstream,
        "--errors",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    proxy = PrismProxy(process, port, log)
    deadline = time.monotonic() + seconds
    while "Prism is listening" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            proxy.stop()
            raise RuntimeError(f"Prism did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return proxy


if __name__ == "__main__":
    print(write_prism_copy(Path(sys.argv[1])))
