"""The reliability matrix (docs/evidence/reliability.md): ConnectWise faults on the export call and
on reference fetches, XML-hostile data, concurrent runs and secrets, all against the sandbox."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DAGS, airflow_kept
from lxml import etree

from airflow_provider_cwgl.errors import ConnectWiseError
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox

FAST_RETRIES = {
    "timeout": 0.5,
    "max_attempts": 4,
    "retry_backoff": 0.01,
    "retry_backoff_max": 0.05,
    "retry_after_default": 0.05,
}
TARGETS = {
    # where the fault is injected -> (method, path pattern)
    "export call": ("POST", "finance/accounting/export"),
    "reference fetch": ("GET", "company/companies"),
}
FAULTS: dict[str, tuple[dict[str, Any], int | None, bool]] = {
    # name: (fault rule, how many calls it hits (None: all), recovers?)
    "429 with Retry-After": ({"status": 429, "retry_after": 0.05}, 2, True),
    "429 without Retry-After": ({"status": 429}, 2, True),
    "500 burst within budget": ({"status": 500}, 3, True),
    "502 burst within budget": ({"status": 502}, 3, True),
    "503 burst within budget": ({"status": 503}, 3, True),
    "503 longer than budget": ({"status": 503}, None, False),
    "dropped connection": ({"drop": True}, 2, True),
    "read timeout": ({"latency": 0.8}, 1, True),
    "read timeouts throughout": ({"latency": 0.8}, None, False),
    "truncated JSON": ({"malformed": True}, 2, True),
    "stale codebase (404)": ({"move_codebase": "v2026_1/"}, 1, True),
}


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection(**FAST_RETRIES)))
    return cw_sandbox


def export(out: Path, **settings: Any) -> dict[str, Any]:
    settings = {
        "references_to_fetch": ["customer/company", "transaction/company"],
        "thru_date": "2026-03-01",
        **settings,
    }
    return GLBatchExportOperator(task_id="export", output_file=str(out), **settings).execute({})


def transaction_ids(path: Path) -> list[int]:
    return [
        int(t.findtext("id")) for t in etree.parse(str(path)).getroot().findall("transactions/transaction")
    ]


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_matrix(connected: Sandbox, tmp_path: Path, target: str, fault: str) -> None:
    rule, times, recovers = FAULTS[fault]
    method, path = TARGETS[target]
    out = tmp_path / "glexport.xml"
    clean = tmp_path / "clean.xml"
    export(clean)  # the file a fault-free run writes
    out.write_bytes(b"yesterday's good file")
    connected.log.clear()
    connected.faults.add(method=method, path=path, times=times, **rule)
    if recovers:
        summary = export(out)
        assert transaction_ids(out) == transaction_ids(clean)
        assert summary["references"]["missing"] == 0
        with_records = etree.parse(str(out)).getroot().findall("transactions/transaction/company/record")
        assert len(with_records) == len(transaction_ids(out))
        assert connected.log.count(method, path) >= 2  # it really was retried
    else:
        with pytest.raises(ConnectWiseError) as info:
            export(out)
        message = str(info.value)
        assert path in message and "after 4 attempts" in message
        assert out.read_bytes() == b"yesterday's good file"
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "clean.xml",
            "clean.xml.gl-docs.jsonl",  # the clean run's GL entry ids per document, beside its file
            "glexport.xml",
        ]
        assert connected.log.count(method, path) == 4


def test_failed_first_run_leaves_no_file(connected: Sandbox, tmp_path: Path) -> None:
    connected.faults.add(path="finance/accounting/export", status=503)
    with pytest.raises(ConnectWiseError, match="HTTP 503"):
        export(tmp_path / "gl" / "glexport.xml")
    assert not (tmp_path / "gl" / "glexport.xml").exists()
    assert [p.name for p in (tmp_path / "gl").iterdir()] == []


def test_xml_hostile_text_is_written_correctly(connected: Sandbox, tmp_path: Path) -> None:
    hostile = 'Tom & Jerry <b>"bold"</b> \u00e9\u00e8 \u4e2d\u6587 \U0001f600 ]]> \x0b\x1f tab\tend'
    doc = next(
        d for d in connected.store.documents if d.section == "transactions" and d.document_date.day < 28
    )
    doc.body["memo"] = hostile
    doc.body["detail"][0]["description"] = "<![CDATA[ not cdata ]]>"
    summary = export(tmp_path / "x.xml", references_to_fetch=None, thru_date="2030-01-01")
    root = etree.parse(str(tmp_path / "x.xml")).getroot()
    txn = next(t for t in root.findall("transactions/transaction") if t.findtext("id") == str(doc.body["id"]))
    assert txn.findtext("memo") == hostile.replace("\x0b", "").replace("\x1f", "")
    assert txn.findtext("detail/detailItem/description") == "<![CDATA[ not cdata ]]>"
    assert summary["removed_characters"] >= 2


def test_two_runs_for_different_dates_at_once(connected: Sandbox, tmp_path: Path) -> None:
    connected.faults.latency = 0.02  # make the two runs overlap
    days = ["2026-02-10", "2026-02-25"]
    results: dict[str, Any] = {}

    def run(day: str) -> None:
        try:
            results[day] = export(tmp_path / day / "glexport.xml", thru_date=day)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[day] = exc

    threads = [threading.Thread(target=run, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert connected.log.peak_in_flight >= 2
    for day in days:
        assert not isinstance(results[day], Exception), results[day]
        limit = time.strptime(day, "%Y-%m-%d")
        expected = sorted(
            d.body["id"]
            for d in connected.store.documents
            if d.section == "transactions" and d.document_date.timetuple()[:3] <= limit[:3]
        )
        assert sorted(transaction_ids(tmp_path / day / "glexport.xml")) == expected
        assert results[day]["request"]["thruDate"] == f"{day}T00:00:00Z"


def secrets_of(sandbox: Sandbox) -> list[str]:
    creds = sandbox.credentials
    token = base64.b64encode(
        f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode()
    ).decode()
    return [creds["private_key"], creds["client_id"], token]


def test_secrets_absent_from_logs_xcom_and_rendered_fields(
    airflow_db: None,
    cw_sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real DAG run with faults and failures on the way: nothing secret in what Airflow keeps."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection(**FAST_RETRIES)))
    cw_sandbox.faults.add(path="company/companies", status=503, times=2)
    cw_sandbox.faults.add(path="finance/accounting/export", status=429, times=1)
    dag = DagBag(dag_folder=str(DAGS)).dags["cwgl_daily_gl_export"]
    conf = {"output_root": str(tmp_path), "references_to_fetch": ["customer/company"]}
    run = dag.test(logical_date=timezone.datetime(2026, 3, 1), run_conf=conf)
    assert run.state == "success"
    kept = airflow_kept(run)
    assert '"output":' in kept and '"output_file":' in kept  # the XCom summary and the rendered fields
    out, err = capfd.readouterr()
    everything = kept + out + err + caplog.text
    assert "retrying" in everything  # the faults were met and logged
    for secret in secrets_of(cw_sandbox):
        assert secret not in everything
