"""The XCom summaries have the shape their types declare: every required key, no undeclared one,
values of the declared types, nested documents too; and they are plain JSON."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any, Union

import pytest
import typing_extensions as te

from airflow_provider_cwgl.glexport.batch import BatchResult
from airflow_provider_cwgl.glexport.summary import ExportSummary
from airflow_provider_cwgl.operators.gl_batch import BatchSummary, GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox


def problems(value: Any, hint: Any, where: str = "summary") -> list[str]:
    """Where ``value`` departs from the type ``hint`` (TypedDicts, lists, dicts, unions, scalars)."""
    if hint is Any:
        return []
    origin, args = te.get_origin(hint), te.get_args(hint)
    if origin is Union or origin is types.UnionType:
        found = [problems(value, arg, where) for arg in args]
        return [] if any(not p for p in found) else [f"{where}: {value!r} is none of {hint}"]
    if te.is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a dict"]
        hints = te.get_type_hints(hint, include_extras=True)
        optional = {k for k, t in hints.items() if te.get_origin(t) is te.NotRequired}
        required = set(hints) - optional if hint.__total__ else set()
        out = [f"{where}: missing {k!r}" for k in sorted(required - value.keys())]
        out += [f"{where}: undeclared {k!r}" for k in sorted(value.keys() - hints.keys())]
        for key in value.keys() & hints.keys():
            declared = hints[key]
            if te.get_origin(declared) is te.NotRequired:
                declared = te.get_args(declared)[0]
            out += problems(value[key], declared, f"{where}.{key}")
        return out
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [p for n, item in enumerate(value) for p in problems(item, args[0], f"{where}[{n}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: {value!r} is not a dict"]
        return [p for k, item in value.items() for p in problems(item, args[1], f"{where}[{k!r}]")]
    if hint is None or hint is type(None):
        return [] if value is None else [f"{where}: {value!r} is not None"]
    return [] if type(value) is hint else [f"{where}: {value!r} is not {hint.__name__}"]


def assert_conforms(value: Any, hint: Any) -> None:
    assert problems(value, hint) == []
    assert json.loads(json.dumps(value)) == value  # XCom carries it as JSON


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def export(tmp_path: Path, name: str, **settings: object) -> Any:
    return GLBatchExportOperator(
        task_id="export",
        output_file=str(tmp_path / name),
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="2026-03-01",
        **settings,
    ).execute({})


def test_the_checker_finds_what_departs_from_a_type() -> None:
    assert problems({"counts": {"a": 1}}, ExportSummary)  # most keys missing
    assert problems("x", list[str]) == ["summary: 'x' is not a list"]
    assert problems({"x": "1"}, dict[str, int]) == ["summary['x']: '1' is not int"]
    assert problems(True, int) == ["summary: True is not int"]  # a bool is not a count
    assert problems(None, int | None) == [] and problems("7", int | None)


def test_export_and_batch_summaries_match_their_types(connected: Sandbox, tmp_path: Path) -> None:
    first = export(
        tmp_path, "day.xml", batch_identifier="CONTRACT-1", references_to_fetch=["customer/company"]
    )
    assert {"batch_identifier", "references"} <= first.keys()  # the optional keys are checked too
    assert_conforms(first, ExportSummary)
    assert first["review"]["collections"] and first["review"]["accounts"]  # nested ones not empty

    posted = GLBatchCreateOperator(task_id="batch", export_summary=first).execute({})
    assert posted["created"] and posted["posted"]
    assert_conforms(posted, BatchSummary)

    again = export(tmp_path, "again.xml", batch_id=posted["batch_id"])
    assert again["batch_id"] == posted["batch_id"] and "batch_identifier" not in again
    assert_conforms(again, ExportSummary)

    nothing = GLBatchCreateOperator(task_id="batch", export_summary=again).execute({})
    assert nothing["batch_identifier"] is None and not nothing["created"]
    assert_conforms(nothing, BatchResult)
