"""Memory while the client refuses a gzip bomb: 1 GiB of JSON in about 1 MB, sent by the
hostile loopback server of tests/hostile_server.py, at the default limits (max_response_mb 1024).

- on a listing (read into memory, capped at an eighth: 128 MiB);
- on the export (streamed to a temporary file, capped at 1024 MiB; a 2 GiB bomb).

Each in a fresh interpreter; prints the outcome, the peak RSS growth over the idle interpreter
(ru_maxrss) and the seconds. Run: .venv/bin/python bench/decompression_bomb.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(kind: str) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import hostile_server as hostile

    from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseSettings
    from airflow_provider_cwgl.errors import ConnectWiseError

    size = 1 << 30 if kind == "listing" else 2 << 30
    server = hostile.HostileServer(hostile.bomb(size)).start()
    settings = ConnectWiseSettings(
        site=server.site,
        company_id=hostile.COMPANY,
        public_key=hostile.PUBLIC,
        private_key=hostile.PRIVATE,
        client_id=hostile.CLIENT_ID,
        codebase=hostile.CODEBASE,
    )
    idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    outcome = "accepted (unexpected)"
    with ConnectWiseClient(settings) as client:
        try:
            if kind == "listing":
                list(client.list("system/locations"))
            else:
                with tempfile.TemporaryFile() as dest:
                    client.post_to_file("finance/accounting/export", {}, dest, read=lambda f: None)
        except ConnectWiseError as exc:
            outcome = str(exc).split(": ", 1)[1].split(" once")[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"| {kind} | {size >> 30} GiB | {outcome} | {(peak - idle) / 1024:.1f} MiB | "
        f"{time.monotonic() - started:.1f} |"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        child(sys.argv[1])
    else:
        print("| call | bomb (inflated) | outcome | peak RSS growth | seconds |")
        print("|---|---:|---|---:|---:|")
        for kind in ("listing", "export"):
            subprocess.run([sys.executable, __file__, kind], check=True, cwd=REPO)
