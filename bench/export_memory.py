"""Peak memory of a large export: streaming (what the operator does) vs reading everything first.

    make bench            # or: .venv/bin/python bench/export_memory.py [--scales 2000 20000]

For each scale the sandbox runs in its own process with that many invoice transactions; each
variant runs in a fresh interpreter, and its peak RSS growth over the idle (imported) interpreter
is read from /proc (VmHWM after resetting it). Targets (issue 4): at 20,000 transactions the
streaming growth stays below the size of the export's JSON, and its growth at 20,000 is under 1.5x
its growth at 2,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _sandbox_process import SandboxProcess  # noqa: E402

CHILD = Path(__file__).with_name("_memory_child.py")


def measure(connection: dict, variant: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "AIRFLOW_CONN_CONNECTWISE_DEFAULT": json.dumps(connection),
            "PYTHONWARNINGS": "ignore",
        }
        result = subprocess.run(
            [sys.executable, str(CHILD), variant, str(Path(tmp) / "glexport.xml")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scales", type=int, nargs="+", default=[2000, 20000])
    args = parser.parse_args()
    rows = []
    for scale in args.scales:
        with SandboxProcess(scale) as sandbox:
            naive = measure(sandbox.connection, "load-everything")
            streaming = measure(sandbox.connection, "streaming")
        streaming["json_bytes"] = naive["json_bytes"]
        rows += [(scale, streaming), (scale, naive)]
    print(
        f"{'transactions':>12} {'variant':>16} {'JSON MiB':>9} {'XML MiB':>8} {'peak growth MiB':>16} "
        f"{'peak RSS MiB':>13} {'seconds':>8}"
    )
    for scale, row in rows:
        print(
            f"{scale:>12} {row['variant']:>16} {row['json_bytes'] / 2**20:>9.1f} {row['xml_bytes'] / 2**20:>8.1f} "
            f"{row['growth_mib']:>16.1f} {row['peak_mib']:>13.1f} {row['seconds']:>8.1f}"
        )
    streaming = {scale: row for scale, row in rows if row["variant"] == "streaming"}
    if len(streaming) >= 2:
        small, large = streaming[min(streaming)], streaming[max(streaming)]
        ratio = large["growth_mib"] / max(small["growth_mib"], 0.1)
        below = large["growth_mib"] * 2**20 < large["json_bytes"]
        print(
            f"\nstreaming growth at {max(streaming)} vs JSON size: {large['growth_mib']:.1f} MiB vs "
            f"{large['json_bytes'] / 2**20:.1f} MiB -> {'below (target met)' if below else 'NOT below'}"
        )
        print(
            f"streaming growth {max(streaming)} / {min(streaming)}: {ratio:.2f}x "
            f"({'under 1.5x, target met' if ratio < 1.5 else 'NOT under 1.5x'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
