"""``python -m airflow_provider_cwgl.sandbox``: run the ConnectWise sandbox until interrupted."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import date
from urllib.parse import quote

from airflow_provider_cwgl.sandbox import Faults, Sandbox, generated_store, sample_store
from airflow_provider_cwgl.sandbox.data import DEFAULT_ANCHOR
from airflow_provider_cwgl.sandbox.faults import FaultRule
from airflow_provider_cwgl.sandbox.serving import serve_until_stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_cwgl.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port (default 8123)")
    parser.add_argument("--seed", type=int, default=42, help="data generator seed (default 42)")
    scale = "'sample' for the spec's two sample documents, or a number of invoice transactions (default 250)"
    parser.add_argument("--scale", default="250", help=scale)
    anchor = f"generated documents are dated in the 30 days up to this date (default {DEFAULT_ANCHOR})"
    parser.add_argument("--anchor", type=date.fromisoformat, default=DEFAULT_ANCHOR, help=anchor)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    rule_fields = ", ".join(
        f.name for f in dataclasses.fields(FaultRule) if f.name not in ("hits", "skipped")
    )
    fault = (
        'a fault rule, repeatable, e.g. \'{"path": "company/*", "status": 503, "rate": 0.1}\' '
        f"(fields: {rule_fields}); more can be added later with POST /_sandbox/faults"
    )
    parser.add_argument("--fault", action="append", default=[], type=json.loads, metavar="JSON", help=fault)
    parser.add_argument("--print-connection", choices=["json", "uri"], default="json")
    args = parser.parse_args(argv)
    if args.scale == "sample":
        store = sample_store()
    elif args.scale.isdigit():
        store = generated_store(seed=args.seed, transactions=int(args.scale), anchor=args.anchor)
    else:
        parser.error("--scale takes 'sample' or a number of transactions")
    faults = Faults(latency=args.latency_ms / 1000)
    for rule in args.fault:
        try:
            faults.add(**rule)
        except TypeError as exc:
            parser.error(f"--fault {json.dumps(rule)}: {exc}")
    sandbox = Sandbox(store, host=args.host, port=args.port, faults=faults)
    sandbox.start()
    conn = sandbox.connection()
    if args.print_connection == "json":
        print(f"AIRFLOW_CONN_CONNECTWISE_DEFAULT='{json.dumps(conn)}'", flush=True)
    else:
        extra = "&".join(f"{k}={quote(str(v))}" for k, v in conn["extra"].items())
        print(
            f"AIRFLOW_CONN_CONNECTWISE_DEFAULT='connectwise://http://{quote(conn['login'], safe='')}:"
            f"{quote(conn['password'], safe='')}@{args.host}:{sandbox.port}/?{extra}'",
            flush=True,
        )
    documents = f"{len(store.documents)} unposted documents"
    serve_until_stopped(sandbox, f"ConnectWise sandbox on {sandbox.url} (API {sandbox.api_url}); {documents}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
