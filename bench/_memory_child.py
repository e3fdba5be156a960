"""One export in a fresh interpreter; prints its peak RSS growth as JSON (used by export_memory.py)."""

from __future__ import annotations

import io
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
    variant, out = sys.argv[1], sys.argv[2]
    from airflow_provider_cwgl.glexport.output import LocalOutput
    from airflow_provider_cwgl.glexport.request import build_export_request
    from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter
    from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

    operator = GLBatchExportOperator(task_id="bench", output_file=out, thru_date="2030-01-01")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    baseline = rss_kib("VmRSS")
    started = time.perf_counter()
    if variant == "streaming":
        summary = operator.execute({})
        json_bytes = None
    else:  # the obvious alternative: read the whole answer, parse it, then write
        from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook

        request = build_export_request(thru_date="2030-01-01")
        with ConnectWiseHook().get_conn() as client:
            response, _parsed = client.request(
                "POST", "finance/accounting/export", json_body=request.body(None)
            )
            with LocalOutput(out).open() as handle:
                GLExportXmlWriter().write(io.BytesIO(response.content), handle)
            json_bytes = len(response.content)
        summary = {"counts": {}}
    seconds = time.perf_counter() - started
    peak = rss_kib("VmHWM")
    print(
        json.dumps(
            {
                "variant": variant,
                "baseline_mib": baseline / 1024,
                "peak_mib": peak / 1024,
                "growth_mib": (peak - baseline) / 1024,
                "seconds": seconds,
                "xml_bytes": os.path.getsize(out),
                "json_bytes": json_bytes,
                "transactions": summary["counts"].get("transactions"),
            }
        )
    )


if __name__ == "__main__":
    main()
