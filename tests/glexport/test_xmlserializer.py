"""Our XML read by a referee we did not write: .NET's XmlSerializer (Mono's; the serializer behind
the spec's samples), into classes typed as ConnectWise's 2025.1 models type them. The classes are
generated from the vendored API catalogue (``sandbox/fixtures/connectwise-api-2025.1.json``).

`make test` installs Mono's compiler and runtime (Debian's packages) when they are missing; without
them these tests skip, except under CI, where a missing referee is a failure."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import FIXTURES, settings_for, write_xml

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.glexport import schema
from airflow_provider_cwgl.glexport.exporter import GLExporter
from airflow_provider_cwgl.glexport.request import ExportRequest
from airflow_provider_cwgl.output.local import LocalOutput
from airflow_provider_cwgl.sandbox import Sandbox, catalogue, generated_store

HERE = FIXTURES / "xmlserializer"
SCALARS = {"integer": "long", "number": "decimal", "boolean": "bool"}


def csharp_classes(models: dict[str, Any], root: str = "GLExport") -> str:
    """C# classes for ``root`` and every model it reaches: fields as the catalogue types them
    (nullable numbers and booleans as ``T?``), lists of objects as a plural element of items
    named as the spec's samples name them, lists of plain values as one element per value."""
    lines = ["using System.Collections.Generic;", "using System.Xml.Serialization;"]
    todo, done = [root], set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        attribute = f'[XmlRoot("{name}")] ' if name == root else ""
        lines.append(f"{attribute}public class {name} {{")
        for field in models[name].values():
            if field.type == "object":  # `_info`, which the writer drops
                continue
            if field.type in models:
                todo.append(field.type)
                cs = field.type
            elif field.type.startswith("string"):
                cs = "string"
            else:
                cs = SCALARS[field.type] + ("?" if field.nullable and not field.array else "")
            if field.array and field.type in models:
                item = schema.item_name(field.name)
                lines.append(
                    f'  [XmlArray("{field.name}"), XmlArrayItem("{item}")] public List<{cs}> f_{field.name};'
                )
            elif field.array:
                lines.append(f'  [XmlElement("{field.name}")] public List<{cs}> f_{field.name};')
            else:
                nullable = ", IsNullable = true" if cs.endswith("?") else ""
                lines.append(f'  [XmlElement("{field.name}"{nullable})] public {cs} f_{field.name};')
        lines.append("}")
    return "\n".join(lines) + "\n"


