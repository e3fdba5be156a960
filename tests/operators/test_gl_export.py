"""GLBatchExportOperator end to end against the sandbox: the spec's samples, settings, atomic output."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import fails_task, summary_ids, xml_ids
from lxml import etree

from airflow_provider_cwgl.errors import ConnectWiseError, ElementNameError, ExportSettingError
from airflow_provider_cwgl.glexport.request import COLLECTION_KINDS, EXPORT_SETTINGS
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox, SandboxStore, generated_store


def canonical(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


@pytest.fixture
def use_sandbox(monkeypatch: pytest.MonkeyPatch) -> Callable[[Sandbox], None]:
    def connect(sandbox: Sandbox) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))

    return connect


def run(output: Path, **settings: object) -> dict:
    operator = GLBatchExportOperator(task_id="export", output_file=str(output), **settings)
    return operator.execute({})


@pytest.mark.parametrize(
    ("flags", "sample"),
    [
        ({}, "sample_invoices.xml"),
        ({"export_unposted_invoices": False, "export_unposted_procurement": True}, "sample_procurement.xml"),
    ],
)
def test_spec_samples_end_to_end(
    cw_sample_sandbox: Sandbox,
    use_sandbox: Callable,
    tmp_path: Path,
    fixtures_dir: Path,
    flags: dict,
    sample: str,
) -> None:
    use_sandbox(cw_sample_sandbox)
    out = tmp_path / "glexport.xml"
    summary = run(out, thru_date="2026-03-01", **flags)
    assert canonical(out.read_bytes()) == canonical((fixtures_dir / sample).read_bytes())
    assert summary["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert summary["bytes"] == out.stat().st_size
    assert summary["review"]["balance"]["ok"] and summary["review"]["balance"]["checked"] == 1


def test_invoice_sample_summary(cw_sample_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path) -> None:
    use_sandbox(cw_sample_sandbox)
    summary = run(tmp_path / "x.xml", thru_date="2026-03-01")
    assert summary["counts"] == {"customers": 1, "transactions": 1}
    assert summary["totals"] == {"transactions": "10"}
    assert summary["gl_entry_id_count"] == 8
    assert summary["gl_documents_file"] == str(tmp_path / "x.xml.gl-docs.jsonl")
    assert summary_ids(summary) == [1009, 1010, 1011, 1012, 1013, 1014, 1015, 1016]
    assert "gl_entry_ids" not in summary
    assert summary["request"] == {
        "exportInvoicesFlag": True,
        "exportExpensesFlag": False,
        "exportProductsFlag": False,
        "thruDate": "2026-03-01T00:00:00Z",
    }
    json.dumps(summary)  # XCom-safe


def test_generated_export_counts_totals_and_ids(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sandbox)
    store = cw_sandbox.store
    summary = run(
        tmp_path / "all.xml",
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date=store.today.isoformat(),
    )
    docs = [d for d in store.documents if d.document_date <= store.today]
    for section in COLLECTION_KINDS:
        expected = [d for d in docs if d.section == section]
        assert summary["counts"].get(section, 0) == len(expected), section
        if expected and "total" in expected[0].body:
            assert Decimal(summary["totals"][section]) == sum(d.body["total"] for d in expected)
    assert set(summary_ids(summary)) == set().union(*(d.gl_entry_ids for d in docs))
    assert summary["review"]["balance"]["ok"], summary["review"]["balance"]
    root = etree.parse(str(tmp_path / "all.xml")).getroot()
    assert len(root.findall("transactions/transaction")) == summary["counts"]["transactions"]


def test_thru_date_and_no_thru_date_reach_connectwise(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sandbox)
    run(tmp_path / "a.xml", thru_date="2026-02-15")
    run(tmp_path / "b.xml", thru_date=None)
    bodies = [r.json() for r in cw_sandbox.log.matching("POST", "finance/accounting/export")]
    assert bodies[0]["thruDate"] == "2026-02-15T00:00:00Z"
    assert "thruDate" not in bodies[1]
    early = etree.parse(str(tmp_path / "a.xml")).getroot().findall("transactions/transaction")
    late = etree.parse(str(tmp_path / "b.xml")).getroot().findall("transactions/transaction")
    assert 0 < len(early) < len(late)
    assert all(t.findtext("documentDate") <= "2026-02-15T00:00:00" for t in early)


def _locations_store() -> SandboxStore:
    store = generated_store(transactions=40)
    store.add("system/locations", {"id": 99, "name": "Tampa office", "ownerLevelId": 1})  # clashes by case
    return store


def test_location_id_wins_over_name(make_sandbox: Callable, use_sandbox: Callable, tmp_path: Path) -> None:
    sandbox = make_sandbox()
    use_sandbox(sandbox)
    summary = run(tmp_path / "x.xml", location_id="2", location_name="London Office", thru_date="2030-01-01")
    assert summary["location_id"] == 2
    assert sandbox.log.count("GET", "system/locations") == 1  # the id is checked; the name is not looked for
    expected = [d for d in sandbox.store.documents if d.section == "transactions" and d.location_id == 2]
    assert summary["counts"]["transactions"] == len(expected)


def test_location_name_matches_case_insensitively(
    make_sandbox: Callable, use_sandbox: Callable, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    use_sandbox(sandbox)
    summary = run(tmp_path / "x.xml", location_name="  london OFFICE ", thru_date="2030-01-01")
    assert summary["location_id"] == 2
    assert summary["request"]["locationId"] == 2


def test_unknown_location_name_exports_all_with_a_warning(
    make_sandbox: Callable, use_sandbox: Callable, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = make_sandbox()
    use_sandbox(sandbox)
    caplog.set_level(logging.WARNING)
    summary = run(tmp_path / "x.xml", location_name="Atlantis", thru_date="2030-01-01")
    assert summary["location_id"] is None and "locationId" not in summary["request"]
    assert summary["counts"]["transactions"] == sum(
        1 for d in sandbox.store.documents if d.section == "transactions"
    )
    assert "No ConnectWise location is named 'Atlantis'" in caplog.text and "ALL locations" in caplog.text


def test_ambiguous_location_name_fails_listing_them(
    make_sandbox: Callable, use_sandbox: Callable, tmp_path: Path
) -> None:
    sandbox = make_sandbox(_locations_store())
    use_sandbox(sandbox)
    with fails_task(
        ExportSettingError, match=r"location_name: 'TAMPA OFFICE' matches several locations: 1 .*99"
    ):
        run(tmp_path / "x.xml", location_name="TAMPA OFFICE")
    assert sandbox.log.count("POST", "finance/accounting/export") == 0
    assert not (tmp_path / "x.xml").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"export_unposted_invoices": "perhaps"}, "export_unposted_invoices: expected a boolean"),
        ({"export_unposted_invoices": False}, "at least one must be True"),
        ({"location_id": "-1"}, "location_id: expected a positive integer"),
        ({"thru_date": "31/12/2026"}, "thru_date: expected an ISO 8601 date"),
        ({"references_to_fetch": ["customer/compnay"]}, "did you mean 'customer/company'"),
        ({"output_file": ""}, "output_file: expected a file path or URL"),
        ({"output_file": "nosuchscheme://bucket/key.xml"}, "output_file: cannot use"),
    ],
)
def test_bad_settings_fail_before_any_request(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path, settings: dict, message: str
) -> None:
    use_sandbox(cw_sandbox)
    settings = {"output_file": str(tmp_path / "x.xml"), **settings}
    with fails_task(ExportSettingError, match=message):
        GLBatchExportOperator(task_id="export", **settings).execute({})
    assert len(cw_sandbox.log) == 0


def test_unwritable_output_fails_before_any_request(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sandbox)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with fails_task(ExportSettingError, match="output_file: cannot write"):
        run(blocker / "glexport.xml")
    assert len(cw_sandbox.log) == 0


def test_parent_folders_are_created(
    cw_sample_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sample_sandbox)
    out = tmp_path / "gl" / "2026-03-01" / "glexport.xml"
    run(f"file://{out}")
    assert out.exists()


def test_failed_download_leaves_previous_file(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sandbox)
    out = tmp_path / "glexport.xml"
    out.write_bytes(b"previous good export")
    cw_sandbox.faults.add(path="finance/accounting/export", status=400)
    with pytest.raises(ConnectWiseError) as failure:
        run(out)
    assert str(failure.value) == (  # a 400 is not retried
        "ConnectWise POST finance/accounting/export failed (HTTP 400): ServerError: The sandbox injected this failure."
    )
    assert out.read_bytes() == b"previous good export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glexport.xml"]


def test_failure_half_way_through_writing_leaves_no_partial_file(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sandbox)
    out = tmp_path / "glexport.xml"
    out.write_bytes(b"previous good export")
    unwritable_last_transaction(cw_sandbox)
    with fails_task(ElementNameError, match="^'bad name' cannot be an XML element name$"):
        run(out, thru_date="2030-01-01")
    assert out.read_bytes() == b"previous good export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glexport.xml"]


def unwritable_last_transaction(sandbox: Sandbox) -> None:
    """Give the export's last transaction a field XML cannot name: the writer fails on it after
    every item before it is written (a real failure half way, no patched internals)."""
    [d for d in sandbox.store.documents if d.section == "transactions"][-1].body["bad name"] = 1


def test_templated_fields_cover_every_setting() -> None:
    assert set(GLBatchExportOperator.template_fields) >= {
        "connectwise_conn_id",
        "export_unposted_invoices",
        "export_unposted_expenses",
        "export_unposted_procurement",
        "output_file",
        "location_id",
        "location_name",
        "references_to_fetch",
        "thru_date",
    }


def test_the_signature_is_the_one_table_of_export_settings() -> None:
    """The operator spells its settings out (Airflow checks mapped arguments against the signature);
    they are EXPORT_SETTINGS, in order and with the same defaults, each templated and documented."""
    own = {"self", "output_file", "connectwise_conn_id", "output_conn_id", "reference_concurrency", "kwargs"}
    parameters = inspect.signature(GLBatchExportOperator.__init__).parameters.values()
    assert [(p.name, p.default) for p in parameters if p.name not in own] == [
        (s.name, s.default) for s in EXPORT_SETTINGS
    ]
    documented = GLBatchExportOperator.__doc__ or ""
    for setting in EXPORT_SETTINGS:
        assert setting.name in GLBatchExportOperator.template_fields
        assert f":param {setting.name}: " in documented
    operator = GLBatchExportOperator(task_id="t", output_file="/x", location_id=7)
    assert {s.name: getattr(operator, s.name) for s in EXPORT_SETTINGS} == {
        **{s.name: s.default for s in EXPORT_SETTINGS},
        "location_id": 7,
    }
    # The documented defaults: invoices only, an empty export written.
    assert (operator.export_unposted_invoices, operator.export_unposted_expenses) == (True, False)
    assert (operator.export_unposted_procurement, operator.skip_when_empty) == (False, False)


def test_one_documents_file_beside_the_output_holds_the_gl_entry_ids(
    cw_sandbox: Sandbox, use_sandbox: Callable, tmp_path: Path
) -> None:
    use_sandbox(cw_sandbox)
    first = run(tmp_path / "gl.xml", export_unposted_expenses=True, thru_date="2030-01-01")
    docs_file = tmp_path / "gl.xml.gl-docs.jsonl"
    assert first["gl_documents_file"] == str(docs_file) and "gl_entry_ids_file" not in first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gl.xml", "gl.xml.gl-docs.jsonl"]
    header, *lines = docs_file.read_text().splitlines()
    assert json.loads(header) == {
        "format": "cwgl GL documents",
        "sha256": first["sha256"],
        "count": first["document_count"],
    }
    docs = [json.loads(line) for line in lines]
    assert len(docs) == first["document_count"] > 0
    assert {tuple(d) for d in docs} == {("collection", "id", "total", "gl_entry_ids")}
    ids = summary_ids(first)
    assert len(ids) == first["gl_entry_id_count"] > 0
    with open(tmp_path / "gl.xml", "rb") as handle:
        assert xml_ids(handle)[0] == ids  # the same rule, read back from the XML
    # A later run replaces both; the first summary no longer matches and says so.
    run(tmp_path / "gl.xml", thru_date="2030-01-01")
    with pytest.raises(ValueError, match="the GL documents file is of another export"):
        summary_ids(first)
    header = docs_file.read_text().splitlines()[0]
    docs_file.write_text(header + "\n" + lines[0] + "\n")
    with pytest.raises(ValueError, match="incomplete"):
        summary_ids({**first, "sha256": json.loads(header)["sha256"]})
