"""The sandbox against the real API: every JSON it serves, and every body the client sends, is held
to the model ConnectWise Manage 2025.1 declares for that endpoint (``sandbox/catalogue.py``).

The catalogue was not written here: it is a trimmed copy of the models and endpoints of the
OpenAPI-generated client of ConnectWise's public OpenAPI description (see its ``source`` line).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import settings_for, summary_ids

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.glexport.batch import BatchCreator
from airflow_provider_cwgl.glexport.exporter import GLExporter
from airflow_provider_cwgl.glexport.references import (
    FIELD_ALIASES,
    SUB_COLLECTIONS,
    Node,
    NodeKind,
    ReferencePlan,
)
from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS
from airflow_provider_cwgl.glexport.request import ExportRequest
from airflow_provider_cwgl.output.local import LocalOutput
from airflow_provider_cwgl.sandbox import Sandbox, catalogue, generated_store, sample_store

# The spec's invoice sample predates API 2025: its transaction carries three fields under their old
# names (2025.1 calls them shipToCompanyAccountNumber, shipToCompanyType, shipToTaxId). The sample
# store serves the spec's sample verbatim so the output matches it; nothing else may deviate.
SAMPLE_ERA_FIELDS = {
    "/transactions[0]/shipCompanyAccountNumber: unknown field (GLExportTransaction has no 'shipCompanyAccountNumber')",
    "/transactions[0]/shipCompanyType: unknown field (GLExportTransaction has no 'shipCompanyType')",
    "/transactions[0]/shipTaxId: unknown field (GLExportTransaction has no 'shipTaxId')",
}


class Served:
    """Responses and request bodies seen on one sandbox, checked against the catalogue."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        creds = sandbox.credentials
        token = base64.b64encode(
            f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode()
        ).decode()
        self.http = httpx.Client(
            base_url=sandbox.api_url,
            headers={"Authorization": f"Basic {token}", "clientId": creds["client_id"]},
            timeout=30,
        )
        self.covered: set[tuple[str, str]] = set()
        self.checked = 0
        self.problems: list[str] = []

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        response = self.http.request(method, path, json=body, params=params or None)
        self.check_response(method, path, response)
        return response

    def check_response(self, method: str, path: str, response: httpx.Response) -> None:
        data = json.loads(response.content, parse_float=Decimal)
        where = f"{method} {path} ({response.status_code})"
        if response.status_code >= 400:
            self.covered.add(("error", "ErrorResponseMessage"))
            if isinstance(data, dict) and data.get("errors", []) is None:
                # The Go model says non-nullable, but live ConnectWise sends "errors": null
                # (ErrorResponseMessage as seen from real tenants): accepted as observed.
                data = {k: v for k, v in data.items() if k != "errors"}
            self.add(catalogue.check(data, "ErrorResponseMessage"), where)
            return
        found = catalogue.endpoint(method, path)
        assert found is not None, f"{method} {path}: the real API has no such endpoint"
        template, returns = found
        self.covered.add((method, template))
        if returns.startswith("[]"):
            assert isinstance(data, list), f"{where}: a list endpoint must return a JSON array"
            for i, item in enumerate(data):
                self.add(catalogue.check(item, returns[2:], f"[{i}]"), where)
        else:
            self.add(catalogue.check(data, returns), where)

    def add(self, problems: list[str], where: str) -> None:
        self.checked += 1
        self.problems.extend(f"{where}: {p}" for p in problems)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Every kind of response the sandbox gives, fetched once for the module's tests."""
    store = generated_store(transactions=60)
    with Sandbox(store) as sandbox:
        seen = Served(sandbox)
        for collection, records in sorted(store.resources.items()):
            if catalogue.endpoint("GET", collection):  # subcategories are read one by one only
                seen.call("GET", collection, pageSize=1000)
                seen.call("GET", f"{collection}/count")
            for record_id in sorted(records)[:3]:
                seen.call("GET", f"{collection}/{record_id}")
        for template, by_parent in sorted(store.children.items()):
            for parent in sorted(by_parent)[:3]:
                seen.call("GET", template.format(parent), pageSize=1000)
                seen.call("GET", template.format(parent) + "/count")
                for child in sorted(by_parent[parent])[:2]:
                    seen.call("GET", f"{template.format(parent)}/{child}")
        for kind in ("unpostedinvoices", "unpostedexpenses", "unpostedprocurement"):
            listed = seen.call("GET", f"finance/accounting/{kind}", pageSize=1000).json()
            seen.call("GET", f"finance/accounting/{kind}/count")
            seen.call("GET", f"finance/accounting/{kind}/{listed[0]['id']}")
        seen.call("GET", "system/info")
        flags = {"exportInvoicesFlag": True, "exportExpensesFlag": True, "exportProductsFlag": True}
        seen.call("POST", "finance/accounting/export", {**flags, "thruDate": "2026-03-01T00:00:00Z"})

        # The client's own requests: an export with every setting, then its batch.
        client = ConnectWiseClient(settings_for(sandbox))
        sandbox.log.clear()
        request = ExportRequest(
            export_invoices=True,
            export_expenses=True,
            export_procurement=True,
            location_id=1,
            thru_date=datetime(2026, 3, 1, tzinfo=timezone.utc),
        )
        out = tmp_path_factory.mktemp("conformance") / "glexport.xml"
        summary = GLExporter(client).run(request, LocalOutput(out))
        batch_flags = {"invoices": True, "expenses": True, "procurement": True}
        BatchCreator(client).create("cwgl-conformance", batch_flags, summary_ids(summary))
        seen.sent = [(r.method, r.path, r.body) for r in sandbox.log.records if r.method == "POST"]  # type: ignore[attr-defined]

        batch = seen.call("GET", "finance/accounting/batches").json()[0]
        seen.call("GET", "finance/accounting/batches/count")
        seen.call("GET", f"finance/accounting/batches/{batch['id']}")
        seen.call("POST", f"finance/accounting/batches/{batch['id']}/export")
        seen.entries = seen.http.get(f"finance/accounting/batches/{batch['id']}/entries")  # type: ignore[attr-defined]

        # Error bodies.
        seen.call("GET", "company/companies/999999")
        seen.call("GET", "company/companies", conditions="id in (")
        seen.call("POST", "finance/accounting/export", {})
        seen.call("POST", "finance/accounting/batches", {"batchIdentifier": "x"})
        seen.call("GET", "no/such/endpoint")
        unauthorised = httpx.get(sandbox.api_url + "company/companies", timeout=30)
        seen.check_response("GET", "company/companies", unauthorised)
        yield seen
        client.close()
        seen.http.close()


