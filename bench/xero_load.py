"""Loading into Xero within Xero's limits: documents a minute and calls a document.

    .venv/bin/python bench/xero_load.py [--transactions 5000] [--time-scale 10]

A day of the ConnectWise sandbox's documents (every collection; ``--transactions`` invoices, and
expenses, bills, purchases and inventory documents in proportion) goes through ``XeroLoader`` into
the sandbox Xero, which enforces Xero's per-tenant limits (60 calls a minute, 5 at once, 5,000 a
day) and answers 429 with ``Retry-After`` past them; the client paces itself to the same limits.

Time scale: with ``--time-scale 10`` a Xero "minute" lasts 6 real seconds, for the sandbox's limits
and for the client's pacing alike (its clock runs 10x), so the run is paced exactly as at scale 1,
only faster; ``--time-scale 1`` is Xero's real minute (the default load then takes about 5
minutes). The load is several minutes' worth of calls, so the pacing binds.

Printed: documents, calls, calls per document, 429s the sandbox answered (the client's window and
the sandbox's can disagree by a request's latency at a minute's edge; the client then waits for
``Retry-After`` and sends again, and the retry counts as a call), elapsed Xero minutes, documents
per Xero minute as measured (the first minute's 60 calls are free, so a short run looks faster
than it can sustain) and as sustained (60 calls a minute / calls per document). Target: sustained
>= 1,000 documents a minute, nothing refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from airflow_provider_cwgl.sandbox.data import generated_store
from airflow_provider_cwgl.sandbox.xero import XeroLimits, XeroSandbox
from airflow_provider_cwgl.sandbox.xero.connectwise_books import ACCOUNT_CODES, TAX_TYPES, connectwise_books
from airflow_provider_cwgl.xero import XeroClient
from airflow_provider_cwgl.xero.loader import XeroLoader
from airflow_provider_cwgl.xero.mapping import MappingSettings
from airflow_provider_cwgl.xero.settings import settings_from_fields

TARGET = 1000  # documents a minute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--time-scale", type=float, default=10.0)
    args = parser.parse_args()
    scale = args.time_scale
    items = [(d.section, d.body) for d in generated_store(transactions=args.transactions).documents]
    limits = XeroLimits(minute=60.0 / scale, day=86_400.0 / scale)
    with XeroSandbox(connectwise_books(), limits=limits) as sandbox:
        conn = sandbox.connection()
        settings = settings_from_fields(conn["login"], conn["password"], conn["host"], conn["extra"])
        started = time.monotonic()

        def clock() -> float:  # the client's minute is the sandbox's
            return started + (time.monotonic() - started) * scale

        with XeroClient(settings, clock=clock, sleep=lambda seconds: time.sleep(seconds / scale)) as client:
            begun = time.monotonic()
            result = XeroLoader(client, MappingSettings(ACCOUNT_CODES, TAX_TYPES)).load(
                items, file_sha256="b" * 64
            )
            seconds = time.monotonic() - begun
            calls = client.calls
        over_limit = sum(1 for r in sandbox.requests if r.status == 429)
    documents = len(result.loaded)
    minutes = seconds * scale / 60
    per_document = calls / documents
    sustained = 60 / per_document
    figures = {
        "documents": documents,
        "refused": len(result.refused),
        "calls": calls,
        "calls_per_document": round(per_document, 4),
        "http_429": over_limit,
        "time_scale": scale,
        "xero_minutes": round(minutes, 2),
        "documents_per_minute_measured": round(documents / minutes),
        "documents_per_minute_sustained": round(sustained),
    }
    print(json.dumps(figures, indent=2))
    ok = sustained >= TARGET and not result.refused
    print(f"target >= {TARGET} documents a minute sustained, nothing refused: {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
