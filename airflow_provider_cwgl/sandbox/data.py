"""Sandbox data: the spec's two samples as a fixture, and a deterministic generator at any scale.

Generated records are the catalogue's models: ``put`` stores a record of an endpoint's model,
``_doc`` builds a GLExport record from its model's fields, taking each from the document's context
by field name or, for a reference, by the reference's model (``CompanyReference``). The values come
from a small table of realistic ones. GL documents balance: a transaction's header total equals
minus the sum of its detail totals, and so does a purchase. Amounts are exact decimals. Text
includes ``&``, ``<``, quotes, non-ASCII names, long memos and the odd control character, as real
PSA data does.

As real tenants send them (SmartConnect's ConnectWise maps, Wise-Sync's help pages), some
transactions are credit memos (``documentType`` "CREDIT MEMO": a negative header total, lines of the
opposite sign, a hand-typed number such as "119CM", nothing linking them to an invoice) and some are
one-cent invoices (a unit price rounded to 0.00, so ``itemPrice`` × ``quantity`` is not ``total``).
An unposted invoice names its invoice by ``billingLogId`` (the transaction's id), which is what
``includedInvoiceIds`` takes; its own ``id`` is numbered apart (``UNPOSTED_INVOICE_OFFSET``).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from airflow_provider_cwgl.connectwise.jsonbody import loads
from airflow_provider_cwgl.sandbox import catalogue
from airflow_provider_cwgl.sandbox.store import BASE_PLACEHOLDER as BASE
from airflow_provider_cwgl.sandbox.store import GLDocument, Party, SandboxStore

CENT = Decimal("0.01")
# An unposted invoice's own ``id`` is this plus its invoice's id (its ``billingLogId``). Which number
# ConnectWise gives it is unverified; apart from the invoice's, a request naming the wrong id of
# the two exports nothing, as it would on a tenant.
UNPOSTED_INVOICE_OFFSET = 500_000
SITES = "company/companies/{}/sites"
DEFAULT_ANCHOR = date(2026, 3, 1)

Record = dict[str, Any]


def put(store: SandboxStore, collection: str, values: Record, parent: int | None = None) -> Record:
    """Store a record as the real endpoint returns it (see ``catalogue.record``)."""
    found = catalogue.endpoint("GET", collection.format(1) + "/1")
    if found is None:
        raise KeyError(f"ConnectWise {catalogue.API_VERSION} has no GET {collection}/{{id}}")
    record = catalogue.record(found[1], values, seed=values["id"])
    if parent is not None:
        return store.add_child(collection, parent, record)
    return store.add(collection, record)


def ref(endpoint: str, record_id: int, kind: str, **display: Any) -> Record:
    """A ConnectWise reference: id, display fields and ``_info.<kind>_href`` to the full record."""
    return {"id": record_id, **display, "_info": {f"{kind}_href": f"{BASE}{endpoint}/{record_id}"}}


def _doc(model: str, context: Mapping[str, Any], values: Record) -> Record:
    """A GLExport record of ``model``: ``values``, and for each other field what ``context`` holds
    under the field's name or, for a reference, under the reference's model."""
    values = dict(values)
    for name, spec in catalogue.models()[model].items():
        found = context.get(name, context.get(spec.type))
        if name not in values and found is not None:
            values[name] = found
    return catalogue.document(model, values)


def _add(
    store: SandboxStore, section: str, key: str, body: Record, day: date, ids: Any, unposted: Record
) -> None:
    """Add a GL document dated ``day``, with its GL entry ids and unposted record (its location's)."""
    ids = frozenset(ids)
    store.documents.append(GLDocument(key, section, body, unposted["locationId"], day, ids, unposted))


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
    for collection, rows in raw["records"].items():
        for row in rows:
            put(store, collection, row, row["company"]["id"] if collection == SITES else None)
    txn, key = raw["invoices"]["transactions"][0], f"transaction:{raw['invoices']['transactions'][0]['id']}"
    ids = {int(x) for x in txn["glEntryIds"].split(",")} | {d["id"] for d in txn["detail"]}
    unposted: Record = {"id": UNPOSTED_INVOICE_OFFSET + txn["id"], "billingLogId": txn["id"]}
    unposted |= {"invoiceNumber": txn["documentNumber"], "locationId": 1}
    unposted |= {"company": txn["company"], "invoiceDate": txn["documentDate"], "total": txn["total"]}
    _add(store, "transactions", key, txn, date(2011, 6, 20), ids, unposted)
    store.parties += [Party("customers", row, {key}) for row in raw["invoices"]["customers"]]
    purchase = raw["procurement"]["purchaseTransactions"][0]
    key = f"purchase:{purchase['documentNumber']}"
    unposted = {"id": 1299, "unpostedProductId": "1299", "locationId": 1, "total": purchase["total"]}
    unposted |= {"purchaseOrder": {"id": 44, "name": purchase["documentNumber"]}}
    unposted["purchaseDate"] = purchase["purchaseDate"]
    ids = {d["id"] for d in purchase["purchaseDetail"]}
    _add(store, "purchaseTransactions", key, purchase, date(2014, 5, 1), ids, unposted)
    store.parties += [Party("vendors", row, {key}) for row in raw["procurement"]["vendors"]]
    return store


# ---------------------------------------------------------------------------------------------
# The realistic values

_FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Eve", "Fatima", "Gráinne", "Hiro", "Ilse", "José", "Kai"]
_FIRST += ["Łukasz"]
_LAST = ["O'Brien", "Müller", "Nguyễn", "Smith & Sons", "Zoë", "Park", "Ødegaard", "García", "Kowalski"]
_COMPANY_WORDS = ["Angry Fox", "Blue Light", "Café Crème", "Dunder <Mifflin>", "Eagle & Hawk", "Fjörd"]
_COMPANY_WORDS += ['"Quoted" Systems', "Søren IT", "Zürich Data", "Tōkyō Net", "Acme", "Globex", "Initech"]
_MEMOS = ["", "Monthly services", "Hardware", "Consulting", "Café visit", "Réparation"]
_LOCATIONS = [f"{city} Office" for city in ("Tampa", "London", "Sydney", "Toronto", "Zürich")]
_CURRENCIES = [("USD", "$", "US Dollar"), ("GBP", "£", "Pound Sterling"), ("EUR", "€", "Euro")]
_CURRENCIES += [("CAD", "$", "Canadian Dollar"), ("AUD", "$", "Australian Dollar")]
_TAX_LEVELS = [("T0", "0"), ("T1", "0.2"), ("T5", "0.05"), ("T8", "0.0825"), ("T13", "0.13")]
_NAMED = {"uoms": ("procurement/unitOfMeasures", {2: "Hour", 13: "Each"})}
_NAMED |= {
    "subcategories": ("procurement/subcategories", {20: "Miscellaneous", 21: "Cables", 22: "Licences"})
}
_NAMED |= {
    "shipments": ("procurement/shipmentmethods", {9: "USPS Priority", 10: "UPS Ground", 11: "Courier"})
}
_NAMED |= {"classes": ("expense/classifications", {1: "Reimbursable", 2: "Non-Reimbursable"})}
_DUE_DAYS = (10, 30, 45)
_HARDWARE = {"id": 1, "name": "Hardware"}
_EXTRA = {"subcategories": {"category": _HARDWARE}}


def _fixed_records() -> Iterator[tuple[str, str, list[Record]]]:
    """The reference records nothing random goes into: (kind, collection, records)."""
    level: Record = {"structureLevel": {"id": 2, "name": "Location"}, "ownerLevelId": 1}
    yield "locations", "system/locations", [{"id": i, "name": n} | level for i, n in enumerate(_LOCATIONS, 1)]
    currencies = []
    for i, (code, symbol, name) in enumerate(_CURRENCIES, 1):
        currency: Record = {"id": i, "currencyIdentifier": code, "name": name, "symbol": symbol}
        currencies.append(currency | {"currencyCode": {"id": i, "name": code}, "numberOfDecimals": 2})
    yield "currencies", "finance/currencies", currencies
    taxes = [
        {"id": i, "identifier": c, "description": f"Tax {c}"} for i, (c, _) in enumerate(_TAX_LEVELS, 10)
    ]
    for tax, (code, rate) in zip(taxes, _TAX_LEVELS, strict=True):
        tax |= {"invoiceCaption": code, "levelOneRate": Decimal(rate)}
    yield "taxCodes", "finance/taxCodes", taxes
    terms = [
        {"id": i, "name": f"Net {d}", "termsXref": f"Net {d}", "dueDays": d}
        for i, d in enumerate(_DUE_DAYS, 1)
    ]
    yield "terms", "finance/billingTerms", terms
    customer, vendor = {"id": 1, "name": "Customer", "vendorFlag": False}, {"id": 6, "name": "Vendor"}
    yield "types", "company/companies/types", [customer, vendor | {"vendorFlag": True}]
    for kind, (collection, names) in _NAMED.items():
        yield kind, collection, [{"id": i, "name": n, **_EXTRA.get(kind, {})} for i, n in names.items()]
    warehouses: list[Record] = [{"id": i, "name": f"Warehouse {i}", "lockedFlag": False} for i in (1, 2)]
    for each in warehouses:
        each["location"] = {"id": each["id"], "name": _LOCATIONS[each["id"] - 1]}
    yield "warehouses", "procurement/warehouses", warehouses
    by_id = {i: _named("procurement/warehouses", w, "warehouse") for i, w in enumerate(warehouses, 1)}
    bins = [{"id": i, "name": f"Bin {i}", "warehouse": by_id[1 + i % 2]} for i in range(1, 7)]
    yield "bins", "procurement/warehouseBins", bins


def _named(endpoint: str, record: Record, kind: str) -> Record:
    return ref(endpoint, record["id"], kind, name=record["name"])


def _only(values: Record, *names: str) -> Record:
    return {name: values[name] for name in names}


def _zulu(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00"


# ---------------------------------------------------------------------------------------------
# The generator


@dataclass
class _World:
    """The generator's state: the store, its random source, the dates to use and the references."""

    store: SandboxStore
    rng: random.Random
    anchor: date
    days: int
    records: dict[str, list[Record]] = field(default_factory=dict)
    gl_ids: Iterator[int] = field(default_factory=lambda: itertools.count(100_001))
    purchase_orders: int = 1

    def pick(self, kind: str) -> Record:
        return self.rng.choice(self.records[kind])

    def money(self, low: int, high: int) -> Decimal:
        return (Decimal(self.rng.randint(low * 100, high * 100)) / 100).quantize(CENT)

    def day(self, late: bool | None = None) -> date:
        """A document date in the ``days`` up to ``anchor``; about one in twenty falls 1-3 days
        after it, so a thru date has something to leave out."""
        if late is None:
            late = self.rng.random() < 0.05
        offset = self.rng.randint(1, 3) if late else self.rng.randint(-self.days + 1, 0)
        return self.anchor + timedelta(days=offset)

    def memo(self) -> str:
        rng, choice = self.rng, self.rng.random()
        if choice < 0.05:
            return "Long memo: " + " ".join(rng.choice(_COMPANY_WORDS) for _ in range(60))
        if choice < 0.08:
            return "Vertical\x0btab and bell\x07 from a pasted e-mail"
        if choice < 0.3:
            return f'Work for {rng.choice(_FIRST)} {rng.choice(_LAST)} <urgent> & "priority"'
        return rng.choice(_MEMOS)

    def item(self, price: str, most: int) -> tuple[Record, Decimal, Decimal]:
        """A catalogue item, a quantity of 1 to ``most`` and what they come to at its ``price``."""
        item, quantity = self.pick("catalog"), Decimal(self.rng.randint(1, most))
        return item, quantity, (item[price] * quantity).quantize(CENT)

    def person(self) -> Record:
        return {"firstName": self.rng.choice(_FIRST), "lastName": self.rng.choice(_LAST)}

    def put(self, kind: str, collection: str, rows: list[Record], parent: int | None = None) -> None:
        self.records.setdefault(kind, []).extend(put(self.store, collection, r, parent) for r in rows)


def generated_store(
    *,
    seed: int = 42,
    transactions: int = 200,
    anchor: date = DEFAULT_ANCHOR,
    days: int = 30,
) -> SandboxStore:
    """A deterministic store with ``transactions`` invoices, and in proportion credit memos (one per
    50 invoices, at least one), one-cent invoices (one per 100, at least one), expenses and
    procurement.

    Documents are dated over the ``days`` days up to and including ``anchor`` (a few just after it,
    to show the thru date at work). The same seed always gives the same data.
    """
    world = _World(SandboxStore(), random.Random(seed), anchor, days)
    world.store.today = anchor
    _references(world, max(10, transactions // 20))
    world.purchase_orders = max(1, transactions // 5)
    for n in range(transactions):
        _invoice(world, n)
    for n in range(max(1, transactions // 10)):
        _expense(world, n)
        _expense_bill(world, n)
    for n in range(world.purchase_orders):
        _purchase(world, n)
    for n in range(max(1, transactions // 50)):
        _transfer(world, n)
    for n in range(max(1, transactions // 100)):
        _adjustment(world, n)
    # Drawn from their own random source, so the documents above are the same with or without them.
    odd = dataclasses.replace(world, rng=random.Random(f"{seed}:credit memos and cents"))
    for k in range(max(1, transactions // 50)):
        _invoice(odd, transactions + 2 * k, _CREDIT_MEMO)
    for k in range(max(1, transactions // 100)):
        _invoice(odd, transactions + 2 * k + 1, _ONE_CENT)
    return world.store


def _references(world: _World, companies: int) -> None:
    for kind, collection, rows in _fixed_records():
        world.put(kind, collection, rows)
    capacity = {"dailyCapacity": Decimal(8)}
    people = [{"id": i, "identifier": f"m{i}", **world.person(), **capacity} for i in range(1, 16)]
    world.put("members", "system/members", people)
    catalog = []
    for i in range(700, 760):
        item: Record = {"id": i, "identifier": f"SKU{i}"}
        item |= {"description": f"Catalog item {i} — {world.rng.choice(_COMPANY_WORDS)}"}
        item |= {"price": world.money(5, 500), "cost": world.money(1, 100)}
        item |= {"customerDescription": f"Item {i}"}
        catalog.append(item | {"subcategory": {"id": 20, "name": "Miscellaneous"}, "type": _HARDWARE})
    world.put("catalog", "procurement/catalog", catalog)
    site_ids, contact_ids = itertools.count(1001), itertools.count(5001)
    for i in range(1, companies + 1):
        currency = ref("finance/currencies", 1 + i % len(_CURRENCIES), "currency")
        name = f"{_COMPANY_WORDS[i % len(_COMPANY_WORDS)]} {i}"
        company: Record = {"id": i, "identifier": f"C{i:04d}", "name": name}
        company |= {"status": {"id": 1, "name": "Active"}, "accountNumber": f"ACC{i:05d}"}
        company |= {"phoneNumber": f"555-{i:04d}", "currency": currency}
        world.put("companies", "company/companies", [company])
        site: Record = {"company": {"id": i}, "city": "Tampa"}
        sites = [{"id": next(site_ids), "name": n} | site for n in ("Main", "Warehouse")]
        world.put(f"sites:{i}", SITES, sites, i)
        contact = {"id": next(contact_ids), **world.person(), "company": {"id": i}}
        world.put(f"contacts:{i}", "company/contacts", [contact])
    for i in range(1, 21):
        project = {"id": i, "name": f"Project {i}"}
        project |= {"company": ref("company/companies", 1 + i % companies, "company")}
        project |= {"status": {"id": 1, "name": "Open"}, "billingMethod": "ActualRates"}
        world.put("projects", "project/projects", [project])
    _agreements(world)


def _agreements(world: _World) -> None:
    addition_ids = itertools.count(9001)
    for i in range(1, 31):
        parties = _parties(world, world.records["companies"][i % len(world.records["companies"])])
        agreement = {"id": i, "name": f"Managed Services {i}", "type": {"id": 1, "name": "MSP"}}
        world.put("agreements", "finance/agreements", [agreement | _only(parties, "company", "contact")])
        additions = []
        for _ in range(world.rng.randint(1, 4)):
            item = world.pick("catalog")
            product = ref("procurement/catalog", item["id"], "product", identifier=item["identifier"])
            addition: Record = {"id": next(addition_ids), "product": product}
            addition |= {"quantity": Decimal(world.rng.randint(1, 20))}
            addition |= {"unitPrice": item["price"], "billCustomer": "Billable", "agreementId": i}
            additions.append(addition)
        world.put("additions", "finance/agreements/{}/additions", additions, i)


def _parties(world: _World, company: Record) -> Record:
    """A company's references, keyed by field name and by reference model."""
    cid = company["id"]
    contact, site = world.records[f"contacts:{cid}"][0], world.records[f"sites:{cid}"][0]
    name = f"{contact['firstName']} {contact['lastName']}"
    refs = {"company": ref("company/companies", cid, "company", identifier=company["name"])}
    refs |= {"site": ref(SITES.format(cid), site["id"], "site", name="Main")}
    refs |= {"contact": ref("company/contacts", contact["id"], "contact", name=name)}
    by_model = {"CompanyReference": refs["company"], "SiteReference": refs["site"]}
    by_model |= {"ContactReference": refs["contact"]}
    numbers = {"companyAccountNumber": company["accountNumber"], "taxAgencyXref": company["identifier"]}
    return refs | by_model | numbers


def _currency_ref(currency: Record, **display: Any) -> Record:
    code = currency["currencyIdentifier"]
    return ref("finance/currencies", currency["id"], "currency", currencyCode=code, **display)


def _money_context(currency: Record, tax_code: Record, terms: Record) -> Record:
    """A document's currency, tax and terms, keyed by field name and by reference model."""
    rate, code = tax_code["levelOneRate"], tax_code["identifier"]
    context: Record = {"CurrencyReference": _currency_ref(currency, name=currency["name"])}
    context |= {"TaxCodeReference": ref("finance/taxCodes", tax_code["id"], "taxCode", name=code)}
    context |= {"BillingTermsReference": _named("finance/billingTerms", terms, "billingTerms")}
    context |= {"taxCodeXref": code, "stateTaxXref": code, "taxRate": rate, "taxRatePercent": rate * 100}
    context |= {"taxGroupRate": rate, "billingTermsXref": terms["termsXref"], "dueDays": terms["dueDays"]}
    return context | {"locationXref": "DEFAULT"}


def _item_ref(item: Record, kind: str = "item", **display: Any) -> Record:
    return ref("procurement/catalog", item["id"], kind, identifier=item["identifier"], **display)


def _item_context(world: _World, item: Record, bin_: Record) -> Record:
    """A line's item and where it ships from, keyed by field name and by reference model."""
    uom = _named("procurement/unitOfMeasures", world.records["uoms"][1], "unitOfMeasure")
    context: Record = {
        "IvItemReference": _item_ref(item, serializedFlag=False),
        "UnitOfMeasureReference": uom,
    }
    context |= {"WarehouseBinReference": _named("procurement/warehouseBins", bin_, "warehouseBin")}
    shipment = _named("procurement/shipmentmethods", world.pick("shipments"), "shipmentMethod")
    context |= {"ShipmentMethodReference": shipment, "cost": item["cost"], "itemPrice": item["price"]}
    context |= {"itemCost": item["cost"], "itemDescription": item["description"]}
    return context | {"dropShippedFlag": False}


def _company_type(world: _World, vendor: bool) -> Record:
    return _named("company/companies/types", world.records["types"][int(vendor)], "companyType")


def _link_party(
    store: SandboxStore, section: str, key: str, company: int, make: Callable[[], Record]
) -> None:
    for party in store.parties:
        if party.section == section and party.body.get("company", {}).get("id") == company:
            party.document_keys.add(key)
            return
    store.parties.append(Party(section, make(), {key}))


# -- invoices -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _InvoiceKind:
    """What sets a transaction apart: its GLExport ``documentType``, its ConnectWise invoice type
    (None: by its agreement) and the sign of its lines (an invoice's revenue lines are negative)."""

    document_type: str
    invoice_type: str | None
    sign: int
    one_cent: bool = False  # one line whose unit price rounds to 0.00 yet comes to 0.01


_INVOICE = _InvoiceKind("INVOICE", None, -1)
_CREDIT_MEMO = _InvoiceKind("CREDIT MEMO", "CreditMemo", 1)
_ONE_CENT = _InvoiceKind("INVOICE", None, -1, one_cent=True)


def _invoice(world: _World, n: int, kind: _InvoiceKind = _INVOICE) -> None:
    company = world.pick("companies")
    parties = _parties(world, company)
    day, location = world.day(late=n % 20 == 7 and kind is _INVOICE), world.pick("locations")
    currency = world.records["currencies"][company["id"] % len(_CURRENCIES)]
    tax_code, terms = world.pick("taxCodes"), world.pick("terms")
    invoice_id = 10_000 + n
    agreement = world.pick("agreements") if world.rng.random() < 0.5 else None
    billing = "Agreement" if agreement else "Standard"
    # Credit-memo numbers are typed by hand, "CM" after a number: text, and not always unique.
    number = f"{world.rng.randint(100, 999)}CM" if kind is _CREDIT_MEMO else f"INV{invoice_id}"
    invoice: Record = {
        "id": invoice_id,
        "invoiceNumber": number,
        "type": kind.invoice_type or billing,
        "date": _zulu(day),
    }
    invoice |= {"company": parties["company"], "billToCompany": parties["company"]}
    invoice |= {"billingSite": parties["site"], "location": _named("system/locations", location, "location")}
    invoice |= {"territory": _named("system/locations", world.pick("locations"), "location")}
    invoice |= {"agreement": _named("finance/agreements", agreement, "agreement") if agreement else None}
    put(world.store, "finance/invoices", invoice)
    context = parties | _money_context(currency, tax_code, terms) | {"documentDate": _stamp(day)}
    context |= {"documentType": kind.document_type, "CompanyTypeReference": _company_type(world, False)}
    context |= {"dueDate": _stamp(day + timedelta(days=terms["dueDays"])), "billingType": billing}
    lines = _invoice_lines(world, context, kind)
    subtotal = -sum(line["total"] for line in lines)
    tax = (subtotal * tax_code["levelOneRate"]).quantize(CENT)
    tax_line: Record = {
        "id": next(world.gl_ids),
        "accountNumber": "2200",
        "glTypeId": "ST",
        "memo": "Sales Tax",
    }
    tax_line |= {"description": "Level 1 Sales Tax", "quantity": Decimal(0), "total": -tax}
    tax_line |= {"taxNote": "AUTOSTAX"}
    shared = _only(context, "documentDate", "documentType", "taxRate", "taxRatePercent", "locationXref")
    lines.append(_doc("GLExportTransactionDetail", shared | _only(context, "CurrencyReference"), tax_line))
    header_ids = [next(world.gl_ids) for _ in range(world.rng.randint(1, 3))]
    context |= {"salesTerritory": location["name"], "detail": lines}
    body = _invoice_header(world, n, number, context, (subtotal, tax), header_ids)
    key = f"transaction:{invoice_id}"
    unposted: Record = {"id": UNPOSTED_INVOICE_OFFSET + invoice_id, "billingLogId": invoice_id}
    unposted |= {"locationId": location["id"], "invoiceNumber": number, "invoiceType": invoice["type"]}
    unposted |= {"company": parties["company"], "invoiceDate": _zulu(day), "total": body["total"]}
    ids = set(header_ids) | {line["id"] for line in lines}
    _add(world.store, "transactions", key, body, day, ids, unposted)
    customer: Record = {"accountNumber": company["accountNumber"], "taxable": True}
    customer |= {"stateTaxRate": tax_code["levelOneRate"] * 100} | dict.fromkeys(_ZERO_RATES, Decimal(0))
    party = functools.partial(_doc, "GLExportCustomer", context, customer)
    _link_party(world.store, "customers", key, company["id"], party)


_ZERO_RATES = ("countyTaxRate", "cityTaxRate", "countryTaxRate", "compositeTaxRate")


def _invoice_lines(world: _World, context: Record, kind: _InvoiceKind) -> list[Record]:
    lines = []
    for _ in range(1 if kind.one_cent else world.rng.randint(1, 4)):
        item, quantity, amount = world.item("price", 10)
        product = ref("procurement/products", item["id"] * 10, "product", description=item["description"])
        line = context | _item_context(world, item, world.pick("bins")) | {"ProductReference": product}
        line |= {"warehouseSite": context["site"], "taxableFlag": True, "itemTypeXref": "Inventory"}
        if kind.one_cent:
            # Fractional pricing: a unit price under half a cent is 0.00 once rounded for the batch,
            # and the line still comes to a cent.
            line["itemPrice"], amount = Decimal("0.00"), CENT
        values: Record = {
            "id": next(world.gl_ids),
            "accountNumber": "4000",
            "glTypeId": "RP",
            "salesCode": "4000",
        }
        values |= {"invoiceSummaryOption": "0", "memo": world.memo(), "description": item["description"]}
        values |= {"salesDescription": item["description"]}
        values |= {"quantity": kind.sign * quantity, "total": kind.sign * amount}
        lines.append(_doc("GLExportTransactionDetail", line, values))
        record: Record = {"id": item["id"] * 10, "description": item["description"], "price": item["price"]}
        record |= {"catalogItem": _only(item, "id", "identifier"), "billableOption": "Billable"}
        put(world.store, "procurement/products", record)
    return lines


def _invoice_header(
    world: _World, n: int, number: str, context: Record, money: tuple[Decimal, Decimal], header_ids: list[int]
) -> Record:
    subtotal, tax = money
    ship = _parties(world, world.pick("companies"))
    picked = _named("project/projects", world.pick("projects"), "project")
    project = picked if world.rng.random() < 0.3 else None
    po_id = 3000 + n % world.purchase_orders
    # Every tenth invoice bills a purchase order (drop-shipped hardware).
    order = _named("procurement/purchaseorders", {"id": po_id, "name": f"PO{po_id}"}, "purchaseOrder")
    values: Record = {
        "id": 10_000 + n,
        "glTypeId": "AR",
        "documentNumber": number,
        "memo": world.memo(),
    }
    values |= {"description": "Accounts Receivable", "attention": context["contact"]["name"]}
    values |= {"emailDeliveryFlag": True, "printDeliveryFlag": False, "agreementPrePaymentFlag": False}
    values |= {"accountNumber": "1200", "glEntryIds": ",".join(str(i) for i in header_ids)}
    values |= {"project": project}
    values |= {"purchaseOrder": order if n % 10 == 3 else None, "total": subtotal + tax, "taxable": True}
    values |= {"taxableTotal": subtotal, "taxAccountNumber": "2200", "salesTax": tax, "stateTax": tax}
    values |= {"countyTax": Decimal(0), "shipToCompany": ship["company"], "shipSite": ship["site"]}
    values |= {"shipToCompanyAccountNumber": ship["companyAccountNumber"]}
    values |= {"shipContact": ship["contact"]["name"], "shipToCompanyType": context["CompanyTypeReference"]}
    return _doc("GLExportTransaction", context, values)


# -- expenses -----------------------------------------------------------------------------------
def _member_ref(member: Record, *, named: bool = True) -> Record:
    name = {"name": f"{member['firstName']} {member['lastName']}"} if named else {}
    return ref("system/members", member["id"], "member", identifier=member["identifier"], **name)


def _expense(world: _World, n: int) -> None:
    member = _member_ref(world.pick("members"))
    company = world.pick("companies")
    day, location, amount = world.day(), world.pick("locations"), world.money(5, 400)
    currency = world.pick("currencies")
    entry_id, expense_id = 70_000 + n, next(world.gl_ids)
    entry: Record = {"id": entry_id, "type": {"id": 1, "name": "Travel"}, "member": member, "amount": amount}
    put(world.store, "expense/entries", entry | {"date": _zulu(day), "notes": world.memo()})
    context: Record = {"documentDate": _stamp(day), "documentType": "EXPENSE", "MemberReference": member}
    context |= {"CurrencyReference": _currency_ref(currency)}
    context |= {"ProjectReference": _named("project/projects", world.pick("projects"), "project")}
    offset: Record = {"id": next(world.gl_ids), "accountNumber": "2000", "glTypeId": "EO", "total": -amount}
    offset = _doc("GLExportExpenseOffset", context, offset)
    values: Record = {"id": expense_id, "apAccountNumber": "2000", "accountNumber": "6100", "glTypeId": "EE"}
    values |= {"memo": world.memo(), "description": "Non-reimbursable expense", "total": amount}
    values |= {"periodStartDate": _stamp(day), "periodEndDate": _stamp(day), "offset": offset}
    context |= _only(_parties(world, company), "company", "companyAccountNumber")
    body = _doc("GLExportExpense", context, values)
    unposted: Record = {"id": expense_id, "locationId": location["id"], "member": member, "total": amount}
    unposted |= {"expenseDetailId": entry_id, "dateExpense": _zulu(day)}
    _add(world.store, "expenses", f"expense:{expense_id}", body, day, {expense_id, offset["id"]}, unposted)


def _expense_bill(world: _World, n: int) -> None:
    member = _member_ref(world.pick("members"), named=False)
    day, location, currency = world.day(), world.pick("locations"), world.pick("currencies")
    context: Record = {"documentDate": _stamp(day), "MemberReference": member}
    context |= {"CurrencyReference": _currency_ref(currency)}
    details, total = [], Decimal(0)
    for k in range(world.rng.randint(1, 3)):
        amount = world.money(10, 300)
        total += amount
        entry_id = 80_000 + n * 10 + k
        # GLExport gives a bill line no project; its expense entries carry it.
        project = _named("project/projects", world.pick("projects"), "project")
        entry: Record = {"id": entry_id, "chargeToId": project["id"], "chargeToType": "ProjectTicket"}
        entry |= {"amount": amount, "type": {"id": 1, "name": "Travel"}, "member": member, "date": _zulu(day)}
        entry |= {"project": project}
        put(world.store, "expense/entries", entry)
        line = context | _only(_parties(world, world.pick("companies")), "company")
        line |= {"expenseClass": _named("expense/classifications", world.pick("classes"), "expenseClass")}
        values: Record = {"id": [entry_id], "glTypeId": "EE", "memo": world.memo(), "accountNumber": "6200"}
        values |= {"total": amount, "billable": world.rng.random() < 0.5, "reimbursable": True}
        values |= {"companyAdvance": False}
        details.append(_doc("GLExportExpenseBillDetail", line, values))
    bill_id = 60_000 + n
    values = {"id": bill_id, "documentType": "BILL", "documentNumber": f"EXP{bill_id}", "memo": world.memo()}
    values |= {"apAccountNumber": "2000", "total": total, "detail": details}
    body = _doc("GLExportExpenseBill", context, values)
    unposted: Record = {"id": bill_id, "locationId": location["id"], "member": member, "total": total}
    unposted |= {"dateExpense": _zulu(day)}
    ids = {i for d in details for i in d["id"]}
    _add(world.store, "expenseBills", f"expenseBill:{bill_id}", body, day, ids, unposted)


# -- procurement --------------------------------------------------------------------------------
def _purchase(world: _World, n: int) -> None:
    vendor = world.pick("companies")
    parties = _parties(world, vendor)
    day, location = world.day(), world.pick("locations")
    po_id, tax_code, terms = 3000 + n, world.pick("taxCodes"), world.records["terms"][0]
    po_number = f"PO{po_id}"
    context = parties | _money_context(world.records["currencies"][0], tax_code, terms)
    context |= {"documentDate": _stamp(day), "CompanyTypeReference": _company_type(world, True)}
    context |= {"warehouseSite": parties["site"], "shipToCompany": parties["company"]}
    context |= {"shipToContact": parties["contact"], "shipToSite": parties["site"]}
    context["CurrencyReference"] = ref("finance/currencies", 1, "currency", currencyCode="USD")
    order: Record = {"id": po_id, "locationId": location["id"]}
    order |= {"location": _named("system/locations", location, "location")}
    order |= {"poNumber": po_number, "status": {"id": 2, "name": "Closed"}}
    order |= {"taxCode": context["TaxCodeReference"]}
    order |= {"terms": context["BillingTermsReference"], "vendorCompany": parties["company"]}
    put(world.store, "procurement/purchaseorders", order)
    lines = _purchase_lines(world, context, po_id)
    subtotal = -sum(line["total"] for line in lines)
    tax = (subtotal * tax_code["levelOneRate"]).quantize(CENT)
    tax_lines = [_purchase_tax_line(world, context, tax)] if tax else []
    values: Record = {"id": f"PO #{po_number}, Packing Slip: PS{po_id}", "documentNumber": po_number}
    values |= {"description": "Purchase", "memo": world.memo(), "apAccountNumber": "2000"}
    values |= {"total": subtotal + tax}
    values |= {"purchaseDate": _stamp(day), "freightAmount": Decimal(0), "packingSlip": f"PS{po_id}"}
    values |= {"vendorInvoiceNumber": f"VINV{po_id}", "vendorInvoiceDate": _stamp(day)}
    values |= {"purchaseDetail": lines, "purchaseDetailTax": tax_lines}
    body = _doc("GLExportPurchaseTransaction", context, values)
    key = f"purchase:{po_number}"
    unposted: Record = {"id": po_id, "unpostedProductId": str(po_id), "locationId": location["id"]}
    unposted |= {"total": body["total"]}
    unposted |= {"purchaseOrder": {"id": po_id, "name": po_number}, "purchaseDate": _zulu(day)}
    _add(world.store, "purchaseTransactions", key, body, day, {d["id"] for d in lines + tax_lines}, unposted)
    row: Record = {"vendor": parties["company"], "accountNumber": vendor["accountNumber"]}
    row["member"] = _member_ref(world.records["members"][0], named=False)
    _link_party(world.store, "vendors", key, vendor["id"], lambda: _doc("GLExportVendor", context, row))


def _purchase_lines(world: _World, context: Record, po_id: int) -> list[Record]:
    lines = []
    for line_no in range(1, world.rng.randint(2, 4)):
        item, quantity, amount = world.item("cost", 50)
        bin_ = world.pick("bins")
        line = context | _item_context(world, item, bin_)
        warehouse = _named("procurement/warehouses", world.records["warehouses"][bin_["id"] % 2], "warehouse")
        record: Record = {
            "id": po_id * 10 + line_no,
            "description": item["description"],
            "lineNumber": line_no,
        }
        record |= {"product": _item_ref(item, "product"), "purchaseOrderId": po_id, "quantity": quantity}
        record |= {"unitCost": item["cost"], "unitOfMeasure": line["UnitOfMeasureReference"]}
        record |= {"warehouse": warehouse, "warehouseBin": line["WarehouseBinReference"]}
        record |= {"shipmentMethod": line["ShipmentMethodReference"]}
        put(world.store, "procurement/purchaseorders/{}/lineitems", record, po_id)
        values: Record = {"id": next(world.gl_ids), "glTypeId": "RP", "glItemId": item["identifier"]}
        values |= {"lineNumber": line_no}
        values |= {"description": "Purchase", "memo": item["description"], "accountNumber": "1300"}
        values |= {"taxable": True, "quantity": -quantity, "total": -amount}
        lines.append(_doc("GLExportPurchaseTransactionDetail", line, values))
    return lines


def _purchase_tax_line(world: _World, context: Record, tax: Decimal) -> Record:
    values: Record = {
        "id": next(world.gl_ids),
        "accountNumber": "2210",
        "glTypeId": "PT",
        "memo": "Purchase tax",
    }
    values |= {"total": -tax, "quantity": Decimal(0), "lineNumber": 99}
    values["warehouseBin"] = _named("procurement/warehouseBins", world.records["bins"][0], "warehouseBin")
    shared = _only(context, "documentDate", "taxRate", "taxRatePercent")
    return _doc("GLExportPurchaseTransactionDetailTax", shared, values)


# -- inventory ----------------------------------------------------------------------------------
def _transfer(world: _World, n: int) -> None:
    day, item, location = world.day(), world.pick("catalog"), world.pick("locations")
    quantity = Decimal(world.rng.randint(1, 10))
    cost = (item["cost"] * quantity).quantize(CENT)
    pair = world.rng.sample(world.records["bins"], 2)
    bins = [_named("procurement/warehouseBins", b, "warehouseBin") for b in pair]
    context: Record = {"documentType": "TRANSFER", "documentDate": _stamp(day), "accountNumber": "1300"}
    context |= {"glTypeId": "IT"}
    offset = _doc("GLExportInventoryTransferOffset", context, {"id": next(world.gl_ids), "total": -cost})
    values: Record = {"id": f"TR #{n + 1}", "description": "Inventory transfer", "memo": world.memo()}
    values |= {"transferId": next(world.gl_ids), "item": _item_ref(item, serializedFlag=False)}
    values |= {"currency": ref("finance/currencies", 1, "currency", currencyCode="USD"), "quantity": quantity}
    values |= {"cost": item["cost"], "total": cost, "bin": bins[0], "transferFromBin": bins[0]}
    warehouse = _named("procurement/warehouses", world.records["warehouses"][0], "warehouse")
    values |= {"transferToBin": bins[1], "warehouse": warehouse, "offset": offset}
    body = _doc("GLExportInventoryTransfer", context, values)
    unposted: Record = {
        "id": values["transferId"],
        "unpostedProductId": str(values["transferId"]),
        "total": cost,
    }
    unposted["locationId"] = location["id"]
    ids = {values["transferId"], offset["id"]}
    _add(world.store, "inventoryTransfers", f"transfer:{n + 1}", body, day, ids, unposted)


def _adjustment(world: _World, n: int) -> None:
    """An inventory adjustment. GLExport gives adjustments no numeric GL entry id, so no batch can
    mark them exported; the sandbox keeps them unposted for ever (see docs/design.md, "Known gaps")."""
    day, location = world.day(), world.pick("locations")
    lines = []
    for _ in range(world.rng.randint(1, 3)):
        item = world.pick("catalog")
        quantity = world.rng.randint(-5, 5) or 1
        line: Record = {"description": "Stock count", "memo": world.memo(), "item": _item_ref(item)}
        line |= {"quantity": quantity}
        line |= {"total": (item["cost"] * quantity).quantize(CENT), "cost": item["cost"]}
        line |= {"accountNumber": "1300"}
        lines.append(catalogue.document("GLExportAdjustmentTransactionDetail", line))
    header: Record = {"id": f"ADJ #{n + 1}", "documentType": "ADJUSTMENT", "documentDate": _stamp(day)}
    header |= {"glTypeID": "IA", "accountNumber": "1300", "adjustmentDescription": "Stock count correction"}
    header |= {"adjustmentDetail": lines}
    body = catalogue.document("GLExportAdjustmentTransaction", header)
    unposted: Record = {"id": 90_000 + n, "unpostedProductId": str(90_000 + n), "locationId": location["id"]}
    key = f"adjustment:{n + 1}"
    _add(world.store, "adjustmentTransactions", key, body, day, (), unposted)