def test_every_response_conforms_to_the_real_models(served: Served) -> None:
    endpoints = {key for key in served.covered if key[0] != "error"}
    print(
        f"\nconformance: {len(endpoints)} endpoints, {served.checked} responses,"
        f" {sum('unknown field' in p for p in served.problems)} unknown fields,"
        f" {sum('wrong type' in p or 'not nullable' in p for p in served.problems)} wrong types,"
        f" {sum('required field' in p for p in served.problems)} missing required fields"
    )
    assert served.problems == []
    assert len(endpoints) >= 27, sorted(endpoints)
    assert ("POST", "finance/accounting/export") in endpoints
    assert ("POST", "finance/accounting/batches/{id}/export") in endpoints
    assert ("error", "ErrorResponseMessage") in served.covered


def test_request_bodies_conform(served: Served) -> None:
    # POST batches/{id}/export takes an ExportAccountingBatchRequest too ("batchExportParameters"):
    # the batch creator reads the found batch's GLExport to check it holds this export's records.
    models = {
        "finance/accounting/export": "ExportAccountingBatchRequest",
        "finance/accounting/batches": "CreateAccountingBatchRequest",
        "finance/accounting/batches/{id}/export": "ExportAccountingBatchRequest",
    }
    sent = [(m, re.sub(r"batches/\d+/", "batches/{id}/", p), b) for m, p, b in served.sent]  # type: ignore[attr-defined]
    assert {path for _, path, _ in sent} == set(models)
    for _, path, body in sent:
        parsed = json.loads(body, parse_float=Decimal)
        assert catalogue.check(parsed, models[path]) == [], path
    export_body = json.loads(next(b for _, p, b in sent if p == "finance/accounting/export"))
    assert {"thruDate", "locationId", "exportInvoicesFlag"} <= set(export_body)


def test_batch_entries_conform(served: Served) -> None:
    response = served.entries  # type: ignore[attr-defined]
    assert response.status_code == 200 and response.json()
    problems = [p for i, e in enumerate(response.json()) for p in catalogue.check(e, "BatchEntry", f"[{i}]")]
    assert problems == []


