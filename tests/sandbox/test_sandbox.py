"""The sandbox behaves like ConnectWise: export filters, paging, limits, batches, data and faults."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.glexport import schema
from airflow_provider_cwgl.glexport.request import COLLECTION_KINDS
from airflow_provider_cwgl.sandbox import Sandbox, generated_store, sample_store
from airflow_provider_cwgl.sandbox.jsonio import dumps


def api(sandbox: Sandbox) -> httpx.Client:
    creds = sandbox.credentials
    return httpx.Client(
        base_url=sandbox.api_url,
        auth=(f"{creds['company_id']}+{creds['public_key']}", creds["private_key"]),
        headers={"clientId": creds["client_id"]},
        timeout=10,
    )


def export(sandbox: Sandbox, **body: object) -> dict:
    response = api(sandbox).post("finance/accounting/export", json=body)
    assert response.status_code == 200, response.text
    return loads(response.content)


def test_company_info_gives_codebase(cw_sandbox: Sandbox) -> None:
    info = httpx.get(f"{cw_sandbox.url}/login/companyinfo/{cw_sandbox.credentials['company_id']}").json()
    assert info["Codebase"] == cw_sandbox.codebase
    assert httpx.get(f"{cw_sandbox.url}/login/companyinfo/other").json() is None


def test_serves_api_2025_1(cw_sandbox: Sandbox) -> None:
    info = httpx.get(f"{cw_sandbox.url}/login/companyinfo/cwsandbox", timeout=10).json()
    assert (info["VersionCode"], info["Codebase"]) == ("v2025.1", "v2025_1/")
    for response in (api(cw_sandbox).get("system/info"), api(cw_sandbox).get("no/such/endpoint")):
        assert response.headers["content-type"] == "application/vnd.connectwise.com+json; version=2025.1"
    assert api(cw_sandbox).get("system/info").json()["version"] == "v2025.1.0"


def test_wrong_codebase_is_404(cw_sandbox: Sandbox) -> None:
    client = api(cw_sandbox)
    response = client.get(f"{cw_sandbox.url}/v4_6_release/apis/3.0/system/info")
    assert response.status_code == 404
    assert response.json()["code"] == "NotFound"


def test_export_flags_select_sections(cw_sandbox: Sandbox) -> None:
    today = cw_sandbox.store.today.isoformat() + "T00:00:00Z"
    invoices = export(cw_sandbox, exportInvoicesFlag=True, thruDate=today)
    assert invoices["transactions"] and invoices["customers"]
    assert not invoices["expenses"] and not invoices["purchaseTransactions"] and not invoices["vendors"]
    everything = export(
        cw_sandbox, exportInvoicesFlag=True, exportExpensesFlag=True, exportProductsFlag=True, thruDate=today
    )
    for section, kind in COLLECTION_KINDS.items():
        expected = [
            d
            for d in cw_sandbox.store.documents
            if d.section == section and d.document_date <= cw_sandbox.store.today
        ]
        assert len(everything[section]) == len(expected), (section, kind)


def test_export_requires_a_flag(cw_sandbox: Sandbox) -> None:
    response = api(cw_sandbox).post("finance/accounting/export", json={"thruDate": "2026-01-01T00:00:00Z"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "exportInvoicesFlag"


def test_thru_date_is_inclusive_and_defaults_to_today(cw_sandbox: Sandbox) -> None:
    store = cw_sandbox.store
    dates = sorted({d.document_date for d in store.documents if d.section == "transactions"})
    cut = dates[len(dates) // 2]
    got = export(cw_sandbox, exportInvoicesFlag=True, thruDate=f"{cut.isoformat()}T00:00:00Z")
    expected = {
        d.body["id"] for d in store.documents if d.section == "transactions" and d.document_date <= cut
    }
    assert {t["id"] for t in got["transactions"]} == expected
    default = export(cw_sandbox, exportInvoicesFlag=True)
    today = {
        d.body["id"]
        for d in store.documents
        if d.section == "transactions" and d.document_date <= store.today
    }
    assert {t["id"] for t in default["transactions"]} == today
    assert any(d.document_date > store.today for d in store.documents), (
        "generator should date some after today"
    )


def test_location_filter(cw_sandbox: Sandbox) -> None:
    got = export(cw_sandbox, exportInvoicesFlag=True, locationId=2, thruDate="2030-01-01T00:00:00Z")
    expected = {
        d.body["id"] for d in cw_sandbox.store.documents if d.section == "transactions" and d.location_id == 2
    }
    assert expected and {t["id"] for t in got["transactions"]} == expected


def test_location_0_is_all_locations(cw_sandbox: Sandbox) -> None:
    """Real integrations send ``locationId: 0`` for all locations (connectwise-etl, SmartConnect)."""
    every = export(cw_sandbox, exportInvoicesFlag=True, thruDate="2030-01-01T00:00:00Z")
    got = export(cw_sandbox, exportInvoicesFlag=True, locationId=0, thruDate="2030-01-01T00:00:00Z")
    assert len({d.location_id for d in cw_sandbox.store.documents}) > 1
    assert got["transactions"] and got == every


def test_included_and_excluded_ids(cw_sandbox: Sandbox) -> None:
    # Real integrations name an unposted invoice by its billingLogId (RationallyPrime/connectwise-etl).
    unposted = api(cw_sandbox).get("finance/accounting/unpostedinvoices", params={"pageSize": 1000}).json()
    ids = sorted(u["billingLogId"] for u in unposted)
    got = export(
        cw_sandbox, exportInvoicesFlag=True, thruDate="2030-01-01T00:00:00Z", includedInvoiceIds=ids[:3]
    )
    assert [t["id"] for t in got["transactions"]] == ids[:3]
    got = export(
        cw_sandbox, exportInvoicesFlag=True, thruDate="2030-01-01T00:00:00Z", excludedInvoiceIds=ids[:3]
    )
    assert {t["id"] for t in got["transactions"]} == set(ids[3:])
    # An unposted invoice's own id is not its invoice's: naming it includes nothing.
    own = [u["id"] for u in unposted if u["billingLogId"] in ids[:3]]
    got = export(cw_sandbox, exportInvoicesFlag=True, thruDate="2030-01-01T00:00:00Z", includedInvoiceIds=own)
    assert len(own) == 3 and got["transactions"] == []


def test_export_fields_follow_schema_order_and_carry_hrefs(cw_sandbox: Sandbox) -> None:
    got = export(
        cw_sandbox, exportInvoicesFlag=True, exportProductsFlag=True, thruDate="2030-01-01T00:00:00Z"
    )
    transaction = got["transactions"][0]
    model = list(schema.models()["GLExportTransaction"])
    # Schema order; references a document lacks are left out, as ConnectWise does.
    assert list(transaction) == [name for name in model if name in transaction]
    assert {"id", "glEntryIds", "total", "company", "detail"} <= set(transaction)
    href = transaction["company"]["_info"]["company_href"]
    assert href == f"{cw_sandbox.api_url}company/companies/{transaction['company']['id']}"
    site_href = transaction["site"]["_info"]["site_href"]
    assert f"/company/companies/{transaction['company']['id']}/sites/" in site_href
    assert isinstance(transaction["total"], Decimal)


def test_generated_documents_balance(cw_sandbox: Sandbox) -> None:
    for doc in cw_sandbox.store.documents:
        body = doc.body
        if doc.section == "transactions":
            assert body["total"] == -sum(line["total"] for line in body["detail"]), doc.key
        elif doc.section == "purchaseTransactions":
            lines = body["purchaseDetail"] + body["purchaseDetailTax"]
            assert body["total"] == -sum(line["total"] for line in lines), doc.key


def test_generator_is_deterministic() -> None:
    one = generated_store(seed=7, transactions=30)
    two = generated_store(seed=7, transactions=30)
    other = generated_store(seed=8, transactions=30)
    assert dumps([d.body for d in one.documents]) == dumps([d.body for d in two.documents])
    assert dumps([d.body for d in one.documents]) != dumps([d.body for d in other.documents])


def test_generator_scales() -> None:
    store = generated_store(transactions=2500)
    sections = Counter(d.section for d in store.documents)
    kinds = Counter(d.body["documentType"] for d in store.documents if d.section == "transactions")
    # 2500 invoices, a credit memo per 50 of them and a one-cent invoice per 100.
    assert kinds == {"INVOICE": 2500 + 25, "CREDIT MEMO": 50}
    assert sections["expenses"] and sections["expenseBills"] and sections["purchaseTransactions"]
    assert len({d.body["currency"]["id"] for d in store.documents if d.section == "transactions"}) > 1


def test_paging_link_headers(cw_sandbox: Sandbox) -> None:
    client = api(cw_sandbox)
    total = len(cw_sandbox.store.resources["company/companies"])
    seen, url, pages = [], "company/companies?pageSize=2", 0
    while url:
        response = client.get(url)
        seen += [r["id"] for r in response.json()]
        url = response.links.get("next", {}).get("url")
        pages += 1
    assert sorted(seen) == sorted(cw_sandbox.store.resources["company/companies"])
    assert pages == -(-total // 2)
    assert client.get("company/companies?pageSize=5000").headers["link"].count("page=1") >= 1
    assert len(client.get("company/companies?pageSize=5000").json()) == total
    assert len(client.get("company/companies").json()) == min(25, total)


def test_fields_trim_and_count(cw_sandbox: Sandbox) -> None:
    client = api(cw_sandbox)
    rows = client.get(
        "company/companies", params={"fields": "id,currency/id", "conditions": "id <= 3"}
    ).json()
    assert rows == [
        {"id": i, "currency": {"id": cw_sandbox.store.resources["company/companies"][i]["currency"]["id"]}}
        for i in (1, 2, 3)
    ]
    assert client.get("company/companies/count", params={"conditions": "id <= 3"}).json() == {"count": 3}


def test_sub_collections(cw_sandbox: Sandbox) -> None:
    client = api(cw_sandbox)
    sites = client.get("company/companies/1/sites").json()
    assert sites and all(s["company"]["id"] == 1 for s in sites)
    assert client.get(f"company/companies/1/sites/{sites[0]['id']}").json()["id"] == sites[0]["id"]
    assert client.get("finance/agreements/1/additions").json()
    assert client.get("procurement/purchaseorders/3000/lineitems").json()


def test_long_urls_fail_like_connectwise(cw_sandbox: Sandbox) -> None:
    ids = ",".join(str(i) for i in range(1, 600))
    response = api(cw_sandbox).get("company/companies", params={"conditions": f"id in ({ids})"})
    assert response.status_code == 414
    assert "2000" in response.json()["message"]


def test_unposted_endpoints(cw_sandbox: Sandbox) -> None:
    client = api(cw_sandbox)
    invoices = client.get("finance/accounting/unpostedinvoices", params={"pageSize": 1000}).json()
    assert len(invoices) == sum(1 for d in cw_sandbox.store.documents if d.section == "transactions")
    first = invoices[0]["id"]
    assert client.get(f"finance/accounting/unpostedinvoices/{first}").json()["id"] == first
    assert client.get("finance/accounting/unpostedprocurement/count").json()["count"] > 0
    assert client.get("finance/accounting/unpostedexpenses").status_code == 200


def test_batches_remove_records_from_unposted_and_reexport(cw_sandbox: Sandbox) -> None:
    client = api(cw_sandbox)
    before = export(cw_sandbox, exportInvoicesFlag=True, thruDate="2030-01-01T00:00:00Z")
    chosen = before["transactions"][:2]
    record_ids = [int(x) for t in chosen for x in t["glEntryIds"].split(",")] + [
        line["id"] for t in chosen for line in t["detail"]
    ]
    body = {"batchIdentifier": "TEST-I-1", "exportInvoicesFlag": True, "processedRecordIds": record_ids}
    created = client.post("finance/accounting/batches", json=body)
    assert created.status_code == 201
    assert [t["id"] for t in loads(created.content)["transactions"]] == [t["id"] for t in chosen]
    after = export(cw_sandbox, exportInvoicesFlag=True, thruDate="2030-01-01T00:00:00Z")
    assert {t["id"] for t in after["transactions"]} == {t["id"] for t in before["transactions"]} - {
        t["id"] for t in chosen
    }
    again = client.post("finance/accounting/batches", json=body)
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "ObjectExists"
    listed = client.get(
        "finance/accounting/batches", params={"conditions": 'batchIdentifier = "TEST-I-1"'}
    ).json()
    assert len(listed) == 1
    batch_id = listed[0]["id"]
    assert client.get(f"finance/accounting/batches/{batch_id}").json()["batchIdentifier"] == "TEST-I-1"
    entries = client.get(f"finance/accounting/batches/{batch_id}/entries", params={"pageSize": 1000}).json()
    # BatchEntry: one accounting line per document, numbered apart from the GL entry ids.
    assert len(entries) == len(chosen) and not {e["id"] for e in entries} & set(record_ids)
    reexport = loads(client.post(f"finance/accounting/batches/{batch_id}/export", json={}).content)
    assert dumps(reexport["transactions"]) == dumps(loads(created.content)["transactions"])


def test_sample_store_reproduces_sample_json(cw_sample_sandbox: Sandbox) -> None:
    invoices = export(cw_sample_sandbox, exportInvoicesFlag=True, thruDate="2026-03-01T00:00:00Z")
    assert [c["company"]["id"] for c in invoices["customers"]] == [8]
    assert [t["id"] for t in invoices["transactions"]] == [125]
    procurement = export(cw_sample_sandbox, exportProductsFlag=True, thruDate="2026-03-01T00:00:00Z")
    assert [v["vendor"]["id"] for v in procurement["vendors"]] == [6, 3]
    assert procurement["purchaseTransactions"][0]["total"] == Decimal("12.5")
    assert not sample_store().documents[0].gl_entry_ids ^ {1009, 1010, 1011, 1012, 1013, 1014, 1015, 1016}


def test_latency_and_peak_in_flight_are_measured(cw_sandbox: Sandbox) -> None:
    cw_sandbox.faults.latency = 0.2
    threads = [threading.Thread(target=lambda: api(cw_sandbox).get("system/info")) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cw_sandbox.log.peak_in_flight == 5
    durations = [r.finished - r.started for r in cw_sandbox.log.records]
    assert min(durations) >= 0.19  # asyncio timers may wake a hair early
    assert cw_sandbox.log.counts()["GET system/info"] == 5


def test_fault_rates_and_endpoint_patterns(cw_sandbox: Sandbox) -> None:
    cw_sandbox.faults.add(path="company/*", status=502, rate=0.5)
    client = api(cw_sandbox)
    statuses = Counter(client.get("company/companies/1").status_code for _ in range(40))
    assert 5 <= statuses[502] <= 35 and statuses[200] >= 5
    assert client.get("system/info").status_code == 200


@pytest.mark.parametrize("days", [0, 1])
def test_anchor_controls_dates(days: int) -> None:
    anchor = date(2025, 6, 30) + timedelta(days=days)
    store = generated_store(transactions=20, anchor=anchor)
    assert max(d.document_date for d in store.documents) <= anchor + timedelta(days=3)
    assert store.today == anchor


@pytest.mark.parametrize("body", [b'{"exportInvoicesFlag": NaN}', b'{"exportInvoicesFlag": true', b"\xff"])
def test_request_bodies_that_are_not_json_are_refused(cw_sandbox: Sandbox, body: bytes) -> None:
    # The sandbox reads bodies with the client's loads: NaN is not JSON there either.
    response = api(cw_sandbox).post(
        "finance/accounting/export", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidObject"
