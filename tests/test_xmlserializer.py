"""Our XML read by a referee we did not write: .NET's XmlSerializer (Mono's, the serializer behind
the spec's samples), into classes typed as ConnectWise's 2025.1 models type them.

`make test` installs Mono's compiler and runtime (Debian's packages) when they are missing; without
them these tests skip, except under CI, where a missing referee is a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_xml_writer import write

SOURCE = Path(__file__).parent / "fixtures" / "xmlserializer" / "ReadExpenseBills.cs"


@pytest.fixture(scope="module")
def xmlserializer(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command that reads a GLExport file's expense bills with XmlSerializer."""
    if not (shutil.which("mcs") and shutil.which("mono")):
        if os.environ.get("CI"):
            pytest.fail("Mono (mcs, mono) is missing: `make test` installs it")
        pytest.skip("Mono (mcs, mono) is not installed")
    exe = tmp_path_factory.mktemp("xmlserializer") / "read.exe"
    subprocess.run(
        ["mcs", "-nologo", f"-out:{exe}", "-r:System.Xml.dll", str(SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return ["mono", str(exe)]


def read(command: list[str], xml: bytes, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "glexport.xml"
    path.write_bytes(xml)
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)


def bill(*line_ids: list[int | None]) -> dict:
    return {"expenseBills": [{"id": 4, "detail": [{"id": ids, "total": 5} for ids in line_ids]}]}


def test_the_referee_refuses_an_empty_id_element(xmlserializer: list[str], tmp_path: Path) -> None:
    """The defect's shape, written by hand: XmlSerializer reads ``<id/>`` as one empty item."""
    xml, _ = write(bill([10]))
    broken = xml.replace(b"<id>10</id>", b"<id/>")
    done = read(xmlserializer, broken, tmp_path)
    assert done.returncode != 0 and "FormatException" in done.stdout + done.stderr


def test_our_lists_of_plain_values_are_read_back(xmlserializer: list[str], tmp_path: Path) -> None:
    xml, writer = write(bill([10, 11], [], [12, None, 13]))
    done = read(xmlserializer, xml, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["4:10,11:5", "4::5", "4:12,13:5"]
    assert writer.stats.dropped_list_nulls == 1