def test_the_sample_store_deviates_only_by_the_samples_old_field_names(make_sandbox: Any) -> None:
    sandbox = make_sandbox(sample_store())
    seen = Served(sandbox)
    for collection in sorted(sandbox.store.resources):
        if catalogue.endpoint("GET", collection):
            seen.call("GET", collection, pageSize=1000)
    for template, by_parent in sorted(sandbox.store.children.items()):
        for parent in by_parent:
            seen.call("GET", template.format(parent))
    for flag in ("exportInvoicesFlag", "exportProductsFlag"):
        response = seen.http.post("finance/accounting/export", json={flag: True})
        seen.add(catalogue.check(json.loads(response.content, parse_float=Decimal), "GLExport"), "")
    seen.http.close()
    assert set(p.removeprefix(": ") for p in seen.problems) == SAMPLE_ERA_FIELDS


def test_a_field_the_model_lacks_is_reported(make_sandbox: Any) -> None:
    """The checker is not blind: plant an invented field, a wrong type and a dropped required field."""
    store = generated_store(transactions=5)
    company = next(iter(store.resources["company/companies"].values()))
    company["inventedField"] = "x"
    location = next(iter(store.resources["system/locations"].values()))
    location["structureLevel"] = 2
    term = next(iter(store.resources["finance/billingTerms"].values()))
    del term["dueDays"]
    document = next(d for d in store.documents if d.section == "inventoryTransfers")
    document.body["taxCode"] = {"id": 10, "name": "T0"}
    seen = Served(make_sandbox(store))
    seen.call("GET", f"company/companies/{company['id']}")
    seen.call("GET", f"system/locations/{location['id']}")
    seen.call("GET", f"finance/billingTerms/{term['id']}")
    seen.call(
        "POST", "finance/accounting/export", {"exportProductsFlag": True, "thruDate": "2026-04-01T00:00:00Z"}
    )
    seen.http.close()
    problems = "\n".join(seen.problems)
    assert "inventedField: unknown field (Company has no 'inventedField')" in problems
    assert (
        "/structureLevel: wrong type" in problems
        or "structureLevel: CorporateStructureLevelReference must be an object" in problems
    )
    assert "/dueDays: required field missing (BillingTerm)" in problems
    assert "/taxCode: unknown field (GLExportInventoryTransfer has no 'taxCode')" in problems


def test_endpoint_lookup_prefers_literal_segments() -> None:
    assert catalogue.endpoint("GET", "finance/accounting/batches/count") == (
        "finance/accounting/batches/count",
        "Count",
    )
    assert catalogue.endpoint("GET", "company/companies/8/sites/7") == (
        "company/companies/{parentId}/sites/{id}",
        "CompanySite",
    )
    assert catalogue.endpoint("GET", "procurement/catalog/743") == ("procurement/catalog/{id}", "CatalogItem")


def test_the_catalogue_keeps_its_source() -> None:
    raw = catalogue.raw()
    assert raw["source"].startswith("github.com/ai-connor/connectwise")
    assert "2025.1" in raw["source"]
    path = Path(catalogue.__file__).parent / catalogue.CATALOGUE_FILE
    assert path.stat().st_size < 400_000  # trimmed to what the provider and its sandbox use


# The record each reference type points at, written out from the API's model names (test-side).
REFERENCE_RECORDS = {
    "CompanyReference": ("company/companies", "Company"),
    "MemberReference": ("system/members", "Member"),
    "CompanyTypeReference": ("company/companies/types", "CompanyType"),
    "ContactReference": ("company/contacts", "Contact"),
    "SiteReference": ("company/companies/{}/sites", "CompanySite"),
    "BillingTermsReference": ("finance/billingTerms", "BillingTerm"),
    "TaxCodeReference": ("finance/taxCodes", "TaxCode"),
    "CurrencyReference": ("finance/currencies", "FinanceCurrency"),
    "ProjectReference": ("project/projects", "Project"),
    "PurchaseOrderReference": ("procurement/purchaseorders", "PurchaseOrder"),
    "IvItemReference": ("procurement/catalog", "CatalogItem"),
    "ProductReference": ("procurement/products", "ProductItem"),
    "WarehouseReference": ("procurement/warehouses", "Warehouse"),
    "WarehouseBinReference": ("procurement/warehouseBins", "WarehouseBin"),
    "ShipmentMethodReference": ("procurement/shipmentmethods", "ShipmentMethod"),
    "ClassificationReference": ("expense/classifications", "Classification"),
    "SystemLocationReference": ("system/locations", "Location"),
    "AgreementReference": ("finance/agreements", "Agreement"),
}
# Paths whose field API 2025.1 does not have as a reference: the engine warns and counts them.
ABSENT_IN_2025_1 = {
    "transaction/shipContact",
    "expenseBill/detailItem/taxCode",
    "inventoryTransfer/shipmentMethod",
    "inventoryTransfer/taxCode",
}


