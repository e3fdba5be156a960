"""Marking exports exported: idempotent batch creation and re-export, against the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from conftest import (
    export_every_collection,
    fails_task,
    settings_for,
    summary_ids,
    without_adjustments,
    xml_ids,
)
from lxml import etree

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.errors import (
    BatchConflictError,
    BatchOverlapError,
    ExportSettingError,
    SettingError,
)
from airflow_provider_cwgl.glexport.batch import BatchCreator
from airflow_provider_cwgl.glexport.documents import read_documents
from airflow_provider_cwgl.glexport.identifier import batch_identifier_for
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.output.resolve import open_for_reading
from airflow_provider_cwgl.sandbox import Sandbox, generated_store


def canonical(data: bytes) -> bytes:
    return etree.tostring(etree.fromstring(data, etree.XMLParser(remove_blank_text=True)), method="c14n")


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def documents_of(summary: dict) -> list[dict]:
    with open(summary["gl_documents_file"], "rb") as source:
        return list(read_documents(source, summary["sha256"]))


def create(summary: dict | None = None, **kwargs: object) -> dict:
    operator = GLBatchCreateOperator(task_id="batch", export_summary=summary, **kwargs)
    return operator.execute({})


def test_batch_marks_records_exported(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    result = create(summary, batch_identifier="GL-2026-03-01-IEP")
    assert result["created"] is True and result["records"] == len(summary_ids(summary))
    batch = connected.store.batches[result["batch_id"]]
    assert batch.identifier == "GL-2026-03-01-IEP"
    assert sorted(batch.processed_record_ids) == summary_ids(summary)
    assert batch.flags == {"invoices": True, "expenses": True, "procurement": True}
    again = export_every_collection(tmp_path, "next.xml")
    # Everything batched is gone; adjustments carry no GL entry id and stay (a known gap).
    assert set(again["counts"]) <= {"adjustmentTransactions"}
    assert not summary_ids(again)


def test_dropped_response_does_not_make_a_second_batch(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches", drop=True, times=1)
    result = create(summary, batch_identifier="DROPPED-1")
    assert result["created"] is True
    assert len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 1


def test_server_error_before_creation_is_retried_once_looked_up(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches", status=503, times=1)
    result = create(summary, batch_identifier="RETRY-503")
    assert result["created"] is True and len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 2
    assert connected.log.count("GET", "finance/accounting/batches") >= 2  # looked up before each POST


def test_retried_task_finds_its_batch(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    first = create(summary, batch_identifier="SAME-RUN")
    second = create(summary, batch_identifier="SAME-RUN")
    assert first["batch_id"] == second["batch_id"]
    assert (first["created"], second["created"]) == (True, False)
    assert len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 1


def test_identifier_reused_with_other_records_fails(connected: Sandbox, tmp_path: Path) -> None:
    create(
        export_every_collection(tmp_path, export_unposted_expenses=False, export_unposted_procurement=False),
        batch_identifier="TAKEN",
    )
    other = export_every_collection(tmp_path, "expenses.xml", export_unposted_invoices=False)
    with fails_task(
        BatchConflictError, match="'TAKEN' is already used by ConnectWise batch 1 with other records"
    ) as info:
        create(other, batch_identifier="TAKEN")
    assert isinstance(info.task_error, AirflowFailException)  # no retries
    assert len(connected.store.batches) == 1


def test_empty_export_creates_no_batch(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path, thru_date="2000-01-01")
    assert summary_ids(summary) == []
    result = create(summary, batch_identifier="EMPTY")
    assert {k: result[k] for k in ("batch_identifier", "records", "batch_id", "created", "reason")} == {
        "batch_identifier": "EMPTY",
        "records": 0,
        "batch_id": None,
        "created": False,
        "reason": "empty export",
    }
    assert (result["posted_documents"], result["sha256"]) == (0, summary["sha256"])
    assert connected.log.count("POST", "finance/accounting/batches") == 0


def test_reexport_reproduces_the_original_file(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(
        tmp_path, "original.xml", export_unposted_expenses=False, export_unposted_procurement=False
    )
    result = create(summary, batch_identifier="PERIOD-2026-02")
    for batch in (result["batch_id"], "PERIOD-2026-02", str(result["batch_id"])):
        again = export_every_collection(
            tmp_path,
            "reexport.xml",
            batch_id=batch,
            export_unposted_expenses=False,
            export_unposted_procurement=False,
        )
        assert canonical((tmp_path / "reexport.xml").read_bytes()) == canonical(
            (tmp_path / "original.xml").read_bytes()
        )
        assert summary_ids(again) == summary_ids(summary) and again["batch_id"] == result["batch_id"]


def test_unknown_batch_identifier_is_a_clear_error(connected: Sandbox, tmp_path: Path) -> None:
    with fails_task(ValueError, match="batch_id: no ConnectWise batch has the identifier 'NOPE'"):
        export_every_collection(tmp_path, batch_id="NOPE")


def test_ids_from_the_file_equal_the_summary(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    with open(tmp_path / "glexport.xml", "rb") as handle:
        ids, flags = xml_ids(handle)
    assert ids == summary_ids(summary)
    assert flags == {"invoices": True, "expenses": True, "procurement": True}
    result = GLBatchCreateOperator(
        task_id="b", export_file=str(tmp_path / "glexport.xml"), batch_identifier="FROM-FILE"
    ).execute({})
    assert result["records"] == len(ids) and result["created"]


@pytest.mark.parametrize("sources", [{}, {"export_summary": {"gl_entry_ids": []}, "export_file": "x.xml"}])
def test_exactly_one_source(connected: Sandbox, sources: dict) -> None:
    with fails_task(ValueError, match="give exactly one"):
        GLBatchCreateOperator(task_id="b", **sources).execute({})
    assert len(connected.log) == 0


@pytest.mark.parametrize("blank", ["", "  ", "None", "null"])
def test_a_blank_source_is_no_source(connected: Sandbox, tmp_path: Path, blank: str) -> None:
    with fails_task(ValueError, match="give exactly one"):
        GLBatchCreateOperator(task_id="b", export_summary=blank, export_file=blank).execute({})
    assert len(connected.log) == 0
    summary = export_every_collection(tmp_path, thru_date="2026-02-27")
    from_file = GLBatchCreateOperator(
        task_id="b", export_summary=blank, export_file=summary["output"], batch_identifier="FROM-FILE"
    ).execute({})
    assert from_file["records"] == summary["gl_entry_id_count"] and from_file["created"]


def test_identifier_names_the_day_and_record_types() -> None:
    one = batch_identifier_for("2026-03-01", ["invoices", "procurement"])
    assert (
        one == "cwgl-20260301-IP" == batch_identifier_for("2026-03-01T00:00:00Z", ["procurement", "invoices"])
    )
    assert batch_identifier_for("2026-03-02", ["invoices", "procurement"]) != one
    assert batch_identifier_for("2026-03-01", ["invoices"]) != one
    assert batch_identifier_for("2026-03-01", ["invoices", "procurement"], 12) == "cwgl-20260301-IP-L12"


def test_too_long_identifier_is_refused(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    connected.log.clear()
    with fails_task(ValueError, match="batch_identifier: at most 50 characters"):
        create(summary, batch_identifier="X" * 51)
    assert len(connected.log) == 0


def test_default_identifier_is_the_exports_business_day(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path, thru_date="2026-02-27")
    result = GLBatchCreateOperator(task_id="b", export_summary=summary).execute({})  # type: ignore[arg-type]
    assert result["batch_identifier"] == "cwgl-20260227-IEP"


@pytest.mark.parametrize("rendered", ["", "None", "null", "  "])
def test_empty_rendered_identifier_means_the_default(
    connected: Sandbox, tmp_path: Path, rendered: str
) -> None:
    """``batch_identifier="{{ params.batch_identifier }}"`` renders "None" for an empty param."""
    summary = export_every_collection(tmp_path, thru_date="2026-02-27")
    assert create(summary, batch_identifier=rendered)["batch_identifier"] == "cwgl-20260227-IEP"


def test_default_identifier_without_thru_date_is_the_runs_day(connected: Sandbox, tmp_path: Path) -> None:
    from airflow.sdk import timezone

    summary = export_every_collection(tmp_path)
    del summary["request"]["thruDate"]
    context: dict[str, Any] = {"logical_date": timezone.datetime(2026, 3, 1)}
    result = GLBatchCreateOperator(task_id="b", export_summary=summary).execute(context)  # type: ignore[arg-type]
    assert result["batch_identifier"] == "cwgl-20260301-IEP"


def test_batch_entries_are_not_gl_entries_and_retries_still_find_the_batch(
    connected: Sandbox, tmp_path: Path
) -> None:
    """BatchEntry ids are ConnectWise's accounting lines: the check reads the batch's GLExport."""
    summary = export_every_collection(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches", drop=True, times=1)
    first = create(summary, batch_identifier="ENTRIES")
    batch_id = first["batch_id"]
    with ConnectWiseClient(settings_for(connected)) as client:
        entries = list(client.list(f"finance/accounting/batches/{batch_id}/entries"))
    assert entries and not {e["id"] for e in entries} & set(summary_ids(summary))
    assert {"accountType", "accountNumber"} <= set(entries[0])
    second = create(summary, batch_identifier="ENTRIES")  # a retried task
    assert (first["created"], second["created"], second["batch_id"]) == (True, False, batch_id)
    assert len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 1
    assert connected.log.count("POST", f"finance/accounting/batches/{batch_id}/export") == 2


def test_overlapping_exports_are_reported_as_overlap(connected: Sandbox, tmp_path: Path) -> None:
    early = export_every_collection(tmp_path, "early.xml", thru_date="2026-02-25")
    late = export_every_collection(
        tmp_path, "late.xml", thru_date="2026-03-01"
    )  # before the early one was posted
    create(early, batch_identifier="EARLY")
    with fails_task(BatchOverlapError) as info:
        create(late, batch_identifier="LATE")
    message = str(info.value)
    assert "was created with" in message and "already marked exported by another batch" in message
    assert "Nothing was created" not in message
    assert isinstance(info.task_error, AirflowFailException)
    assert len(connected.store.batches) == 2
    taken = set(summary_ids(early)) & set(summary_ids(late))
    assert f"the other {len(taken)} were" in message
    # Which batch holds them, and the documents they belong to, each with its GL entry ids.
    assert f"ConnectWise batch 1 ('EARLY') holds {len(taken)} of them: " in message
    named = [d for d in documents_of(late) if taken & set(d["gl_entry_ids"])]
    assert named
    for doc in named[:20]:
        listed = ", ".join(str(i) for i in sorted(taken & set(doc["gl_entry_ids"])))
        assert f"{doc['collection']} {doc['id']} (GL entries {listed})" in message
    assert (f"and {len(named) - 20} more" in message) == (len(named) > 20)
    assert "left them out" not in message


def test_gl_entries_connectwise_left_out_are_named_with_their_document(
    connected: Sandbox, tmp_path: Path
) -> None:
    summary = export_every_collection(tmp_path)
    invoice = next(d for d in documents_of(summary) if d["collection"] == "transactions")
    key = next(
        d.key
        for d in connected.store.documents
        if d.section == "transactions" and d.body["id"] == invoice["id"]
    )
    connected.store.regenerate_gl_entries(key)  # reopened and saved between the export and the post
    with fails_task(BatchOverlapError) as info:
        create(summary, batch_identifier="REOPENED")
    message = str(info.value)
    ids = invoice["gl_entry_ids"]
    assert f"was created with {len(summary_ids(summary)) - len(ids)} of this export's" in message
    assert f"the other {len(ids)} are in none of the 25 most recent batches, so ConnectWise" in message
    listed = ", ".join(str(i) for i in ids)
    assert f"left them out of this one: transactions {invoice['id']} (GL entries {listed}). E.g." in message
    assert "reopened" in message and "already marked exported" not in message
    assert isinstance(info.task_error, AirflowFailException)


def test_creation_waits_as_the_connections_retry_policy_says(connected: Sandbox, tmp_path: Path) -> None:
    summary = export_every_collection(tmp_path)
    connected.faults.add(method="POST", path="finance/accounting/batches", status=503, times=2)
    settings = settings_for(connected)
    waits: list[float] = []
    with ConnectWiseClient(settings) as client:
        result = BatchCreator(client, sleep=waits.append).create(
            "WAITS", {"invoices": True}, summary_ids(summary)
        )
    assert result["created"] and len(waits) == 2
    assert all(0 <= w <= settings.retry.backoff_max for w in waits)


def test_export_reexports_the_days_batch_once_it_exists(
    make_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connected = make_sandbox(without_adjustments(generated_store(transactions=40)))
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(connected.connection()))
    first = export_every_collection(tmp_path, "first.xml", batch_identifier="auto", thru_date="2026-02-27")
    assert first["batch_identifier"] == "cwgl-20260227-IEP" and "batch_id" not in first
    posted = create(first)
    assert posted["batch_identifier"] == "cwgl-20260227-IEP" and posted["created"]
    again = export_every_collection(tmp_path, "again.xml", batch_identifier="auto", thru_date="2026-02-27")
    assert again["batch_id"] == posted["batch_id"]
    assert again["sha256"] == first["sha256"]
    assert (tmp_path / "again.xml").read_bytes() == (tmp_path / "first.xml").read_bytes()
    assert create(again)["created"] is False
    assert len(connected.store.batches) == 1


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"batch_identifier": "auto", "thru_date": None},
            "batch_identifier: 'auto' names the batch by the thru",
        ),
        ({"batch_identifier": "auto", "location_name": "Tampa Office"}, "batch_identifier: 'auto' names one"),
        ({"batch_identifier": "X" * 51}, "batch_identifier: at most 50 characters"),
        ({"batch_identifier": "DAY", "batch_id": 1}, "batch_identifier: give it or batch_id"),
        # The day's identifier does not say which records: a second subset would find the first's batch.
        (
            {"batch_identifier": "auto", "included_invoice_ids": [5]},
            "batch_identifier: 'auto' names the whole day's batch, but included_invoice_ids picks",
        ),
        (
            {"batch_identifier": "auto", "excluded_product_ids": ["PO-1"]},
            "batch_identifier: 'auto' names the whole day's batch, but excluded_product_ids picks",
        ),
    ],
)
def test_bad_batch_identifier_fails_before_any_request(
    connected: Sandbox, tmp_path: Path, settings: dict, message: str
) -> None:
    with pytest.raises(AirflowFailException, match=message):
        export_every_collection(tmp_path, **settings)
    assert len(connected.log) == 0


def test_unknown_location_id_fails_naming_it_and_known_ids(connected: Sandbox, tmp_path: Path) -> None:
    with fails_task(
        ExportSettingError, match=r"location_id: no ConnectWise location .* id 999; known: 1 \('Tampa"
    ) as info:
        export_every_collection(tmp_path, location_id=999)
    assert isinstance(info.task_error, AirflowFailException)
    assert connected.log.count("POST", "finance/accounting/export") == 0
    assert not (tmp_path / "glexport.xml").exists()


def test_connectwise_faults_keep_the_tasks_retries(
    connected: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only permanent errors skip Airflow's retries: a ConnectWise outage stays retryable."""
    from airflow_provider_cwgl.errors import ConnectWiseError

    conn = connected.connection(max_attempts=2, retry_backoff=0.01, retry_backoff_max=0.01)
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(conn))
    connected.faults.add(method="POST", path="finance/accounting/export", status=503, times=5)
    with pytest.raises(ConnectWiseError, match="HTTP 503") as info:
        export_every_collection(tmp_path)
    assert not isinstance(info.value, AirflowFailException)


