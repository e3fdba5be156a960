"""One export through the operator in a fresh interpreter; prints its figures as JSON (export_memory.py).

_memory_child.py OUTPUT [REFERENCE_PATH,...]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def main() -> None:
    out = sys.argv[1]
    paths = [p for p in sys.argv[2].split(",") if p] if len(sys.argv) > 2 else []
    from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

    operator = GLBatchExportOperator(
        task_id="bench", output_file=out, thru_date="2030-01-01", references_to_fetch=paths or None
    )
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    baseline = rss_kib("VmRSS")
    started = time.perf_counter()
    summary = operator.execute({})
    seconds = time.perf_counter() - started
    peak = rss_kib("VmHWM")
    print(
        json.dumps(
            {
                "baseline_mib": baseline / 1024,
                "peak_mib": peak / 1024,
                "growth_mib": (peak - baseline) / 1024,
                "seconds": seconds,
                "xml_bytes": os.path.getsize(out),
                "transactions": summary["counts"].get("transactions", 0),
                "gl_entry_ids": summary["gl_entry_id_count"],
                "records": summary.get("references", {}).get("records", 0),
            }
        )
    )


if __name__ == "__main__":
    main()
