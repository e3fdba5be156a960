"""References To Fetch: the batched, concurrent engine vs one record per request, same data, one run.

    .venv/bin/python bench/references.py [--transactions 2000] [--latency-ms 20] [--concurrency 8]

The sandbox runs in its own process with the given latency on every request and a generated export
of ``--transactions`` invoices; every invoice-side reference path (customer/..., transaction/...) is
fetched. Printed for both: requests (counted by the server), wall seconds, peak RSS, and the ratios.
The floor is what no client can go below: for each endpoint that takes ``id in (...)``, its distinct
ids packed into URLs of at most 2,000 characters (one packing per nesting depth), plus one list
request per distinct parent for the per-parent collections (sites, agreement additions, purchase
order line items). Targets: engine requests <= 1.1x the floor; wall time >= 25x less than
the baseline and within 3x of sum over rounds of latency x ceil(requests in round / concurrency),
plus the time to write the file.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _sandbox_process import SandboxProcess  # noqa: E402

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseSettings  # noqa: E402
from airflow_provider_cwgl.connectwise.conditions import condition_literal  # noqa: E402
from airflow_provider_cwgl.glexport.references import (  # noqa: E402
    ListRequest,
    RecordKey,
    ReferenceResolver,
    SubCollectionOf,
    chunk_values,
)
from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS  # noqa: E402
from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter  # noqa: E402

INVOICE_SIDE = [p for p in REFERENCE_PATHS if p.startswith(("customer/", "transaction/"))]


class Measured(ReferenceResolver):
    """The engine, noting the round that fetched each key and the requests of each round."""

    one_key_per_request = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_depths: dict[RecordKey, int] = {}
        self.round_requests: list[int] = []
        plan_requests = self.plan_requests

        def measured(keys: list[RecordKey]) -> list[ListRequest]:
            if self.one_key_per_request:
                units = [unit for key in keys for unit in plan_requests([key])]
            else:
                units = plan_requests(keys)
            self.key_depths.update(dict.fromkeys(keys, self.stats.rounds))
            self.round_requests.append(len(units))
            return units

        self.plan_requests = measured  # type: ignore[method-assign]


class OnePerRequest(Measured):
    """The baseline: every distinct record in its own request, one request at a time."""

    one_key_per_request = True


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(resolver: Measured) -> int:
    """Fewest requests that fetch what ``resolver`` fetched (per depth, as the data dictates)."""
    by_list: dict[tuple[int, str, str], set[str]] = defaultdict(set)
    lists = 0
    for key, depth in resolver.key_depths.items():
        if isinstance(key, SubCollectionOf):
            lists += 1
        else:  # sites are listed per company: one request per company (and chunk)
            by_list[(depth, key.list_path, key.match_field)].add(condition_literal(key.match_value))
    base = resolver.client.base_url
    packed = sum(
        len(list(chunk_values(base + path, field, sorted(values))))
        for (_, path, field), values in by_list.items()
    )
    return packed + lists


def run(
    variant: type[Measured],
    client: ConnectWiseClient,
    raw: bytes,
    concurrency: int,
    sandbox: SandboxProcess,
) -> dict[str, Any]:
    sandbox.clear_log()
    started = time.perf_counter()
    resolver = variant(client, INVOICE_SIDE, concurrency=concurrency)
    resolver.collect(io.BytesIO(raw))
    resolver.fetch()
    fetched = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        GLExportXmlWriter(resolver=resolver).write(io.BytesIO(raw), out)
    written = time.perf_counter()
    stats = sandbox.stats()
    return {
        "resolver": resolver,
        "requests": stats["requests"],
        "peak_in_flight": stats["peak_in_flight"],
        "fetch_seconds": fetched - started,
        "write_seconds": written - fetched,
        "wall_seconds": written - started,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with SandboxProcess(args.transactions, latency_ms=args.latency_ms) as sandbox:
        conn = sandbox.connection
        settings = ConnectWiseSettings(
            site=conn["host"],
            company_id=conn["extra"]["company_id"],
            public_key=conn["login"],
            private_key=conn["password"],
            client_id=conn["extra"]["client_id"],
        )
        with ConnectWiseClient(settings) as client:
            body = client.post(
                "finance/accounting/export", {"exportInvoicesFlag": True, "thruDate": "2030-01-01T00:00:00Z"}
            )
            from airflow_provider_cwgl.sandbox.jsonio import dumps

            raw = dumps(body).encode()
            del body
            engine = run(Measured, client, raw, args.concurrency, sandbox)
            baseline = run(OnePerRequest, client, raw, 1, sandbox)
    resolver: Measured = engine["resolver"]
    lowest = floor(resolver)
    latency = args.latency_ms / 1000
    model = sum(latency * math.ceil(n / args.concurrency) for n in resolver.round_requests)
    print(
        f"{args.transactions} invoice transactions, {len(INVOICE_SIDE)} invoice-side paths, "
        f"{args.latency_ms:g} ms per request, concurrency {args.concurrency}"
    )
    print(
        f"distinct records: {resolver.summary()['records']}; rounds: {resolver.stats.rounds} "
        f"(requests per round {resolver.round_requests})"
    )
    print(
        f"{'variant':>10} {'requests':>9} {'fetch s':>8} {'write s':>8} {'wall s':>7} {'peak in flight':>15} "
        f"{'peak RSS MiB':>13}"
    )
    for name, row in (("engine", engine), ("baseline", baseline)):
        print(
            f"{name:>10} {row['requests']:>9} {row['fetch_seconds']:>8.2f} {row['write_seconds']:>8.2f} "
            f"{row['wall_seconds']:>7.2f} {row['peak_in_flight']:>15} {row['peak_rss_mib']:>13.1f}"
        )
    ratio_floor = engine["requests"] / lowest
    speedup = baseline["wall_seconds"] / engine["wall_seconds"]
    bound = model + engine["write_seconds"]
    print(
        f"\nfloor: {lowest} requests; engine/floor = {ratio_floor:.3f} "
        f"({'<= 1.1, target met' if ratio_floor <= 1.1 else 'ABOVE 1.1'})"
    )
    print(
        f"baseline/engine wall time = {speedup:.1f}x ({'>= 25x, target met' if speedup >= 25 else 'BELOW 25x'})"
    )
    print(
        f"model: rounds x latency x ceil(requests/concurrency) = {model:.2f} s, + write {engine['write_seconds']:.2f} s"
        f" = {bound:.2f} s; engine wall {engine['wall_seconds']:.2f} s = {engine['wall_seconds'] / bound:.2f}x "
        f"({'within 3x, target met' if engine['wall_seconds'] <= 3 * bound else 'OVER 3x'})"
    )
    print(json.dumps({"engine_requests": engine["requests"], "floor": lowest, "speedup": round(speedup, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
