"""Peak memory of the export task (the operator, through the sandbox), without and with references.

    make bench            # or: .venv/bin/python bench/export_memory.py [--scales 10 2000 20000]

For each scale the sandbox runs in its own process with that many invoice transactions. Each
export runs ``GLBatchExportOperator.execute`` in a fresh interpreter (Airflow imported, as in a
task); its peak RSS (VmHWM) and its growth over the idle interpreter are read from /proc.

Targets:
- without references, peak RSS growth from the smallest to the largest scale <= 10% of the
  largest export's JSON (nothing may grow with the export but the output's GL entry ids, which go
  to a file as they are written);
- with ``transaction/invoice`` and 13 other invoice-side paths, peak RSS at the largest scale
  < 1.4x the peak at 2,000: memory grows only with the distinct referenced records (one invoice
  per transaction here), reported in bytes per cached record.

``--malloc-arena-max unset 2`` runs the reference variant again under each ``MALLOC_ARENA_MAX``
(``unset``: glibc's default of 8 arenas per core), side by side in the same run: what capping
glibc's per-thread arenas buys the worker (docs/guides/deploying.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _sandbox_process import SandboxProcess, fetch_export, run_child  # noqa: E402

CHILD = Path(__file__).with_name("_memory_child.py")
REFERENCES = [
    "transaction/invoice",
    "transaction/company",
    "transaction/billToCompany",
    "transaction/companyType",
    "transaction/site",
    "transaction/billToSite",
    "transaction/billingTerms",
    "transaction/project",
    "transaction/currency",
    "transaction/taxCode",
    "transaction/shipToCompany",
    "transaction/shipSite",
    "transaction/detail/detailItem/item",
    "transaction/detail/detailItem/product",
]


def measure(connection: dict, paths: list[str], arena_max: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "AIRFLOW_CONN_CONNECTWISE_DEFAULT": json.dumps(connection),
            "PYTHONWARNINGS": "ignore",
        }
        if arena_max is not None:
            env.pop("MALLOC_ARENA_MAX", None)
            if arena_max != "unset":
                env["MALLOC_ARENA_MAX"] = arena_max
        return run_child([str(CHILD), str(Path(tmp) / "glexport.xml"), ",".join(paths)], env)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[10, 2000, 20000])
    parser.add_argument(
        "--references-from", type=int, default=2000, help="smallest scale run with references"
    )
    parser.add_argument("--malloc-arena-max", nargs="*", default=[], metavar="N|unset")
    args = parser.parse_args()
    rows = []
    for scale in args.scales:
        with SandboxProcess(scale) as sandbox, tempfile.NamedTemporaryFile() as body:
            json_bytes = fetch_export(sandbox, body.name)
            rows.append(
                {
                    "scale": scale,
                    "variant": "no references",
                    "json_bytes": json_bytes,
                    **measure(sandbox.connection, []),
                }
            )
            if scale >= args.references_from:
                rows.append(
                    {
                        "scale": scale,
                        "variant": f"{len(REFERENCES)} reference paths",
                        "json_bytes": json_bytes,
                        **measure(sandbox.connection, REFERENCES),
                    }
                )
            for arena_max in args.malloc_arena_max if scale >= args.references_from else ():
                rows.append(
                    {
                        "scale": scale,
                        "variant": f"{len(REFERENCES)} reference paths, MALLOC_ARENA_MAX {arena_max}",
                        "json_bytes": json_bytes,
                        **measure(sandbox.connection, REFERENCES, arena_max),
                    }
                )
    print(
        "| invoices | variant | export JSON | XML | cached records | peak RSS growth | peak RSS | seconds |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['scale']:,} | {row['variant']} | {row['json_bytes'] / 2**20:,.1f} MiB | "
            f"{row['xml_bytes'] / 2**20:,.1f} MiB | {row['records']:,} | {row['growth_mib']:,.1f} MiB | "
            f"{row['peak_mib']:,.1f} MiB | {row['seconds']:.1f} |"
        )
    plain = [r for r in rows if r["variant"] == "no references"]
    if len(plain) >= 2:
        small, large = plain[0], plain[-1]
        growth = large["peak_mib"] - small["peak_mib"]
        share = growth * 2**20 / large["json_bytes"]
        print(
            f"\nno references: peak RSS {small['peak_mib']:.1f} MiB at {small['scale']:,} -> {large['peak_mib']:.1f} MiB "
            f"at {large['scale']:,}: +{growth:.1f} MiB = {share:.1%} of the {large['json_bytes'] / 2**20:.1f} MiB "
            f"of JSON ({'<= 10%, met' if share <= 0.10 else 'ABOVE 10%'}); {large['gl_entry_ids']:,} GL entry ids "
            "went to the documents file"
        )
    refs = [r for r in rows if r["variant"] == f"{len(REFERENCES)} reference paths"]
    if len(refs) >= 2:
        small, large = refs[0], refs[-1]
        ratio = large["peak_mib"] / small["peak_mib"]
        per_record = (
            (large["peak_mib"] - small["peak_mib"]) * 2**20 / max(1, large["records"] - small["records"])
        )
        print(
            f"with references: peak RSS {large['peak_mib']:.1f} MiB at {large['scale']:,} / {small['peak_mib']:.1f} MiB "
            f"at {small['scale']:,} = {ratio:.2f}x ({'< 1.4x, met' if ratio < 1.4 else 'NOT < 1.4x'}); "
            f"{per_record:,.0f} bytes per cached record ({large['records'] - small['records']:,} more records)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