def test_ids_from_xml_follow_the_summarys_rule_for_every_collection(tmp_path: Path) -> None:
    """Each id source of ``contents.gl_entry_ids`` read back from the written XML: a transaction's
    glEntryIds text and detail ids, an expense and its offset, an expense bill line's id list, a
    purchase's detail and detail-tax ids, a transfer's transferId and offset; a nil id adds none."""
    import io

    from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter

    document = {
        "transactions": [{"id": 1, "glEntryIds": "1010,1011", "detail": [{"id": 1009}, {"id": None}]}],
        "expenses": [{"id": 20, "offset": {"id": 21}}],
        "expenseBills": [{"id": 30, "detail": [{"id": [31, 32]}, {"id": [33]}]}],
        "purchaseTransactions": [
            {"id": 40, "purchaseDetail": [{"id": 41}], "purchaseDetailTax": [{"id": 42}]}
        ],
        "inventoryTransfers": [{"id": "T1", "transferId": 50, "offset": {"id": 51}}],
    }
    xml = io.BytesIO()
    GLExportXmlWriter().write(io.BytesIO(json.dumps(document).encode()), xml)
    xml.seek(0)
    ids, flags = xml_ids(xml)
    assert ids == [20, 21, 31, 32, 33, 41, 42, 50, 51, 1009, 1010, 1011]
    assert flags == {"invoices": True, "expenses": True, "procurement": True}


