"""References To Fetch against the sandbox: every spec path, dedup, chunking, concurrency, gaps."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import settings_for
from lxml import etree

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.glexport.references import ReferenceResolver, chunk_values
from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS
from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox, SandboxStore, generated_store
from airflow_provider_cwgl.sandbox.jsonio import dumps

ROOTS = {
    "vendor": "vendors/vendor",
    "customer": "customers/customer",
    "transaction": "transactions/transaction",
    "expense": "expenses/expense",
    "expenseBill": "expenseBills/expenseBill",
    "purchaseTransaction": "purchaseTransactions/purchaseTransaction",
    "adjustmentTransaction": "adjustmentTransactions/adjustmentTransaction",
    "inventoryTransfer": "inventoryTransfers/inventoryTransfer",
}
# Where each spec path's fetched record must appear, written out by hand (test-side, on purpose).
SEGMENT_XPATH = {
    "detail/detailItem": "detail/detailItem",
    "detailItem": "detail/detailItem",  # expenseBill/detailItem/...
    "purchaseDetailItem": "purchaseDetail/purchaseDetailItem",
    "purchaseDetailTaxItem": "purchaseDetailTax/purchaseDetailTaxItem",
    "adjustmentDetailItem": "adjustmentDetail/adjustmentDetailItem",
}
# The store collection holding each referenced record, by the last segment of the path.
STORE_COLLECTION = {
    "member": "system/members",
    "vendor": "company/companies",
    "company": "company/companies",
    "billToCompany": "company/companies",
    "shipToCompany": "company/companies",
    "companyType": "company/companies/types",
    "shipCompanyType": "company/companies/types",
    "shipToCompanyType": "company/companies/types",
    "contact": "company/contacts",
    "shipToContact": "company/contacts",
    "billingTerms": "finance/billingTerms",
    "taxCode": "finance/taxCodes",
    "currency": "finance/currencies",
    "project": "project/projects",
    "purchaseOrder": "procurement/purchaseorders",
    "item": "procurement/catalog",
    "warehouse": "procurement/warehouses",
    "warehouseBin": "procurement/warehouseBins",
    "bin": "procurement/warehouseBins",
    "transferFromBin": "procurement/warehouseBins",
    "transferToBin": "procurement/warehouseBins",
    "shipmentMethod": "procurement/shipmentmethods",
    "expenseClass": "expense/classifications",
    "location": "system/locations",
    "territory": "system/locations",
    "agreement": "finance/agreements",
    "invoice": "finance/invoices",
    "expenseEntry": "expense/entries",
}
SITE_FIELDS = {"site", "shipSite", "shipToSite", "billToSite", "warehouseSite"}


# ConnectWise 2025 renamed the field the spec (older API) calls shipCompanyType.
RENAMED = {"transaction/shipCompanyType": "transaction/shipToCompanyType"}
# Spec paths whose field API 2025.1's GLExport models lack (or hold as text), with the item each is
# read from: nothing to fetch, one warning per run, counted per path.
NOT_IN_API = {
    "transaction/shipContact": "transactions/transaction",
    "expenseBill/detailItem/taxCode": "expenseBills/expenseBill/detail/detailItem",
    "inventoryTransfer/shipmentMethod": "inventoryTransfers/inventoryTransfer",
    "inventoryTransfer/taxCode": "inventoryTransfers/inventoryTransfer",
}


def xpath_for(path: str) -> str:
    """The elements that must hold a ``<record>`` for ``path``."""
    root, rest = RENAMED.get(path, path).split("/", 1)
    xpath = ROOTS[root]
    for segment, replacement in SEGMENT_XPATH.items():
        if rest.startswith(segment + "/"):
            xpath, rest = f"{xpath}/{replacement}", rest[len(segment) + 1 :]
    parts = rest.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part in ("agreementAdditions", "purchaseOrderItems"):
            xpath += f"/{part}/{part[:-1]}"
        elif part == "agreementAddition":  # follows agreementAdditions, already in the xpath
            continue
        elif part == "purchaseOrderItem":  # the spec names the item without its collection
            xpath += "/purchaseOrderItems/purchaseOrderItem"
        else:
            xpath += f"/{part}" + ("" if last else "/record")
    return xpath


def scalar_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    if isinstance(value, (int, str)):
        return str(value)
    return None


def assert_record_matches(record: etree._Element, expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        text = scalar_text(value)
        if text is not None and text.isprintable():
            assert record.findtext(key) == text, (key, value)


@pytest.fixture(scope="module")
def full_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[SandboxStore, etree._Element, dict, Any]:
    store = generated_store(transactions=60, seed=3)
    warnings = _Records(logging.WARNING)
    logging.getLogger("airflow_provider_cwgl").addHandler(warnings)
    with Sandbox(store) as sandbox, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(sandbox.connection()))
        out = tmp_path_factory.mktemp("refs") / "all.xml"
        summary = GLBatchExportOperator(
            task_id="export",
            output_file=str(out),
            export_unposted_expenses=True,
            export_unposted_procurement=True,
            references_to_fetch=list(REFERENCE_PATHS),
            thru_date="2030-01-01",
        ).execute({})
        logging.getLogger("airflow_provider_cwgl").removeHandler(warnings)
        summary["warnings"] = [r.getMessage() for r in warnings.records]
        return store, etree.parse(str(out)).getroot(), summary, sandbox.log


class _Records(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_every_path_is_in_the_table() -> None:
    assert len(REFERENCE_PATHS) == 87  # the spec's list of reference paths


@pytest.mark.parametrize("path", REFERENCE_PATHS)
def test_each_path_puts_the_record_in_place(full_export: tuple, path: str) -> None:
    store, root, _, _ = full_export
    elements = root.findall(xpath_for(path))
    last = path.rsplit("/", 1)[-1]
    if path in NOT_IN_API:
        assert all(e.find("record") is None and len(e) == 0 for e in elements)
        return
    if last in ("agreementAdditions", "purchaseOrderItems"):
        parent_path = xpath_for(path).rsplit("/", 2)[0]
        template = {
            "agreementAdditions": "finance/agreements/{}/additions",
            "purchaseOrderItems": "procurement/purchaseorders/{}/lineitems",
        }[last]
        parents = root.findall(parent_path)
        assert parents
        for parent in parents:
            children = store.children[template].get(int(parent.findtext("id")), {})
            items = parent.findall(f"{last}/{last[:-1]}")
            assert [int(i.findtext("id")) for i in items] == list(children), path
        return
    with_ids = [e for e in elements if e.findtext("id")]
    assert with_ids, f"no {path} references in the export"
    for element in with_ids:
        record = element.find("record")
        assert record is not None, path
        assert record.findtext("id") == element.findtext("id")
        if last in SITE_FIELDS:
            expected = next(
                site
                for sites in store.children["company/companies/{}/sites"].values()
                for site in sites.values()
                if site["id"] == int(element.findtext("id"))
            )
        elif last == "product":
            parent_is_addition = "agreementAddition" in path or "purchaseOrderItem" in path
            collection = "procurement/catalog" if parent_is_addition else "procurement/products"
            expected = store.resources[collection][int(element.findtext("id"))]
        else:
            expected = store.resources[STORE_COLLECTION[last]][int(element.findtext("id"))]
        assert_record_matches(record, expected)


@pytest.mark.parametrize("path", sorted(NOT_IN_API))
def test_paths_the_api_lacks_warn_once_and_are_counted(full_export: tuple, path: str) -> None:
    _, root, summary, _ = full_export
    items = root.findall(NOT_IN_API[path])
    assert items
    assert summary["references"]["skipped_by_path"][path] == len(items)
    named = [w for w in summary["warnings"] if f" {path}: field not present in API 2025.1 data" in w]
    assert len(named) == 1, summary["warnings"]


def test_only_the_paths_the_api_lacks_warn(full_export: tuple) -> None:
    _, _, summary, _ = full_export
    warned = {w.split(": ")[1] for w in summary["warnings"] if "field not present in API" in w}
    assert warned == set(NOT_IN_API)


def test_derived_links_follow_connectwise_rules(full_export: tuple) -> None:
    store, root, _, _ = full_export
    for txn in root.findall("transactions/transaction"):
        invoice = txn.find("invoice/record")
        assert invoice.findtext("id") == txn.findtext("id")
        assert invoice.findtext("invoiceNumber") == txn.findtext("documentNumber")
        invoice_record = store.resources["finance/invoices"][int(txn.findtext("id"))]
        assert txn.findtext("billToCompany/id") == str(invoice_record["billToCompany"]["id"])
        # ConnectWise's Invoice names the bill-to site billingSite; written as the spec's billToSite.
        assert txn.findtext("billToSite/id") == str(invoice_record["billingSite"]["id"])
        assert txn.findtext("billToSite/record/name") == invoice_record["billingSite"]["name"]
    for purchase in root.findall("purchaseTransactions/purchaseTransaction"):
        assert purchase.findtext("purchaseOrder/record/poNumber") == purchase.findtext("documentNumber")
    for line in root.findall("expenseBills/expenseBill/detail/detailItem"):
        assert [e.findtext("id") for e in line.findall("expenseEntry")] == [
            i.text for i in line.findall("id")
        ]
        # API 2025.1 gives a bill line no project: it is read from the line's expense entries.
        projects = {
            store.resources["expense/entries"][int(i.text)]["project"]["id"] for i in line.findall("id")
        }
        assert {int(p.findtext("id")) for p in line.findall("project")} == projects
        assert all(p.find("record") is not None for p in line.findall("project"))


def test_full_export_request_count_near_the_floor(full_export: tuple) -> None:
    _, _, summary, log = full_export
    counts = log.counts()
    assert summary["references"]["rounds"] == 4
    assert summary["references"]["missing"] == 0
    # One list request per batchable endpoint and depth: no record asked for twice.
    for endpoint, n in counts.items():
        if "{id}" not in endpoint and endpoint.startswith("GET") and "companyinfo" not in endpoint:
            assert n <= 2, (endpoint, n)
    conditions = [r.query for r in log.records if r.path == "company/companies"]
    assert len(conditions) == 1


def _export_json(sandbox: Sandbox, **flags: bool) -> bytes:
    with ConnectWiseClient(settings_for(sandbox)) as client:
        body = client.post("finance/accounting/export", {"thruDate": "2030-01-01T00:00:00Z", **flags})
    return dumps(body).encode()


def test_each_distinct_record_is_fetched_once(cw_sandbox: Sandbox) -> None:
    raw = _export_json(cw_sandbox, exportInvoicesFlag=True)
    cw_sandbox.log.clear()
    with ConnectWiseClient(settings_for(cw_sandbox)) as client:
        resolver = ReferenceResolver(
            client, ["customer/company", "transaction/company", "transaction/shipToCompany"]
        )
        resolver.collect(io.BytesIO(raw))
        resolver.fetch()
    requests = cw_sandbox.log.matching("GET", "company/companies")
    assert len(requests) == 1
    data = json.loads(raw)
    wanted = {r["company"]["id"] for r in data["customers"]} | {
        t["company"]["id"] for t in data["transactions"]
    }
    wanted |= {t["shipToCompany"]["id"] for t in data["transactions"]}
    from urllib.parse import parse_qs

    asked = parse_qs(requests[0].query)["conditions"][0]
    assert sorted(int(x) for x in asked[len("id in (") : -1].split(",")) == sorted(wanted)


def _many_companies_export(store: SandboxStore, count: int) -> bytes:
    for i in range(1, count + 1):
        store.add("company/companies", {"id": 100_000 + i, "identifier": f"X{i}", "name": f"Extra {i}"})
    customers = [{"company": {"id": 100_000 + i, "identifier": f"X{i}"}} for i in range(1, count + 1)]
    return json.dumps({"customers": customers}).encode()


def test_urls_are_chunked_under_2000_characters(cw_sandbox: Sandbox) -> None:
    raw = _many_companies_export(cw_sandbox.store, 1200)
    with ConnectWiseClient(settings_for(cw_sandbox)) as client:
        resolver = ReferenceResolver(client, ["customer/company"])
        resolver.collect(io.BytesIO(raw))
        resolver.fetch()
        base = client.base_url
    requests = cw_sandbox.log.matching("GET", "company/companies")
    lengths = [len(base + "company/companies") + 1 + len(r.query) for r in requests]
    assert all(n < 2000 for n in lengths) and all(r.status == 200 for r in requests)
    assert len(requests) == len(
        list(chunk_values(base + "company/companies", "id", [str(i) for i in range(100_001, 101_201)]))
    )
    assert 3 <= len(requests) <= 6
    assert resolver.summary()["records"] == 1200


def test_chunks_are_maximal() -> None:
    values = [str(i) for i in range(10_000, 12_000)]
    chunks = list(chunk_values("https://x.example/v/apis/3.0/company/companies", "id", values))
    assert sorted(v for c in chunks for v in c) == sorted(values)
    # Adding one more id to any chunk but the last would cross the limit.
    for chunk in chunks[:-1]:
        url = "https://x.example/v/apis/3.0/company/companies?pageSize=1000&page=1&conditions="
        from urllib.parse import quote_plus

        assert len(url + quote_plus(f"id in ({','.join(chunk)})")) < 2000
        assert len(url + quote_plus(f"id in ({','.join(chunk + ['99999'])})")) >= 2000


def test_concurrency_is_bounded(cw_sandbox: Sandbox) -> None:
    raw = _export_json(cw_sandbox, exportInvoicesFlag=True, exportProductsFlag=True)
    cw_sandbox.log.clear()
    cw_sandbox.faults.latency = 0.05
    with ConnectWiseClient(settings_for(cw_sandbox)) as client:
        resolver = ReferenceResolver(client, list(REFERENCE_PATHS), concurrency=3)
        resolver.collect(io.BytesIO(raw))
        resolver.fetch()
    assert cw_sandbox.log.peak_in_flight == 3


def test_rounds_are_breadth_first(cw_sandbox: Sandbox) -> None:
    raw = _export_json(cw_sandbox, exportInvoicesFlag=True)
    cw_sandbox.log.clear()
    with ConnectWiseClient(settings_for(cw_sandbox)) as client:
        resolver = ReferenceResolver(
            client, ["transaction/invoice/agreement/agreementAdditions", "transaction/company"]
        )
        resolver.collect(io.BytesIO(raw))
        resolver.fetch()
    records = cw_sandbox.log.records
    first_round_end = max(r.finished for r in records if r.path in ("finance/invoices", "company/companies"))
    second = [r for r in records if r.path == "finance/agreements"]
    third = [r for r in records if r.path.endswith("/additions")]
    assert len(second) == 1 and second[0].started >= first_round_end
    assert third and min(r.started for r in third) >= second[0].finished
    assert resolver.summary()["rounds"] == 3


def test_missing_records_leave_the_reference_and_warn(
    cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = cw_sandbox.store.documents[0].body["company"]["id"]
    cw_sandbox.store.remove("company/companies", gone)
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    caplog.set_level(logging.WARNING)
    out = tmp_path / "x.xml"
    summary = GLBatchExportOperator(
        task_id="t", output_file=str(out), references_to_fetch=["transaction/company"], thru_date="2030-01-01"
    ).execute({})
    assert summary["references"]["missing"] == 1
    assert "no longer exist" in caplog.text
    for company in etree.parse(str(out)).getroot().findall("transactions/transaction/company"):
        assert (company.find("record") is None) == (company.findtext("id") == str(gone))


def test_references_without_href_use_the_table(cw_sandbox: Sandbox) -> None:
    def strip_info(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip_info(v) for k, v in value.items() if k != "_info"}
        if isinstance(value, list):
            return [strip_info(v) for v in value]
        return value

    raw = dumps(strip_info(json.loads(_export_json(cw_sandbox, exportInvoicesFlag=True)))).encode()
    with ConnectWiseClient(settings_for(cw_sandbox)) as client:
        resolver = ReferenceResolver(
            client, ["customer/site", "transaction/shipSite", "transaction/currency"]
        )
        resolver.collect(io.BytesIO(raw))
        resolver.fetch()
    assert resolver.summary()["missing"] == 0
    assert cw_sandbox.log.count("GET", "company/companies/*/sites") >= 1
    txn = json.loads(raw)["transactions"][0]
    extra = resolver.extra_children(("transaction", "shipSite"), txn["shipSite"], txn)
    assert extra and extra[0][1]["id"] == txn["shipSite"]["id"]


def test_old_field_names_still_resolve(
    cw_sample_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The spec's sample is from an older API version: shipCompanyType, not shipToCompanyType.
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sample_sandbox.connection()))
    out = tmp_path / "x.xml"
    GLBatchExportOperator(
        task_id="t",
        output_file=str(out),
        references_to_fetch=["transaction/shipCompanyType", "customer/site", "transaction/invoice"],
        thru_date="2026-03-01",
    ).execute({})
    txn = etree.parse(str(out)).getroot().find("transactions/transaction")
    assert txn.findtext("shipCompanyType/record/name") == "Customer"
    assert txn.findtext("invoice/record/invoiceNumber") == "119"
    assert etree.parse(str(out)).getroot().findtext("customers/customer/site/record/name") == "Main"


def test_an_item_lacking_what_a_derived_path_reads_is_skipped_once(cw_sandbox: Sandbox) -> None:
    # Found while collecting; writing the same item looks again and must not count it again.
    raw = b'{"transactions":[{"memo":"no id, no number"}],"purchaseTransactions":[{"id":3}]}'
    with ConnectWiseClient(settings_for(cw_sandbox)) as client:
        resolver = ReferenceResolver(client, ["transaction/invoice", "purchaseTransaction/purchaseOrder"])
        resolver.collect(io.BytesIO(raw))
        resolver.fetch()
        out = io.BytesIO()
        GLExportXmlWriter(resolver=resolver).write(io.BytesIO(raw), out)
    summary = resolver.summary()
    assert summary["skipped_by_path"] == {"purchaseTransaction/purchaseOrder": 1, "transaction/invoice": 1}
    assert (summary["skipped"], summary["requests"]) == (2, 0)
    assert b"<record" not in out.getvalue()