def compile_reader(out: Path, *sources: Path) -> list[str]:
    if not (shutil.which("mcs") and shutil.which("mono")):
        if os.environ.get("CI"):
            pytest.fail("Mono (mcs, mono) is missing: `make test` installs it")
        pytest.skip("Mono (mcs, mono) is not installed")
    exe = out / "read.exe"
    built = subprocess.run(
        ["mcs", "-nologo", f"-out:{exe}", "-r:System.Xml.dll", *map(str, sources)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return ["mono", str(exe)]


@pytest.fixture(scope="module")
def read_expense_bills(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return compile_reader(tmp_path_factory.mktemp("bills"), HERE / "ReadExpenseBills.cs")


@pytest.fixture(scope="module")
def read_glexport(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("glexport")
    classes = out / "GLExportModels.cs"
    classes.write_text(csharp_classes(catalogue.models()))
    return compile_reader(out, HERE / "ReadGLExport.cs", classes)


def read(command: list[str], path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, str(path), *options], capture_output=True, text=True, timeout=120)


def bill(*line_ids: list[int | None]) -> dict:
    return {"expenseBills": [{"id": 4, "detail": [{"id": ids, "total": 5} for ids in line_ids]}]}


def test_the_referee_refuses_an_empty_id_element(read_expense_bills: list[str], tmp_path: Path) -> None:
    """The defect's shape, written by hand: XmlSerializer reads ``<id/>`` as one empty item."""
    xml, _ = write_xml(bill([10]))
    path = tmp_path / "broken.xml"
    path.write_bytes(xml.replace(b"<id>10</id>", b"<id/>"))
    done = read(read_expense_bills, path)
    assert done.returncode != 0 and "FormatException" in done.stdout + done.stderr


def test_our_lists_of_plain_values_are_read_back(read_expense_bills: list[str], tmp_path: Path) -> None:
    xml, writer = write_xml(bill([10, 11], [], [12, None, 13]))
    path = tmp_path / "glexport.xml"
    path.write_bytes(xml)
    done = read(read_expense_bills, path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split() == ["4:10,11:5", "4::5", "4:12,13:5"]
    assert writer.stats.dropped_list_nulls == 1


def counted(output: str) -> dict[str, tuple[int, Decimal]]:
    rows = (line.split() for line in output.splitlines())
    return {name: (int(count), Decimal(total)) for name, count, total in rows}


@pytest.mark.parametrize("sample", ["sample_invoices.xml", "sample_procurement.xml"])
def test_the_generated_classes_read_the_spec_samples(read_glexport: list[str], sample: str) -> None:
    """The referee's classes are right: they read the spec's own samples."""
    done = read(read_glexport, FIXTURES / sample)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(count for count, _ in counted(done.stdout).values())


def test_a_whole_export_reads_back_with_the_served_counts_and_totals(
    read_glexport: list[str], make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    store = generated_store(transactions=60)
    # A bill line whose expense-entry id list is empty, as ConnectWise serves one with no entries.
    bill = next(d.body for d in store.documents if d.section == "expenseBills" and d.body.get("detail"))
    bill["detail"][0]["id"] = []
    sandbox = make_sandbox(store)
    request = ExportRequest(
        export_invoices=True,
        export_expenses=True,
        export_procurement=True,
        thru_date=datetime(2026, 3, 1, tzinfo=timezone.utc),
        references=("transaction/company", "expenseBill/detailItem/member"),
    )
    output = tmp_path / "glexport.xml"
    GLExporter(ConnectWiseClient(settings_for(sandbox))).run(request, LocalOutput(output))
    # The oracle: the JSON the sandbox serves for the same request, read here with json alone.
    creds = sandbox.credentials
    token = base64.b64encode(
        f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode()
    ).decode()
    served = httpx.post(
        f"{sandbox.api_url}finance/accounting/export",
        json=sandbox.log.matching("POST", "finance/accounting/export")[-1].json(),
        headers={"Authorization": f"Basic {token}", "clientId": creds["client_id"]},
        timeout=30,
    )
    served.raise_for_status()
    models = catalogue.models()
    expected = {}
    for name, items in json.loads(served.text, parse_float=Decimal).items():
        if isinstance(items, list) and items:
            has_total = "total" in models[schema.field("GLExport", name).model]
            total = sum((Decimal(i.get("total") or 0) for i in items), Decimal(0)) if has_total else 0
            expected[name] = (len(items), total)
    assert len(expected) >= 5
    done = read(read_glexport, output)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {name: row for name, row in counted(done.stdout).items() if row[0]} == expected


def test_credit_memos_and_one_cent_invoices_read_back_exactly(
    read_glexport: list[str], make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    """A credit memo (negative total, positive lines, a number that is text) and a one-cent invoice
    (a unit price of 0.00), as .NET reads them: every amount to the cent."""
    store = generated_store(transactions=100)
    odd = [
        d.body
        for d in store.documents
        if d.section == "transactions"
        and (d.body["documentType"] == "CREDIT MEMO" or d.body["total"] == Decimal("0.01"))
    ]
    assert {b["documentType"] for b in odd} == {"CREDIT MEMO", "INVOICE"}
    sandbox = make_sandbox(store)
    output = tmp_path / "glexport.xml"
    request = ExportRequest(thru_date=datetime(2030, 1, 1, tzinfo=timezone.utc))
    GLExporter(ConnectWiseClient(settings_for(sandbox))).run(request, LocalOutput(output))
    done = read(read_glexport, output, "transactions")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {}
    for line in done.stdout.splitlines():
        doc_id, document_type, number, total, lines = line.split("\t")
        rows[int(doc_id)] = (document_type, number, Decimal(total), [Decimal(x) for x in lines.split(",")])
    assert len(rows) == sum(1 for d in store.documents if d.section == "transactions")
    for body in odd:
        expected = (
            body["documentType"],
            body["documentNumber"],
            body["total"],
            [x["total"] for x in body["detail"]],
        )
        assert rows[body["id"]] == expected