def _record_model(endpoint: str) -> str:
    found = catalogue.endpoint("GET", endpoint.format(1) + "/1")
    assert found is not None, endpoint
    return found[1]


def _reads(plan: ReferencePlan) -> dict[str, tuple[str, str, Node]]:
    """For each step of the plan: (model it reads from, field, node)."""
    out: dict[str, tuple[str, str, Node]] = {}

    def visit(node: Node, model: str | None) -> None:
        for child in node.children.values():
            if child.kind in (NodeKind.REF, NodeKind.VIA):
                read_from = child.model or model
                out[child.path] = (read_from, child.source, child)
                field = catalogue.models().get(read_from, {}).get(child.source) if read_from else None
                is_reference = field is not None and field.type in REFERENCE_RECORDS
                visit(child, _record_model(child.endpoint) if is_reference else None)
            elif child.kind is NodeKind.COLLECTION:
                lists = catalogue.endpoint("GET", SUB_COLLECTIONS[child.name][1].format(1))
                out[child.path] = (model, "id", child)
                visit(child, lists[1].removeprefix("[]") if lists else None)
            else:
                derived = {
                    NodeKind.INVOICE: "Invoice",
                    NodeKind.PURCHASE_ORDER: "PurchaseOrder",
                    NodeKind.EXPENSE_ENTRY: "ExpenseEntry",
                }
                out[child.path] = (model, child.kind.value, child)
                visit(child, derived[child.kind])

    for anchor in plan.anchors.values():
        visit(anchor, None)
    return out


def test_every_reference_path_reads_a_real_field_and_calls_the_right_endpoint() -> None:
    reads = _reads(ReferencePlan(REFERENCE_PATHS))
    assert len(REFERENCE_PATHS) == 87
    absent, checked = set(), 0
    for path in REFERENCE_PATHS:
        assert path in reads, f"{path}: not planned"
        model, source, node = reads[path]
        if node.kind not in (NodeKind.REF, NodeKind.VIA):
            continue  # derived links and sub-collections: checked below
        fields = catalogue.models()[model]
        names = [a for a in FIELD_ALIASES.get(source, (source,)) if a in fields]
        field = fields[names[0]] if names else None
        if field is None or field.type not in REFERENCE_RECORDS:
            absent.add(path)
            continue
        endpoint, record_model = REFERENCE_RECORDS[field.type]
        assert node.endpoint == endpoint, (
            f"{path}: {model}.{source} is {field.type}, read from {node.endpoint}"
        )
        assert _record_model(node.endpoint) == record_model, path
        checked += 1
    assert absent == ABSENT_IN_2025_1
    assert checked == 87 - len(ABSENT_IN_2025_1) - 5  # 3 derived links and 2 sub-collections

    # Derived links: the fields they match on exist where the engine reads them.
    models = catalogue.models()
    assert models["GLExportTransaction"]["documentNumber"].type == "string"
    assert models["Invoice"]["invoiceNumber"].type == "string"
    assert models["GLExportPurchaseTransaction"]["documentNumber"].type == "string"
    assert models["PurchaseOrder"]["poNumber"].type == "string"
    bill_line_ids = models["GLExportExpenseBillDetail"]["id"]
    assert bill_line_ids.array and bill_line_ids.type == "integer"
    assert _record_model("expense/entries") == "ExpenseEntry"
    assert _record_model("finance/invoices") == "Invoice"
    assert catalogue.endpoint("GET", "finance/agreements/1/additions")[1] == "[]Addition"
    assert catalogue.endpoint("GET", "procurement/purchaseorders/1/lineitems")[1] == "[]PurchaseOrderLineItem"