def test_stale_summary_fails_saying_the_file_was_replaced(connected: Sandbox, tmp_path: Path) -> None:
    first = export_every_collection(tmp_path)
    export_every_collection(
        tmp_path, export_unposted_expenses=False
    )  # a later run replaces the file and its ids
    with fails_task(SettingError, match="of another export .*replaced by a later run") as info:
        create(first, batch_identifier="STALE")
    assert isinstance(info.task_error, AirflowFailException)
    assert connected.log.count("POST", "finance/accounting/batches") == 0


def test_reexport_of_a_past_batch_creates_no_second_batch(connected: Sandbox, tmp_path: Path) -> None:
    posted = create(export_every_collection(tmp_path, "original.xml"), batch_identifier="PERIOD-2026-03")
    again = export_every_collection(tmp_path, "reexport.xml", batch_id="PERIOD-2026-03")
    assert again["batch_id"] == posted["batch_id"]
    # Its records are that batch's: posting the re-export marks nothing and makes no empty batch.
    for kwargs in ({"batch_identifier": "OTHER"}, {}):
        result = create(again, **kwargs)
        assert result["batch_id"] == posted["batch_id"] and result["created"] is False
    assert len(connected.store.batches) == 1
    assert connected.log.count("POST", "finance/accounting/batches") == 1


def test_export_file_under_home_is_read_as_output_file_is_written(
    connected: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    summary = GLBatchExportOperator(task_id="export", output_file="~/gl/x.xml").execute({})  # type: ignore[arg-type]
    assert summary["output"] == str(tmp_path / "gl" / "x.xml")
    for location in ("~/gl/x.xml", "file://~/gl/x.xml"):
        with open_for_reading(location) as handle:
            assert handle.read() == (tmp_path / "gl" / "x.xml").read_bytes()
    result = GLBatchCreateOperator(task_id="b", export_file="~/gl/x.xml", batch_identifier="HOME").execute({})  # type: ignore[arg-type]
    assert result["records"] == len(summary_ids(summary)) > 0
