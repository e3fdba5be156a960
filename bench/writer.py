"""The writer against the parse floor and the obvious alternatives, side by side on one export.

    .venv/bin/python bench/writer.py [--invoices 20000] [--repeat 2] [--rows json.loads,project,...]
                                     [--base GIT-REVISION]

The sandbox (own process) generates an export of ``--invoices`` invoice transactions; it is
fetched once to a file. Each way of turning that file into GLExport XML then runs in a fresh
interpreter, ``--repeat`` times; printed are its wall time (best and worst, imports excluded), its
CPU time (best: on a shared machine the steadier figure) and peak RSS (VmHWM). The rows:

- the whole file decoded at once by ``json.loads(raw, parse_float=Decimal)`` (the standard
  library's C decoder, no XML): the floor of decoding every value exactly;
- this project's streaming writer alone (``GLExportXmlWriter``);
- the operator's real write step (``exporter.write_export``): the writer with the summary, the
  review and the documents file built on the way;
- the bare ``ijson.parse`` of the same file (events only, no XML): the streaming parse floor;
- ``orjson.loads`` + an lxml tree built in memory + ``tostring`` (fast C, everything in memory);
- what a user would write: ``json.load`` + ``xmltodict.unparse``.

With ``--base`` (a commit, branch or tag of this repository) the package as it was there is
extracted (``git archive``) and its writer and write step run as two more rows in the same
rounds (``base project``, ``base project+summary``): a before/after of a change on one machine
in one run.

Targets, on best times (wall and CPU both printed; ``--rows`` runs some rows only, and the
targets of the rows run): the writer alone <= 1.1x the whole-file ``json.loads`` and the write
step with its summary and review <= 1.25x it; the writer >= 3x faster than xmltodict, <= 3.5x the
ijson floor, and its peak RSS < 1/10 of the lxml build's. Needs the ``bench`` extra (orjson, xmltodict).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _sandbox_process import SandboxProcess, fetch_export, run_child  # noqa: E402

CHILD = Path(__file__).with_name("_writer_child.py")
ROWS = [
    ("json.loads", "whole-file json.loads(raw, parse_float=Decimal) (C decode, no XML)"),
    ("project", "this project's streaming writer alone"),
    ("project+summary", "the write step: writer + summary, review and documents file"),
    ("ijson.parse", "bare ijson.parse of the file (events only, no XML)"),
    ("lxml", "orjson.loads + lxml tree in memory + tostring"),
    ("xmltodict", "what a user would write: json.load + xmltodict.unparse"),
]


BASE_ROWS = ("project", "project+summary")  # the rows ``--base`` runs again with the old package
REPO = Path(__file__).resolve().parent.parent


def run(variant: str, source: Path, tmp: Path, package: Path | None = None) -> dict:
    """One measured run; with ``package`` (a folder holding an ``airflow_provider_cwgl``) that
    package is imported instead of this checkout's (it comes first on the path)."""
    env = None
    if package is not None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(package), os.environ.get("PYTHONPATH")])),
        }
    name = f"base-{variant}" if package is not None else variant
    return run_child([str(CHILD), variant, str(source), str(tmp / f"{name}.xml")], env=env)


def extract_package(revision: str, folder: Path) -> Path:
    """``airflow_provider_cwgl`` as it is at ``revision``, unpacked into ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "airflow_provider_cwgl"],
        capture_output=True,
        check=True,
    ).stdout
    folder.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rows", default=",".join(name for name, _ in ROWS), help="comma-separated")
    parser.add_argument("--base", help="also run the writer rows with the package at this git revision")
    args = parser.parse_args()
    rows = [(name, label) for name, label in ROWS if name in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        base = extract_package(args.base, tmp / "base") if args.base else None
        plan: list[tuple[str, str, Path | None]] = []
        for name, label in rows:
            plan.append((name, label, None))
            if base is not None and name in BASE_ROWS:
                plan.append((f"base {name}", f"{label}, at {args.base}", base))
        rows = [(name, label) for name, label, _ in plan]
        source = tmp / "export.json"
        with SandboxProcess(args.invoices) as sandbox:
            fetch_export(sandbox, source)
        results: dict[str, list[dict]] = {name: [] for name, _ in rows}
        for _ in range(args.repeat):  # interleaved, so a busy moment does not hit one variant only
            for name, _, package in plan:
                results[name].append(run(name.removeprefix("base "), source, tmp, package))
        xml = tmp / "project.xml"
        xml_bytes = xml.stat().st_size if xml.exists() else 0
        same = None
        if base is not None and xml.exists() and (tmp / "base-project.xml").exists():
            same = xml.read_bytes() == (tmp / "base-project.xml").read_bytes()
        json_bytes = source.stat().st_size
    print(
        f"{args.invoices:,} invoices: export JSON {json_bytes / 2**20:.1f} MiB, XML {xml_bytes / 2**20:.1f} MiB, "
        f"best and worst of {args.repeat} runs, each in a fresh interpreter\n"
    )
    print("| way to turn the JSON into GLExport XML | time | CPU | peak RSS |")
    print("|---|---:|---:|---:|")
    best, cpu = {}, {}
    for name, label in rows:
        times = sorted(r["seconds"] for r in results[name])
        peak = max(r["peak_mib"] for r in results[name])
        best[name], cpu[name] = (times[0], peak), min(r["cpu_seconds"] for r in results[name])
        spread = f"{times[0]:.2f}–{times[-1]:.2f} s" if len(times) > 1 else f"{times[0]:.2f} s"
        print(f"| {label} | {spread} | {cpu[name]:.2f} s | {peak:,.0f} MiB |")
    print()
    targets = [
        ("writer alone vs whole-file json.loads", "project", "json.loads", 1.1),
        ("write step vs whole-file json.loads", "project+summary", "json.loads", 1.25),
        ("writer vs ijson.parse floor", "project", "ijson.parse", 3.5),
    ]
    if base is not None:
        targets += [
            (f"writer at {args.base} vs whole-file json.loads", "base project", "json.loads", 1.1),
            (
                f"write step at {args.base} vs whole-file json.loads",
                "base project+summary",
                "json.loads",
                1.25,
            ),
        ]
    for what, row, floor, target in targets:
        if row in best and floor in best:
            wall, on_cpu = best[row][0] / best[floor][0], cpu[row] / cpu[floor]
            verdict = f"<= {target}x on CPU, met" if on_cpu <= target else f"ABOVE {target}x on CPU"
            print(f"{what}: {wall:.2f}x wall, {on_cpu:.2f}x CPU ({verdict})")
    if same is not None:
        print(f"writer's XML at {args.base} and now: {'the same bytes' if same else 'DIFFERENT'}")
    if "xmltodict" in best and "project" in best:
        faster = best["xmltodict"][0] / best["project"][0]
        print(f"writer vs xmltodict: {faster:.1f}x faster ({'>= 3x, met' if faster >= 3 else 'BELOW 3x'})")
    if "lxml" in best and "project" in best:
        memory = best["project"][1] / best["lxml"][1]
        print(
            f"writer peak RSS / lxml in memory: {memory:.3f} ({'< 1/10, met' if memory < 0.1 else 'NOT < 1/10'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
