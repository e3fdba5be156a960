"""Sandbox data: the spec's two samples as a fixture, and a deterministic generator at any scale.

Generated GL documents follow ConnectWise's GLExport schema (field names, order, types) and
balance: a transaction's header total equals minus the sum of its detail totals, and so does a
purchase. Amounts are exact decimals. Text includes ``&``, ``<``, quotes, non-ASCII names, long
memos and the odd control character, as real PSA data does.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from airflow_provider_cwgl.connectwise.client import loads
from airflow_provider_cwgl.sandbox import catalogue
from airflow_provider_cwgl.sandbox.store import BASE_PLACEHOLDER as BASE
from airflow_provider_cwgl.sandbox.store import GLDocument, Party, SandboxStore

CENT = Decimal("0.01")
SITES = "company/companies/{}/sites"
LOCATION_LEVEL = {"id": 2, "name": "Location"}
PRODUCT_CATEGORY = {"id": 1, "name": "Hardware"}
PO_STATUS = {"id": 2, "name": "Closed"}
EXPENSE_TYPE = {"id": 1, "name": "Travel"}
DEFAULT_ANCHOR = date(2026, 3, 1)


ordered = catalogue.document


def put(
    store: SandboxStore, collection: str, values: dict[str, Any], parent: int | None = None
) -> dict[str, Any]:
    """Store a record as the real endpoint returns it (see ``catalogue.record``)."""
    found = catalogue.endpoint("GET", collection.format(1) + "/1")
    if found is None:
        raise KeyError(f"ConnectWise {catalogue.API_VERSION} has no GET {collection}/{{id}}")
    record = catalogue.record(found[1], values, seed=values["id"])
    if parent is not None:
        return store.add_child(collection, parent, record)
    return store.add(collection, record)


def ref(endpoint: str, record_id: int, kind: str, **display: Any) -> dict[str, Any]:
    """A ConnectWise reference: id, display fields and ``_info.<kind>_href`` to the full record."""
    return {"id": record_id, **display, "_info": {f"{kind}_href": f"{BASE}{endpoint}/{record_id}"}}


def site_ref(company_id: int, site_id: int, name: str) -> dict[str, Any]:
    return {
        "id": site_id,
        "name": name,
        "_info": {"site_href": f"{BASE}company/companies/{company_id}/sites/{site_id}"},
    }


# ---------------------------------------------------------------------------------------------
# The spec's samples


def sample_store() -> SandboxStore:
    """The data behind the spec's two samples: exporting it reproduces them exactly.

    Invoices only gives the "Unposted Invoices" sample; procurement only gives the
    "Unposted Procurement" sample. Both documents belong to location 1 ("Tampa Office").
    """
    raw = loads(resources.files(__package__).joinpath("fixtures/spec_samples.json").read_text("utf-8"))
    store = SandboxStore()
    store.today = date(2026, 3, 1)
    _sample_references(store, raw["records"])
    invoice_export, procurement_export = raw["invoices"], raw["procurement"]

    txn = invoice_export["transactions"][0]
    gl_ids = {int(x) for x in txn["glEntryIds"].split(",")} | {d["id"] for d in txn["detail"]}
    store.documents.append(
        GLDocument(
            key=f"transaction:{txn['id']}",
            section="transactions",
            body=txn,
            location_id=1,
            document_date=date(2011, 6, 20),
            gl_entry_ids=frozenset(gl_ids),
            unposted={
                "id": txn["id"],
                "invoiceNumber": txn["documentNumber"],
                "locationId": 1,
                "company": txn["company"],
                "invoiceDate": txn["documentDate"],
                "total": txn["total"],
            },
        )
    )
    for row in invoice_export["customers"]:
        store.parties.append(Party("customers", row, {f"transaction:{txn['id']}"}))

    purchase = procurement_export["purchaseTransactions"][0]
    purchase_key = f"purchase:{purchase['documentNumber']}"
    store.documents.append(
        GLDocument(
            key=purchase_key,
            section="purchaseTransactions",
            body=purchase,
            location_id=1,
            document_date=date(2014, 5, 1),
            gl_entry_ids=frozenset(d["id"] for d in purchase["purchaseDetail"]),
            unposted={
                "id": 1299,
                "unpostedProductId": "1299",
                "locationId": 1,
                "purchaseOrder": {"id": 44, "name": purchase["documentNumber"]},
                "purchaseDate": purchase["purchaseDate"],
                "total": purchase["total"],
            },
        )
    )
    for row in procurement_export["vendors"]:
        store.parties.append(Party("vendors", row, {purchase_key}))
    return store


def _sample_references(store: SandboxStore, records: dict[str, list[dict[str, Any]]]) -> None:
    """The records the samples refer to (fixture ``records``); sites are listed per company."""
    for collection, rows in records.items():
        for row in rows:
            put(store, collection, row, row["company"]["id"] if collection == SITES else None)


# ---------------------------------------------------------------------------------------------
# The generator

_FIRST = [
    "Ana",
    "Björn",
    "Chloé",
    "Dmitri",
    "Eve",
    "Fatima",
    "Gráinne",
    "Hiro",
    "Ilse",
    "José",
    "Kai",
    "Łukasz",
]

_LAST = ["O'Brien", "Müller", "Nguyễn", "Smith & Sons", "Zoë", "Park", "Ødegaard", "García", "Kowalski"]
_COMPANY_WORDS = ["Angry Fox", "Blue Light", "Café Crème", "Dunder <Mifflin>", "Eagle & Hawk", "Fjörd"] + [
    '"Quoted" Systems',
    "Søren IT",
    "Zürich Data",
    "Tōkyō Net",
    "Acme",
    "Globex",
    "Initech",
]

_LOCATIONS = ["Tampa Office", "London Office", "Sydney Office", "Toronto Office", "Zürich Office"]
_CURRENCIES = [
    ("USD", "$", "US Dollar"),
    ("GBP", "£", "Pound Sterling"),
    ("EUR", "€", "Euro"),
    ("CAD", "$", "Canadian Dollar"),
    ("AUD", "$", "Australian Dollar"),
]

_TAX_LEVELS = [
    ("T0", Decimal("0")),
    ("T1", Decimal("0.2")),
    ("T5", Decimal("0.05")),
    ("T8", Decimal("0.0825")),
    ("T13", Decimal("0.13")),
]


class _Ids:
    def __init__(self, start: int) -> None:
        self.next = start

    def take(self) -> int:
        self.next += 1
        return self.next


def generated_store(
    *,
    seed: int = 42,
    transactions: int = 200,
    anchor: date = DEFAULT_ANCHOR,
    days: int = 30,
) -> SandboxStore:
    """A deterministic store with ``transactions`` invoices, and expenses and procurement in proportion.

    Documents are dated over the ``days`` days up to and including ``anchor`` (a few just after it,
    to show the thru date at work). The same seed always gives the same data.
    """
    rng = random.Random(seed)
    store = SandboxStore()
    store.today = anchor
    ref_data = _references(store, rng, max(10, transactions // 20))
    gl_ids = _Ids(100_000)
    ref_data["purchase_orders"] = max(1, transactions // 5)
    for n in range(transactions):
        _invoice(store, rng, ref_data, gl_ids, n, anchor, days)
    for n in range(max(1, transactions // 10)):
        _expense(store, rng, ref_data, gl_ids, n, anchor, days)
        _expense_bill(store, rng, ref_data, gl_ids, n, anchor, days)
    for n in range(max(1, transactions // 5)):
        _purchase(store, rng, ref_data, gl_ids, n, anchor, days)
    for n in range(max(1, transactions // 50)):
        _transfer(store, rng, ref_data, gl_ids, n, anchor, days)
    for n in range(max(1, transactions // 100)):
        _adjustment(store, rng, ref_data, n, anchor, days)
    return store


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(CENT)


def _date(rng: random.Random, anchor: date, days: int, late: bool | None = None) -> date:
    """A document date in the ``days`` up to ``anchor``; a late one falls 1-3 days after it.

    About one document in twenty is late, so a thru date has something to leave out.
    """
    if late is None:
        late = rng.random() < 0.05
    offset = rng.randint(1, 3) if late else rng.randint(-days + 1, 0)
    return anchor + timedelta(days=offset)


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


def _memo(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.05:
        return "Long memo: " + " ".join(rng.choice(_COMPANY_WORDS) for _ in range(60))
    if choice < 0.08:
        return "Vertical\x0btab and bell\x07 from a pasted e-mail"
    if choice < 0.3:
        return f'Work for {rng.choice(_FIRST)} {rng.choice(_LAST)} <urgent> & "priority"'
    return rng.choice(["", "Monthly services", "Hardware", "Consulting", "Café visit", "Réparation"])


def _references(store: SandboxStore, rng: random.Random, companies: int) -> dict[str, Any]:
    data: dict[str, Any] = {}
    data["locations"] = [
        put(
            store,
            "system/locations",
            {"id": i, "name": name, "ownerLevelId": 1, "structureLevel": LOCATION_LEVEL},
        )
        for i, name in enumerate(_LOCATIONS, start=1)
    ]
    data["currencies"] = [
        put(
            store,
            "finance/currencies",
            {
                "id": i,
                "currencyIdentifier": code,
                "name": name,
                "symbol": sym,
                "currencyCode": {"id": i, "name": code},
                "numberOfDecimals": 2,
            },
        )
        for i, (code, sym, name) in enumerate(_CURRENCIES, start=1)
    ]
    data["taxCodes"] = [
        put(
            store,
            "finance/taxCodes",
            {
                "id": i,
                "identifier": code,
                "description": f"Tax {code}",
                "invoiceCaption": code,
                "levelOneRate": rate,
            },
        )
        for i, (code, rate) in enumerate(_TAX_LEVELS, start=10)
    ]
    data["terms"] = [
        put(
            store,
            "finance/billingTerms",
            {"id": i, "name": f"Net {d}", "termsXref": f"Net {d}", "dueDays": d},
        )
        for i, d in enumerate((10, 30, 45), start=1)
    ]
    data["types"] = [
        put(store, "company/companies/types", {"id": 1, "name": "Customer", "vendorFlag": False}),
        put(store, "company/companies/types", {"id": 6, "name": "Vendor", "vendorFlag": True}),
    ]
    data["members"] = [
        put(
            store,
            "system/members",
            {
                "id": i,
                "identifier": f"m{i}",
                "firstName": rng.choice(_FIRST),
                "lastName": rng.choice(_LAST),
                "dailyCapacity": Decimal("8"),
            },
        )
        for i in range(1, 16)
    ]
    data["uoms"] = [
        put(store, "procurement/unitOfMeasures", {"id": 2, "name": "Hour"}),
        put(store, "procurement/unitOfMeasures", {"id": 13, "name": "Each"}),
    ]
    data["subcategories"] = [
        put(store, "procurement/subcategories", {"id": i, "name": n, "category": PRODUCT_CATEGORY})
        for i, n in enumerate(("Miscellaneous", "Cables", "Licences"), start=20)
    ]
    data["shipments"] = [
        put(store, "procurement/shipmentmethods", {"id": i, "name": n})
        for i, n in enumerate(("USPS Priority", "UPS Ground", "Courier"), start=9)
    ]
    data["warehouses"] = [
        put(
            store,
            "procurement/warehouses",
            {
                "id": i,
                "name": f"Warehouse {i}",
                "location": {"id": i, "name": _LOCATIONS[i - 1]},
                "lockedFlag": False,
            },
        )
        for i in (1, 2)
    ]
    data["bins"] = [
        put(
            store,
            "procurement/warehouseBins",
            {
                "id": i,
                "name": f"Bin {i}",
                "warehouse": ref(
                    "procurement/warehouses", 1 + i % 2, "warehouse", name=f"Warehouse {1 + i % 2}"
                ),
            },
        )
        for i in range(1, 7)
    ]
    data["classes"] = [
        put(store, "expense/classifications", {"id": i, "name": n})
        for i, n in enumerate(("Reimbursable", "Non-Reimbursable"), start=1)
    ]
    data["catalog"] = [
        put(
            store,
            "procurement/catalog",
            {
                "id": i,
                "identifier": f"SKU{i}",
                "description": f"Catalog item {i} — {rng.choice(_COMPANY_WORDS)}",
                "price": _money(rng, 5, 500),
                "cost": _money(rng, 1, 100),
                "subcategory": {"id": 20, "name": "Miscellaneous"},
                "type": {"id": 1, "name": "Hardware"},
                "customerDescription": f"Item {i}",
            },
        )
        for i in range(700, 760)
    ]
    data["companies"] = []
    site_ids = _Ids(1000)
    contact_ids = _Ids(5000)
    for i in range(1, companies + 1):
        word = _COMPANY_WORDS[i % len(_COMPANY_WORDS)]
        company = put(
            store,
            "company/companies",
            {
                "id": i,
                "identifier": f"C{i:04d}",
                "name": f"{word} {i}",
                "status": {"id": 1, "name": "Active"},
                "accountNumber": f"ACC{i:05d}",
                "phoneNumber": f"555-{i:04d}",
                "currency": ref("finance/currencies", 1 + i % len(_CURRENCIES), "currency"),
            },
        )
        sites = [
            put(store, SITES, {"id": site_ids.take(), "name": n, "company": {"id": i}, "city": "Tampa"}, i)
            for n in ("Main", "Warehouse")
        ]
        contact = put(
            store,
            "company/contacts",
            {
                "id": contact_ids.take(),
                "firstName": rng.choice(_FIRST),
                "lastName": rng.choice(_LAST),
                "company": {"id": i},
            },
        )
        data["companies"].append({"company": company, "sites": sites, "contact": contact})
    data["projects"] = [
        put(
            store,
            "project/projects",
            {
                "id": i,
                "name": f"Project {i}",
                "company": ref("company/companies", 1 + i % companies, "company"),
                "status": {"id": 1, "name": "Open"},
                "billingMethod": "ActualRates",
            },
        )
        for i in range(1, 21)
    ]
    data["agreements"] = []
    addition_ids = _Ids(9000)
    for i in range(1, 31):
        customer = data["companies"][i % len(data["companies"])]
        agreement = put(
            store,
            "finance/agreements",
            {
                "id": i,
                "name": f"Managed Services {i}",
                "type": {"id": 1, "name": "MSP"},
                "company": _company_refs(customer)["company"],
                "contact": _company_refs(customer)["contact"],
            },
        )
        for _ in range(rng.randint(1, 4)):
            item = rng.choice(data["catalog"])
            put(
                store,
                "finance/agreements/{}/additions",
                {
                    "id": addition_ids.take(),
                    "product": ref(
                        "procurement/catalog", item["id"], "product", identifier=item["identifier"]
                    ),
                    "quantity": Decimal(rng.randint(1, 20)),
                    "unitPrice": item["price"],
                    "billCustomer": "Billable",
                    "agreementId": i,
                },
                i,
            )
        data["agreements"].append(agreement)
    return data


def _company_refs(entry: dict[str, Any]) -> dict[str, Any]:
    company = entry["company"]
    return {
        "company": ref("company/companies", company["id"], "company", identifier=company["name"]),
        "site": site_ref(company["id"], entry["sites"][0]["id"], "Main"),
        "contact": ref(
            "company/contacts",
            entry["contact"]["id"],
            "contact",
            name=f"{entry['contact']['firstName']} {entry['contact']['lastName']}",
        ),
    }


def _name_ref(endpoint: str, record: dict[str, Any], kind: str, label: str = "name") -> dict[str, Any]:
    return ref(endpoint, record["id"], kind, name=record[label])


def _link_party(store: SandboxStore, section: str, key: str, company_id: int, make: Any) -> None:
    for party in store.parties:
        if party.section == section and party.body.get("company", {}).get("id") == company_id:
            party.document_keys.add(key)
            return
    store.parties.append(Party(section, make(), {key}))


def _invoice(
    store: SandboxStore,
    rng: random.Random,
    data: dict[str, Any],
    gl_ids: _Ids,
    n: int,
    anchor: date,
    days: int,
) -> None:
    entry = rng.choice(data["companies"])
    company = entry["company"]
    refs = _company_refs(entry)
    day = _date(rng, anchor, days, late=n % 20 == 7)
    location = rng.choice(data["locations"])
    currency = data["currencies"][company["id"] % len(data["currencies"])]
    tax_code = rng.choice(data["taxCodes"])
    terms = rng.choice(data["terms"])
    invoice_id = 10_000 + n
    invoice_number = f"INV{invoice_id}"
    agreement = rng.choice(data["agreements"]) if rng.random() < 0.5 else None
    put(
        store,
        "finance/invoices",
        {
            "id": invoice_id,
            "invoiceNumber": invoice_number,
            "type": "Agreement" if agreement else "Standard",
            "company": refs["company"],
            "billToCompany": refs["company"],
            "billingSite": refs["site"],
            "location": _name_ref("system/locations", location, "location"),
            "territory": _name_ref("system/locations", rng.choice(data["locations"]), "location"),
            "agreement": _name_ref("finance/agreements", agreement, "agreement") if agreement else None,
            "date": f"{day.isoformat()}T00:00:00Z",
        },
    )
    currency_ref = ref(
        "finance/currencies",
        currency["id"],
        "currency",
        currencyCode=currency["currencyIdentifier"],
        name=currency["name"],
    )
    tax_ref = ref("finance/taxCodes", tax_code["id"], "taxCode", name=tax_code["identifier"])
    lines = []
    subtotal = Decimal(0)
    for _ in range(rng.randint(1, 4)):
        item = rng.choice(data["catalog"])
        quantity = Decimal(rng.randint(1, 10))
        amount = (item["price"] * quantity).quantize(CENT)
        subtotal += amount
        bin_ = rng.choice(data["bins"])
        lines.append(
            ordered(
                "GLExportTransactionDetail",
                {
                    "id": gl_ids.take(),
                    "documentDate": _stamp(day),
                    "documentType": "INVOICE",
                    "accountNumber": "4000",
                    "glTypeId": "RP",
                    "invoiceSummaryOption": "0",
                    "cost": item["cost"],
                    "salesCode": "4000",
                    "memo": _memo(rng),
                    "description": item["description"],
                    "quantity": -quantity,
                    "total": -amount,
                    "currency": currency_ref,
                    "taxCode": tax_ref,
                    "taxCodeXref": tax_code["identifier"],
                    "taxRate": tax_code["levelOneRate"],
                    "taxRatePercent": tax_code["levelOneRate"] * 100,
                    "taxableFlag": True,
                    "item": ref(
                        "procurement/catalog",
                        item["id"],
                        "item",
                        identifier=item["identifier"],
                        serializedFlag=False,
                    ),
                    "product": ref(
                        "procurement/products", item["id"] * 10, "product", description=item["description"]
                    ),
                    "itemPrice": item["price"],
                    "itemCost": item["cost"],
                    "itemDescription": item["description"],
                    "salesDescription": item["description"],
                    "unitOfMeasure": _name_ref(
                        "procurement/unitOfMeasures", data["uoms"][1], "unitOfMeasure"
                    ),
                    "warehouseSite": refs["site"],
                    "warehouseBin": _name_ref("procurement/warehouseBins", bin_, "warehouseBin"),
                    "shipmentMethod": _name_ref(
                        "procurement/shipmentmethods", rng.choice(data["shipments"]), "shipmentMethod"
                    ),
                    "dropShippedFlag": False,
                    "itemTypeXref": "Inventory",
                    "locationXref": "DEFAULT",
                },
            )
        )
        put(
            store,
            "procurement/products",
            {
                "id": item["id"] * 10,
                "description": item["description"],
                "catalogItem": {"id": item["id"], "identifier": item["identifier"]},
                "price": item["price"],
                "billableOption": "Billable",
            },
        )
    tax = (subtotal * tax_code["levelOneRate"]).quantize(CENT)
    lines.append(
        ordered(
            "GLExportTransactionDetail",
            {
                "id": gl_ids.take(),
                "documentDate": _stamp(day),
                "documentType": "INVOICE",
                "accountNumber": "2200",
                "glTypeId": "ST",
                "memo": "Sales Tax",
                "description": "Level 1 Sales Tax",
                "quantity": Decimal(0),
                "total": -tax,
                "taxNote": "AUTOSTAX",
                "taxRate": tax_code["levelOneRate"],
                "taxRatePercent": tax_code["levelOneRate"] * 100,
                "currency": currency_ref,
                "locationXref": "DEFAULT",
            },
        )
    )
    header_ids = [gl_ids.take() for _ in range(rng.randint(1, 3))]
    total = subtotal + tax
    key = f"transaction:{invoice_id}"
    ship = rng.choice(data["companies"])
    po_id = 3000 + n % data["purchase_orders"]
    body = ordered(
        "GLExportTransaction",
        {
            "id": invoice_id,
            "glTypeId": "AR",
            "documentDate": _stamp(day),
            "documentNumber": invoice_number,
            "documentType": "INVOICE",
            "memo": _memo(rng),
            "description": "Accounts Receivable",
            "attention": refs["contact"]["name"],
            "salesTerritory": location["name"],
            "company": refs["company"],
            "companyType": _name_ref("company/companies/types", data["types"][0], "companyType"),
            "companyAccountNumber": company["accountNumber"],
            "site": refs["site"],
            "billingTerms": _name_ref("finance/billingTerms", terms, "billingTerms"),
            "billingTermsXref": terms["termsXref"],
            "dueDays": terms["dueDays"],
            "dueDate": _stamp(day + timedelta(days=terms["dueDays"])),
            "emailDeliveryFlag": True,
            "printDeliveryFlag": False,
            "agreementPrePaymentFlag": False,
            "accountNumber": "1200",
            "billingType": "Agreement" if agreement else "Standard",
            "glEntryIds": ",".join(str(i) for i in header_ids),
            "project": _name_ref("project/projects", rng.choice(data["projects"]), "project")
            if rng.random() < 0.3
            else None,
            # Every tenth invoice bills a purchase order (drop-shipped hardware).
            "purchaseOrder": _name_ref(
                "procurement/purchaseorders", {"id": po_id, "name": f"PO{po_id}"}, "purchaseOrder"
            )
            if n % 10 == 3
            else None,
            "currency": currency_ref,
            "total": total,
            "taxable": True,
            "taxableTotal": subtotal,
            "taxCode": tax_ref,
            "taxGroupRate": tax_code["levelOneRate"],
            "taxAccountNumber": "2200",
            "salesTax": tax,
            "stateTax": tax,
            "countyTax": Decimal(0),
            "cityTax": None,
            "taxAgencyXref": company["identifier"],
            "stateTaxXref": tax_code["identifier"],
            "shipToCompany": _company_refs(ship)["company"],
            "shipToCompanyAccountNumber": ship["company"]["accountNumber"],
            "shipToCompanyType": _name_ref("company/companies/types", data["types"][0], "companyType"),
            "shipSite": _company_refs(ship)["site"],
            "shipContact": _company_refs(ship)["contact"]["name"],
            "detail": lines,
        },
    )
    store.documents.append(
        GLDocument(
            key=key,
            section="transactions",
            body=body,
            location_id=location["id"],
            document_date=day,
            gl_entry_ids=frozenset(header_ids) | {line["id"] for line in lines},
            unposted={
                "id": invoice_id,
                "invoiceNumber": invoice_number,
                "locationId": location["id"],
                "company": refs["company"],
                "invoiceDate": f"{day.isoformat()}T00:00:00Z",
                "total": total,
            },
        )
    )
    _link_party(
        store,
        "customers",
        key,
        company["id"],
        lambda: ordered(
            "GLExportCustomer",
            {
                "company": refs["company"],
                "companyType": _name_ref("company/companies/types", data["types"][0], "companyType"),
                "contact": refs["contact"],
                "site": refs["site"],
                "accountNumber": company["accountNumber"],
                "billingTerms": _name_ref("finance/billingTerms", terms, "billingTerms"),
                "billingTermsXref": terms["termsXref"],
                "dueDays": terms["dueDays"],
                "taxable": True,
                "taxCode": tax_ref,
                "currency": currency_ref,
                "stateTaxXref": tax_code["identifier"],
                "stateTaxRate": tax_code["levelOneRate"] * 100,
                "countyTaxRate": Decimal(0),
                "cityTaxRate": Decimal(0),
                "countryTaxRate": Decimal(0),
                "compositeTaxRate": Decimal(0),
                "taxAgencyXref": company["identifier"],
            },
        ),
    )


def _expense(
    store: SandboxStore,
    rng: random.Random,
    data: dict[str, Any],
    gl_ids: _Ids,
    n: int,
    anchor: date,
    days: int,
) -> None:
    member = rng.choice(data["members"])
    entry = rng.choice(data["companies"])
    day = _date(rng, anchor, days)
    location = rng.choice(data["locations"])
    amount = _money(rng, 5, 400)
    currency = rng.choice(data["currencies"])
    member_ref = ref(
        "system/members",
        member["id"],
        "member",
        identifier=member["identifier"],
        name=f"{member['firstName']} {member['lastName']}",
    )
    expense_id = gl_ids.take()
    entry_id = 70_000 + n
    put(
        store,
        "expense/entries",
        {
            "id": entry_id,
            "type": EXPENSE_TYPE,
            "member": member_ref,
            "amount": amount,
            "date": f"{day.isoformat()}T00:00:00Z",
            "notes": _memo(rng),
        },
    )
    body = ordered(
        "GLExportExpense",
        {
            "id": expense_id,
            "documentDate": _stamp(day),
            "documentType": "EXPENSE",
            "apAccountNumber": "2000",
            "accountNumber": "6100",
            "glTypeId": "EE",
            "memo": _memo(rng),
            "description": "Non-reimbursable expense",
            "periodStartDate": _stamp(day),
            "periodEndDate": _stamp(day),
            "member": member_ref,
            "company": _company_refs(entry)["company"],
            "companyAccountNumber": entry["company"]["accountNumber"],
            "project": _name_ref("project/projects", rng.choice(data["projects"]), "project"),
            "currency": ref(
                "finance/currencies", currency["id"], "currency", currencyCode=currency["currencyIdentifier"]
            ),
            "total": amount,
            "offset": ordered(
                "GLExportExpenseOffset",
                {
                    "id": gl_ids.take(),
                    "documentDate": _stamp(day),
                    "documentType": "EXPENSE",
                    "accountNumber": "2000",
                    "glTypeId": "EO",
                    "member": member_ref,
                    "total": -amount,
                },
            ),
        },
    )
    store.documents.append(
        GLDocument(
            key=f"expense:{expense_id}",
            section="expenses",
            body=body,
            location_id=location["id"],
            document_date=day,
            gl_entry_ids=frozenset({expense_id, body["offset"]["id"]}),
            unposted={
                "id": expense_id,
                "locationId": location["id"],
                "member": member_ref,
                "total": amount,
                "expenseDetailId": entry_id,
                "dateExpense": f"{day.isoformat()}T00:00:00Z",
            },
        )
    )


def _expense_bill(
    store: SandboxStore,
    rng: random.Random,
    data: dict[str, Any],
    gl_ids: _Ids,
    n: int,
    anchor: date,
    days: int,
) -> None:
    member = rng.choice(data["members"])
    day = _date(rng, anchor, days)
    location = rng.choice(data["locations"])
    currency = rng.choice(data["currencies"])
    currency_ref = ref(
        "finance/currencies", currency["id"], "currency", currencyCode=currency["currencyIdentifier"]
    )
    member_ref = ref("system/members", member["id"], "member", identifier=member["identifier"])
    details, total = [], Decimal(0)
    for k in range(rng.randint(1, 3)):
        amount = _money(rng, 10, 300)
        total += amount
        entry_ids = [80_000 + n * 10 + k]
        # GLExport gives a bill line no project; its expense entries carry it.
        project = _name_ref("project/projects", rng.choice(data["projects"]), "project")
        for entry_id in entry_ids:
            put(
                store,
                "expense/entries",
                {
                    "id": entry_id,
                    "chargeToId": project["id"],
                    "chargeToType": "ProjectTicket",
                    "type": EXPENSE_TYPE,
                    "member": member_ref,
                    "amount": amount,
                    "date": f"{day.isoformat()}T00:00:00Z",
                    "project": project,
                },
            )
        entry = rng.choice(data["companies"])
        details.append(
            ordered(
                "GLExportExpenseBillDetail",
                {
                    "id": entry_ids,
                    "documentDate": _stamp(day),
                    "glTypeId": "EE",
                    "memo": _memo(rng),
                    "company": _company_refs(entry)["company"],
                    "accountNumber": "6200",
                    "expenseClass": _name_ref(
                        "expense/classifications", rng.choice(data["classes"]), "expenseClass"
                    ),
                    "currency": currency_ref,
                    "total": amount,
                    "billable": rng.random() < 0.5,
                    "reimbursable": True,
                    "companyAdvance": False,
                },
            )
        )
    bill_id = 60_000 + n
    body = ordered(
        "GLExportExpenseBill",
        {
            "id": bill_id,
            "documentDate": _stamp(day),
            "documentType": "BILL",
            "documentNumber": f"EXP{bill_id}",
            "memo": _memo(rng),
            "apAccountNumber": "2000",
            "member": member_ref,
            "currency": currency_ref,
            "total": total,
            "detail": details,
        },
    )
    store.documents.append(
        GLDocument(
            key=f"expenseBill:{bill_id}",
            section="expenseBills",
            body=body,
            location_id=location["id"],
            document_date=day,
            gl_entry_ids=frozenset(i for d in details for i in d["id"]),
            unposted={
                "id": bill_id,
                "locationId": location["id"],
                "member": member_ref,
                "total": total,
                "dateExpense": f"{day.isoformat()}T00:00:00Z",
            },
        )
    )


def _purchase(
    store: SandboxStore,
    rng: random.Random,
    data: dict[str, Any],
    gl_ids: _Ids,
    n: int,
    anchor: date,
    days: int,
) -> None:
    vendor = rng.choice(data["companies"])
    refs = _company_refs(vendor)
    day = _date(rng, anchor, days)
    location = rng.choice(data["locations"])
    po_id = 3000 + n
    po_number = f"PO{po_id}"
    tax_code = rng.choice(data["taxCodes"])
    tax_ref = ref("finance/taxCodes", tax_code["id"], "taxCode", name=tax_code["identifier"])
    put(
        store,
        "procurement/purchaseorders",
        {
            "id": po_id,
            "locationId": location["id"],
            "location": _name_ref("system/locations", location, "location"),
            "poNumber": po_number,
            "status": PO_STATUS,
            "taxCode": tax_ref,
            "terms": _name_ref("finance/billingTerms", data["terms"][0], "billingTerms"),
            "vendorCompany": refs["company"],
        },
    )
    lines, subtotal = [], Decimal(0)
    for line_no in range(1, rng.randint(2, 4)):
        item = rng.choice(data["catalog"])
        quantity = Decimal(rng.randint(1, 50))
        amount = (item["cost"] * quantity).quantize(CENT)
        subtotal += amount
        bin_ = rng.choice(data["bins"])
        warehouse = data["warehouses"][bin_["id"] % 2]
        shipment = rng.choice(data["shipments"])
        put(
            store,
            "procurement/purchaseorders/{}/lineitems",
            {
                "id": po_id * 10 + line_no,
                "description": item["description"],
                "lineNumber": line_no,
                "product": ref("procurement/catalog", item["id"], "product", identifier=item["identifier"]),
                "purchaseOrderId": po_id,
                "quantity": quantity,
                "shipmentMethod": _name_ref("procurement/shipmentmethods", shipment, "shipmentMethod"),
                "unitCost": item["cost"],
                "unitOfMeasure": _name_ref("procurement/unitOfMeasures", data["uoms"][1], "unitOfMeasure"),
                "warehouse": _name_ref("procurement/warehouses", warehouse, "warehouse"),
                "warehouseBin": _name_ref("procurement/warehouseBins", bin_, "warehouseBin"),
            },
            po_id,
        )
        lines.append(
            ordered(
                "GLExportPurchaseTransactionDetail",
                {
                    "id": gl_ids.take(),
                    "documentDate": _stamp(day),
                    "glTypeId": "RP",
                    "glItemId": item["identifier"],
                    "description": "Purchase",
                    "cost": item["cost"],
                    "memo": item["description"],
                    "accountNumber": "1300",
                    "item": ref(
                        "procurement/catalog",
                        item["id"],
                        "item",
                        identifier=item["identifier"],
                        serializedFlag=False,
                    ),
                    "itemDescription": item["description"],
                    "taxable": True,
                    "itemPrice": item["price"],
                    "itemCost": item["cost"],
                    "quantity": -quantity,
                    "total": -amount,
                    "currency": ref("finance/currencies", 1, "currency", currencyCode="USD"),
                    "lineNumber": line_no,
                    "warehouseBin": _name_ref("procurement/warehouseBins", bin_, "warehouseBin"),
                    "warehouseSite": refs["site"],
                    "shipmentMethod": _name_ref("procurement/shipmentmethods", shipment, "shipmentMethod"),
                    "taxCode": tax_ref,
                    "taxRate": tax_code["levelOneRate"],
                    "locationXref": "DEFAULT",
                },
            )
        )
    tax = (subtotal * tax_code["levelOneRate"]).quantize(CENT)
    tax_lines = (
        [
            ordered(
                "GLExportPurchaseTransactionDetailTax",
                {
                    "id": gl_ids.take(),
                    "documentDate": _stamp(day),
                    "accountNumber": "2210",
                    "glTypeId": "PT",
                    "memo": "Purchase tax",
                    "total": -tax,
                    "quantity": Decimal(0),
                    "lineNumber": 99,
                    "warehouseBin": _name_ref("procurement/warehouseBins", data["bins"][0], "warehouseBin"),
                    "taxRate": tax_code["levelOneRate"],
                    "taxRatePercent": tax_code["levelOneRate"] * 100,
                },
            )
        ]
        if tax
        else []
    )
    total = subtotal + tax
    key = f"purchase:{po_number}"
    body = ordered(
        "GLExportPurchaseTransaction",
        {
            "id": f"PO #{po_number}, Packing Slip: PS{po_id}",
            "documentDate": _stamp(day),
            "documentNumber": po_number,
            "description": "Purchase",
            "memo": _memo(rng),
            "apAccountNumber": "2000",
            "purchaseDate": _stamp(day),
            "company": refs["company"],
            "companyType": _name_ref("company/companies/types", data["types"][1], "companyType"),
            "contact": refs["contact"],
            "site": refs["site"],
            "freightAmount": Decimal(0),
            "packingSlip": f"PS{po_id}",
            "currency": ref("finance/currencies", 1, "currency", currencyCode="USD"),
            "total": total,
            "billingTerms": _name_ref("finance/billingTerms", data["terms"][0], "billingTerms"),
            "dueDays": data["terms"][0]["dueDays"],
            "vendorInvoiceNumber": f"VINV{po_id}",
            "vendorInvoiceDate": _stamp(day),
            "stateTaxXref": tax_code["identifier"],
            "shipToCompany": refs["company"],
            "shipToCompanyType": _name_ref("company/companies/types", data["types"][1], "companyType"),
            "shipToContact": refs["contact"],
            "shipToSite": refs["site"],
            "taxCode": tax_ref,
            "taxGroupRate": tax_code["levelOneRate"],
            "purchaseDetail": lines,
            "purchaseDetailTax": tax_lines,
        },
    )
    store.documents.append(
        GLDocument(
            key=key,
            section="purchaseTransactions",
            body=body,
            location_id=location["id"],
            document_date=day,
            gl_entry_ids=frozenset(d["id"] for d in lines + tax_lines),
            unposted={
                "id": po_id,
                "unpostedProductId": str(po_id),
                "locationId": location["id"],
                "purchaseOrder": {"id": po_id, "name": po_number},
                "total": total,
                "purchaseDate": f"{day.isoformat()}T00:00:00Z",
            },
        )
    )
    _link_party(
        store,
        "vendors",
        key,
        vendor["company"]["id"],
        lambda: ordered(
            "GLExportVendor",
            {
                "vendor": refs["company"],
                "company": refs["company"],
                "contact": refs["contact"],
                "accountNumber": vendor["company"]["accountNumber"],
                "billingTerms": _name_ref("finance/billingTerms", data["terms"][0], "billingTerms"),
                "dueDays": data["terms"][0]["dueDays"],
                "site": refs["site"],
                "taxCode": tax_ref,
                "member": ref(
                    "system/members",
                    data["members"][0]["id"],
                    "member",
                    identifier=data["members"][0]["identifier"],
                ),
            },
        ),
    )


def _transfer(
    store: SandboxStore,
    rng: random.Random,
    data: dict[str, Any],
    gl_ids: _Ids,
    n: int,
    anchor: date,
    days: int,
) -> None:
    day = _date(rng, anchor, days)
    item = rng.choice(data["catalog"])
    location = rng.choice(data["locations"])
    quantity = Decimal(rng.randint(1, 10))
    cost = (item["cost"] * quantity).quantize(CENT)
    bins = rng.sample(data["bins"], 2)
    offset_id = gl_ids.take()
    body = ordered(
        "GLExportInventoryTransfer",
        {
            "id": f"TR #{n + 1}",
            "documentType": "TRANSFER",
            "documentDate": _stamp(day),
            "accountNumber": "1300",
            "glTypeId": "IT",
            "description": "Inventory transfer",
            "memo": _memo(rng),
            "transferId": gl_ids.take(),
            "item": ref(
                "procurement/catalog", item["id"], "item", identifier=item["identifier"], serializedFlag=False
            ),
            "currency": ref("finance/currencies", 1, "currency", currencyCode="USD"),
            "quantity": quantity,
            "cost": item["cost"],
            "total": cost,
            "bin": _name_ref("procurement/warehouseBins", bins[0], "warehouseBin"),
            "warehouse": _name_ref("procurement/warehouses", data["warehouses"][0], "warehouse"),
            "transferFromBin": _name_ref("procurement/warehouseBins", bins[0], "warehouseBin"),
            "transferToBin": _name_ref("procurement/warehouseBins", bins[1], "warehouseBin"),
            "offset": ordered(
                "GLExportInventoryTransferOffset",
                {
                    "id": offset_id,
                    "documentType": "TRANSFER",
                    "documentDate": _stamp(day),
                    "accountNumber": "1300",
                    "total": -cost,
                    "glTypeId": "IT",
                },
            ),
        },
    )
    store.documents.append(
        GLDocument(
            key=f"transfer:{n + 1}",
            section="inventoryTransfers",
            body=body,
            location_id=location["id"],
            document_date=day,
            gl_entry_ids=frozenset({body["transferId"], offset_id}),
            unposted={
                "id": body["transferId"],
                "unpostedProductId": str(body["transferId"]),
                "locationId": location["id"],
                "total": cost,
            },
        )
    )


def _adjustment(
    store: SandboxStore, rng: random.Random, data: dict[str, Any], n: int, anchor: date, days: int
) -> None:
    """An inventory adjustment. GLExport gives adjustments no numeric GL entry id, so no batch can
    mark them exported; the sandbox keeps them unposted for ever (see the README's known gaps)."""
    day = _date(rng, anchor, days)
    location = rng.choice(data["locations"])
    lines = []
    for _ in range(rng.randint(1, 3)):
        item = rng.choice(data["catalog"])
        quantity = rng.randint(-5, 5) or 1
        lines.append(
            ordered(
                "GLExportAdjustmentTransactionDetail",
                {
                    "description": "Stock count",
                    "memo": _memo(rng),
                    "item": ref("procurement/catalog", item["id"], "item", identifier=item["identifier"]),
                    "quantity": quantity,
                    "total": (item["cost"] * quantity).quantize(CENT),
                    "cost": item["cost"],
                    "accountNumber": "1300",
                },
            )
        )
    body = ordered(
        "GLExportAdjustmentTransaction",
        {
            "id": f"ADJ #{n + 1}",
            "documentType": "ADJUSTMENT",
            "documentDate": _stamp(day),
            "glTypeID": "IA",
            "accountNumber": "1300",
            "adjustmentDescription": "Stock count correction",
            "adjustmentDetail": lines,
        },
    )
    store.documents.append(
        GLDocument(
            key=f"adjustment:{n + 1}",
            section="adjustmentTransactions",
            body=body,
            location_id=location["id"],
            document_date=day,
            gl_entry_ids=frozenset(),
            unposted={"id": 90_000 + n, "unpostedProductId": str(90_000 + n), "locationId": location["id"]},
        )
    )
