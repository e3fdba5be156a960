"""Planning: each path (``transaction/invoice/agreement``) as a chain of ``Node`` steps under its
anchor (the root item or detail line it starts from), paths sharing a prefix sharing its steps;
and the tables they are read with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_cwgl.glexport import schema

SITES = "company/companies/{}/sites"

# Reference field -> the list endpoint of its record, used when the reference has no _info href.
FIELD_ENDPOINTS: dict[str, str] = {
    name: endpoint
    for endpoint, names in {
        "system/members": "member",
        "company/companies": "vendor company billToCompany shipToCompany",
        "company/companies/types": "companyType shipCompanyType shipToCompanyType",
        "company/contacts": "contact shipContact shipToContact",
        SITES: "site shipSite shipToSite billToSite warehouseSite",
        "finance/billingTerms": "billingTerms",
        "finance/taxCodes": "taxCode",
        "finance/currencies": "currency",
        "project/projects": "project",
        "procurement/purchaseorders": "purchaseOrder",
        "procurement/catalog": "item",
        "procurement/products": "product",
        "procurement/warehouses": "warehouse",
        "procurement/warehouseBins": "warehouseBin bin transferFromBin transferToBin",
        "procurement/shipmentmethods": "shipmentMethod",
        "expense/classifications": "expenseClass",
        "system/locations": "location territory",
        "finance/agreements": "agreement",
    }.items()
    for name in names.split()
}

# The record a reference lives in depends on the reference's type, not only its name: an agreement
# addition's and a purchase order line's ``product`` are IvItemReference (catalog items), while a
# GLExport transaction line's ``product`` is a ProductReference. (parent step, field) -> endpoint.
CONTEXT_ENDPOINTS: dict[tuple[str, str], str] = {
    ("agreementAdditions", "product"): "procurement/catalog",
    ("purchaseOrderItems", "product"): "procurement/catalog",
}

# Paths GLExport does not carry, read from a record that does: (root, container, spec name) ->
# (derived step, field of the derived record). ConnectWise's Invoice calls the bill-to site
# ``billingSite`` (only UnpostedInvoice says ``billToSite``); an expense bill line has no project in
# API 2025.1, its expense entries do.
VIA: dict[tuple[str, tuple[str, ...], str], tuple[str, str]] = {
    ("transaction", (), "billToCompany"): ("invoice", "billToCompany"),
    ("transaction", (), "billToSite"): ("invoice", "billingSite"),
    ("expenseBill", ("detail", "detailItem"), "project"): ("expenseEntry", "project"),
}

# A site's company, when the site reference has no href: the sibling company reference.
SITE_COMPANY_FIELD = {
    "site": "company",
    "shipSite": "shipToCompany",
    "shipToSite": "shipToCompany",
    "billToSite": "billToCompany",
    "warehouseSite": "company",
}

# Field names that differ between API versions: either spelling is looked up.
FIELD_ALIASES = {
    "shipCompanyType": ("shipCompanyType", "shipToCompanyType"),
    "shipToCompanyType": ("shipToCompanyType", "shipCompanyType"),
}

# Spec path segments naming a collection item -> the element path of that item in GLExport.
CONTAINERS = {
    ("transaction", "detail", "detailItem"): ("detail", "detailItem"),
    ("expenseBill", "detailItem"): ("detail", "detailItem"),
    ("purchaseTransaction", "purchaseDetailItem"): ("purchaseDetail", "purchaseDetailItem"),
    ("purchaseTransaction", "purchaseDetailTaxItem"): ("purchaseDetailTax", "purchaseDetailTaxItem"),
    ("adjustmentTransaction", "adjustmentDetailItem"): ("adjustmentDetail", "adjustmentDetailItem"),
}

# Sub-collections: spec name -> (item name in paths and XML, endpoint template listing them per parent).
SUB_COLLECTIONS = {
    "agreementAdditions": ("agreementAddition", "finance/agreements/{}/additions"),
    "purchaseOrderItems": ("purchaseOrderItem", "procurement/purchaseorders/{}/lineitems"),
}
_ITEM_TO_COLLECTION = {item: name for name, (item, _) in SUB_COLLECTIONS.items()}
CONTAINER_PATHS = set(CONTAINERS.values())


class NodeKind(enum.Enum):
    """How a step finds its records."""

    ANCHOR = "anchor"  # the root of a tree: the item or detail line the paths start from
    REF = "ref"  # a reference field of the object (``company``): its ``_info`` href or the table
    VIA = "via"  # a reference field read from a derived record, written on the anchor
    INVOICE = "invoice"  # a transaction's invoice: by the transaction's id, else its documentNumber
    PURCHASE_ORDER = "purchaseOrder"  # a purchase's order: by poNumber = its documentNumber
    EXPENSE_ENTRY = "expenseEntry"  # an expense bill line's entries: by the line's id list
    COLLECTION = "collection"  # a sub-collection listed per parent (agreement additions, PO lines)


# First steps that find a record GLExport does not reference, from the anchor, not a field:
# (root, container, spec name) -> how.
DERIVED: dict[tuple[str, tuple[str, ...], str], NodeKind] = {
    ("transaction", (), "invoice"): NodeKind.INVOICE,
    ("purchaseTransaction", (), "purchaseOrder"): NodeKind.PURCHASE_ORDER,
    ("expenseBill", ("detail", "detailItem"), "expenseEntry"): NodeKind.EXPENSE_ENTRY,
}
DERIVED_KINDS = frozenset(DERIVED.values())


@dataclass(eq=False)
class Node:
    """One step of a reference path."""

    name: str  # the spec's name, and the element the record is written in
    kind: NodeKind
    emit: bool = True  # False: fetched only because a deeper path needs it
    children: dict[str, Node] = field(default_factory=dict)
    path: str = ""  # the spec path ending at this step
    source: str = ""  # the field read (a VIA step reads it from a derived record)
    endpoint: str | None = None  # where the record lives when the reference has no href
    model: str | None = None  # the GLExport model a first step reads from

    def child(self, name: str, kind: NodeKind, emit: bool = True, **attrs: Any) -> Node:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Node(name, kind, emit, **attrs)
            node.source = node.source or name
            node.endpoint = (
                node.endpoint or CONTEXT_ENDPOINTS.get((self.name, name)) or FIELD_ENDPOINTS.get(name)
            )
        node.emit = node.emit or emit
        return node


Anchor = tuple[str, tuple[str, ...]]  # (root item tag, container element path)


class ReferencePlan:
    """The requested paths as trees, one per (root item, container) anchor."""

    def __init__(self, paths: Iterable[str]) -> None:
        # anchor -> root node whose children are the first steps
        self.anchors: dict[Anchor, Node] = {}
        self.paths = tuple(paths)
        for path in self.paths:
            self._add(path)

    def _add(self, path: str) -> None:
        parts = path.split("/")
        root, rest = parts[0], parts[1:]
        container: tuple[str, ...] = ()
        for length in (2, 1):
            spec = (root, *rest[:length])
            if spec in CONTAINERS:
                container, rest = CONTAINERS[spec], rest[length:]
                break
        anchor = self.anchors.setdefault((root, container), Node(root, NodeKind.ANCHOR))
        model = glexport_model(root, container)
        node = anchor
        first = True
        while rest:
            name, rest = rest[0], rest[1:]
            at = "/".join(parts[: len(parts) - len(rest)])
            if name in _ITEM_TO_COLLECTION:
                # ".../agreementAdditions/agreementAddition/x" steps into each item; a bare
                # ".../purchaseOrderItem/x" implies its collection ("purchaseOrderItems").
                if node.name != _ITEM_TO_COLLECTION[name]:
                    node = node.child(_ITEM_TO_COLLECTION[name], NodeKind.COLLECTION)
                continue
            if name in SUB_COLLECTIONS:
                kind = NodeKind.COLLECTION
            elif first and (root, container, name) in DERIVED:
                kind = DERIVED[(root, container, name)]
            elif first and (root, container, name) in VIA:
                # Found on a derived record (the invoice, the expense entries); written here.
                via, source = VIA[(root, container, name)]
                derived = node.child(via, NodeKind(via), emit=False, path=f"{at.rsplit('/', 1)[0]}/{via}")
                node = derived.child(name, NodeKind.VIA, path=at, source=source)
                first = False
                continue
            else:
                kind = NodeKind.REF
            # A parent of a nested path is written too, holding it.
            is_first_ref = first and kind is NodeKind.REF
            node = node.child(name, kind, path=at, model=model if is_first_ref else None)
            first = False

    def steps(self) -> Iterator[Node]:
        """Every step of every tree (anchors included), parents before children."""
        return _walk(self.anchors.values())


def _walk(nodes: Iterable[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from _walk(node.children.values())


def glexport_model(root: str, container: tuple[str, ...]) -> str | None:
    """The GLExport model of an anchor's objects: ``("transaction", ("detail", "detailItem"))`` ->
    ``GLExportTransactionDetail``."""
    collection = next((c for c, item in schema.ROOT_COLLECTIONS.items() if item == root), None)
    spec = schema.field("GLExport", collection) if collection else None
    model = spec.model if spec else None
    if container and model:
        spec = schema.field(model, container[0])
        model = spec.model if spec else None
    return model
