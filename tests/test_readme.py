"""The README's first DAG is the real thing: it loads in a DagBag and, run by Airflow against the
sandbox for a business day, writes that day's file holding the day's records with the references
it asks for. The docs' first page shows the same block, included from the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
from lxml import etree

from airflow_provider_cwgl.sandbox import Sandbox

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_dag_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    [source] = [b for b in blocks if "GLBatchExportOperator(" in b]
    return source


def test_the_readme_dag_exports_its_business_day(
    airflow_db: None, cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow.sdk import timezone

    source = readme_dag_source()
    assert '"/data/gl/' in source  # the one thing moved: /data is not writable here
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "readme_dag.py").write_text(source.replace('"/data/gl/', f'"{tmp_path}/gl/'))
    bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder")
    assert not bag.import_errors
    [dag] = bag.dags.values()
    # As the DAG processor would: dag.test() runs the DAG as stored in the metadata DB.
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)

    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    store = cw_sandbox.store
    day = sorted({d.document_date for d in store.documents if d.section == "transactions"})[-2]
    run = dag.test(logical_date=timezone.datetime(day.year, day.month, day.day))
    assert run.state == "success"

    root = etree.parse(str(tmp_path / "gl" / day.isoformat() / "glexport.xml")).getroot()
    expected = {
        str(d.body["id"]) for d in store.documents if d.section == "transactions" and d.document_date <= day
    }
    assert {t.findtext("id") for t in root.findall("transactions/transaction")} == expected
    [request] = cw_sandbox.log.matching("POST", "finance/accounting/export")
    assert request.json()["thruDate"] == f"{day}T00:00:00Z"
    assert request.json()["exportProductsFlag"] is True
    assert root.find("transactions/transaction/invoice/record") is not None
    assert root.find("customers/customer/company/record") is not None
