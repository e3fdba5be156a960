"""``python -m airflow_provider_cwgl.sandbox.xero``: run the sandbox Xero until interrupted."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from airflow_provider_cwgl.sandbox.faults import FaultRule, Faults
from airflow_provider_cwgl.sandbox.serving import serve_until_stopped
from airflow_provider_cwgl.sandbox.xero import XeroLimits, XeroSandbox, XeroStore
from airflow_provider_cwgl.sandbox.xero.connectwise_books import ACCOUNT_CODES, TAX_TYPES, connectwise_books


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_cwgl.sandbox.xero", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8124, help="0 picks a free port (default 8124)")
    parser.add_argument("--name", default="Sandbox Company", help="the organisation's name")
    parser.add_argument("--token-lifetime", type=float, default=1800.0, help="seconds (Xero: 1800)")
    parser.add_argument(
        "--connectwise-books",
        action="store_true",
        help="books that take the ConnectWise sandbox's documents (its tax rates and a clearing "
        "account); prints the Variables that map its accounts and tax codes",
    )
    limit_fields = ", ".join(f.name for f in dataclasses.fields(XeroLimits))
    limits = f"Xero's limits changed, e.g. '{{\"per_minute\": 600}}' (fields: {limit_fields})"
    parser.add_argument("--limits", type=json.loads, default={}, metavar="JSON", help=limits)
    rule_fields = ", ".join(
        f.name for f in dataclasses.fields(FaultRule) if f.name not in ("hits", "skipped")
    )
    fault = f'a fault rule, repeatable, e.g. \'{{"path": "Invoices", "status": 503, "times": 1}}\' (fields: {rule_fields})'
    parser.add_argument("--fault", action="append", default=[], type=json.loads, metavar="JSON", help=fault)
    args = parser.parse_args(argv)
    faults = Faults()
    try:
        xero_limits = XeroLimits(**args.limits)
        for rule in args.fault:
            faults.add(**rule)
    except TypeError as exc:
        parser.error(str(exc))
    sandbox = XeroSandbox(
        connectwise_books(args.name) if args.connectwise_books else XeroStore(name=args.name),
        limits=xero_limits,
        faults=faults,
        token_lifetime=args.token_lifetime,
        host=args.host,
        port=args.port,
    ).start()
    print(f"AIRFLOW_CONN_XERO_DEFAULT='{json.dumps(sandbox.connection())}'", flush=True)
    if args.connectwise_books:
        print(f"AIRFLOW_VAR_CWGL_XERO_ACCOUNT_CODES='{json.dumps(ACCOUNT_CODES)}'", flush=True)
        print(f"AIRFLOW_VAR_CWGL_XERO_TAX_TYPES='{json.dumps(TAX_TYPES)}'", flush=True)
    serve_until_stopped(sandbox, f"Xero sandbox on {sandbox.url} (API {sandbox.api_url})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
