"""References To Fetch: fetch the ConnectWise records an export refers to and put them in place.

A fetched record is written inside the reference element it belongs to, as ``<record>``, after the
reference's own fields. Nested paths expand inside the parent's record; a sub-collection
(``agreementAdditions``, ``purchaseOrderItems``) is added to its parent record as a plural element.

How it works, for speed:
1. ``collect``: one pass over the export JSON notes every distinct record wanted (ids only).
2. ``fetch``: breadth-first rounds, one per nesting depth. In a round every endpoint is asked at
   once (bounded by ``concurrency``), each for many ids with ``conditions=id in (...)``, chunked so
   no URL exceeds ConnectWise's 2,000 characters. Each distinct record is fetched once per run.
3. ``extra_children`` (the XML writer's ``Expander``): hands each reference its record.

An item without the reference a path reads is counted per path (``skipped_by_path``, debug log); a
path whose field the API's GLExport model does not have as a reference (API 2025.1 has no
``inventoryTransfer/taxCode``, for one) and which no item carried gets one warning per run. A record
that no longer exists leaves its reference as it was and is counted and logged as a warning.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import pickle
import re
import sys
import threading
import time
import zlib
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote_plus

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseError
from airflow_provider_cwgl.connectwise.client import MAX_PAGE_SIZE, path_of
from airflow_provider_cwgl.connectwise.conditions import condition_literal
from airflow_provider_cwgl.errors import CwglError, SettingError
from airflow_provider_cwgl.glexport import schema
from airflow_provider_cwgl.glexport.schema import is_record_id
from airflow_provider_cwgl.glexport.xml_writer import iter_root

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2000
PROGRESS_SECONDS = 10.0  # a long round logs how far it got at most this often
SITES = "company/companies/{}/sites"

# Reference field -> the list endpoint of its record, used when the reference has no _info href.
FIELD_ENDPOINTS: dict[str, str] = {
    "member": "system/members",
    "vendor": "company/companies",
    "company": "company/companies",
    "billToCompany": "company/companies",
    "shipToCompany": "company/companies",
    "companyType": "company/companies/types",
    "shipCompanyType": "company/companies/types",
    "shipToCompanyType": "company/companies/types",
    "contact": "company/contacts",
    "shipContact": "company/contacts",
    "shipToContact": "company/contacts",
    "site": SITES,
    "shipSite": SITES,
    "shipToSite": SITES,
    "billToSite": SITES,
    "warehouseSite": SITES,
    "billingTerms": "finance/billingTerms",
    "taxCode": "finance/taxCodes",
    "currency": "finance/currencies",
    "project": "project/projects",
    "purchaseOrder": "procurement/purchaseorders",
    "item": "procurement/catalog",
    "product": "procurement/products",
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

Key = tuple[Any, ...]


class ReferenceValueTooLongError(CwglError, ValueError):
    """A value to look a reference up by (a document number) is so long that a request asking for
    it alone would pass ConnectWise's URL limit. ``permanent``: the same records would fail the
    same way on the next try."""


@dataclass(eq=False)
class Node:
    """One step of a reference path: a field reference, a derived link or a sub-collection."""

    name: str  # the spec's name, and the element the record is written in
    kind: str  # "anchor" | "ref" | "invoice" | "via" | "purchaseOrder" | "expenseEntry" | "collection"
    emit: bool = True  # False: fetched only because a deeper path needs it
    children: dict[str, Node] = field(default_factory=dict)
    path: str = ""  # the spec path ending at this step
    source: str = ""  # the field read (a "via" step reads it from a derived record)
    endpoint: str | None = None  # where the record lives when the reference has no href
    model: str | None = None  # the GLExport model a first step reads from

    def child(self, name: str, kind: str, emit: bool = True, **attrs: Any) -> Node:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Node(name, kind, emit, **attrs)
            node.source = node.source or name
            node.endpoint = (
                node.endpoint or CONTEXT_ENDPOINTS.get((self.name, name)) or FIELD_ENDPOINTS.get(name)
            )
        node.emit = node.emit or emit
        return node


class ReferencePlan:
    """The requested paths as trees, one per (root item, container) anchor."""

    def __init__(self, paths: Iterable[str]) -> None:
        # (root item tag, container element path) -> root node whose children are the first steps
        self.anchors: dict[tuple[str, tuple[str, ...]], Node] = {}
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
        anchor = self.anchors.setdefault((root, container), Node(root, "anchor"))
        model = _glexport_model(root, container)
        node = anchor
        first = True
        while rest:
            name, rest = rest[0], rest[1:]
            at = "/".join(parts[: len(parts) - len(rest)])
            if name in _ITEM_TO_COLLECTION:
                # ".../agreementAdditions/agreementAddition/x" steps into each item; a bare
                # ".../purchaseOrderItem/x" implies its collection ("purchaseOrderItems").
                if node.name != _ITEM_TO_COLLECTION[name]:
                    node = node.child(_ITEM_TO_COLLECTION[name], "collection")
                continue
            if name in SUB_COLLECTIONS:
                kind = "collection"
            elif first and (root, name) == ("transaction", "invoice"):
                kind = "invoice"
            elif first and (root, container, name) in VIA:
                # Found on a derived record (the invoice, the expense entries); written here.
                via, source = VIA[(root, container, name)]
                derived = node.child(via, via, emit=False, path=f"{at.rsplit('/', 1)[0]}/{via}")
                node = derived.child(name, "via", path=at, source=source)
                first = False
                continue
            elif first and (root, name) == ("purchaseTransaction", "purchaseOrder"):
                kind = "purchaseOrder"
            elif first and (root, container, name) == (
                "expenseBill",
                ("detail", "detailItem"),
                "expenseEntry",
            ):
                kind = "expenseEntry"
            else:
                kind = "ref"
            # A parent of a nested path is written too, holding it.
            node = node.child(name, kind, path=at, model=model if first and kind == "ref" else None)
            first = False


class _RecordCache:
    """Fetched records by key, kept pickled and zlib-compressed (about 1 KB a record instead of
    several as dicts): a large export can reference one record per transaction (its invoice).
    The most recently used ``hot`` records stay decoded, so a record used again and again (a
    company) is the same object each time and the writer reuses its XML.
    """

    def __init__(self, hot: int = 1024) -> None:
        self._packed: dict[Key, bytes | None] = {}  # None: asked for, not found
        self._hot: OrderedDict[Key, Any] = OrderedDict()
        self.hot_size = hot
        self.packed_bytes = 0

    def __contains__(self, key: Key) -> bool:
        return key in self._packed

    def __len__(self) -> int:
        return len(self._packed)

    def get(self, key: Key) -> Any:
        value = self._hot.get(key)
        if value is not None:
            self._hot.move_to_end(key)
            return value
        packed = self._packed.get(key)
        if packed is None:
            return None
        value = pickle.loads(zlib.decompress(packed))
        self._hot[key] = value
        if len(self._hot) > self.hot_size:
            self._hot.popitem(last=False)
        return value

    def update(self, found: dict[Key, Any]) -> None:
        for key, value in found.items():
            packed = None if value is None else zlib.compress(pickle.dumps(value, protocol=5), 1)
            self.packed_bytes += len(packed or b"") - len(self._packed.get(key) or b"")
            self._packed[key] = packed
            self._hot.pop(key, None)

    def setdefault(self, key: Key, default: None = None) -> None:
        self._packed.setdefault(key, default)

    def found(self) -> int:
        return sum(1 for packed in self._packed.values() if packed is not None)


@dataclass(frozen=True)
class _Request:
    """One list request: ``path`` filtered by ``field in (...)`` the keys' values (None: list all)."""

    path: str
    field: str | None
    keys: list[Key]


@dataclass
class _Stats:
    requests: int = 0
    rounds: int = 0
    missing: set[Key] = field(default_factory=set)
    skipped: int = 0
    skipped_by_path: Counter[str] = field(default_factory=Counter)
    fetchable_paths: set[str] = field(default_factory=set)


class ReferenceResolver:
    """Collects, fetches and hands out referenced records for one export."""

    def __init__(self, client: ConnectWiseClient, paths: Iterable[str], *, concurrency: int = 8) -> None:
        if concurrency < 1:
            raise SettingError("reference_concurrency", f"expected an integer >= 1, got {concurrency!r}")
        self.client = client
        self.plan = ReferencePlan(paths)
        self.concurrency = concurrency
        self.cache = _RecordCache()
        # Element paths that can take extra children: anchors (items, detail lines) and their fields.
        self._anchor_paths = {(root, *container) for root, container in self.plan.anchors}
        self._hooks: dict[tuple[str, ...], tuple[list[Node], list[Node]]] = {}
        self._by_root: dict[str, list[tuple[tuple[str, ...], Node]]] = defaultdict(list)
        for (root, container), anchor in self.plan.anchors.items():
            self._by_root[root].append((container, anchor))
        self._pending: dict[Key, None] = {}
        self._frontier: dict[tuple[int, Key], tuple[Node, Key]] = {}
        self._fallback: dict[Key, Key] = {}
        self._expanded: OrderedDict[tuple[int, int], tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = _Stats()

    # -- 1. collect ------------------------------------------------------------------------------
    def collect(self, source: IO[bytes]) -> None:
        """Note the records wanted by every item of the export in ``source``."""
        if not self.plan.anchors:
            return
        for collection, item, is_item in iter_root(source):
            if is_item:
                self.collect_item(collection, item)

    def collect_item(self, collection: str, item: dict[str, Any]) -> None:
        """Note the records one root item wants (the exporter calls this while it checks the body)."""
        for container, anchor in self._by_root.get(schema.item_name(collection), ()):
            for obj in _objects_at(item, container):
                for node in anchor.children.values():
                    self._want(node, obj)

    @property
    def anchor_paths(self) -> set[tuple[str, ...]]:
        """The writer's hint: records are added only to objects at these paths and their fields."""
        return self._anchor_paths

    def _want(self, node: Node, obj: dict[str, Any]) -> None:
        for key in self._keys(node, obj):
            if key not in self.cache:
                self._pending[key] = None
            self._frontier[(id(node), key)] = (node, key)

    def _keys(self, node: Node, obj: dict[str, Any]) -> list[Key]:
        """The records ``node`` needs from ``obj`` (an item or a fetched record)."""
        if node.kind in ("ref", "via"):
            ref = _field(obj, node.source)
            key = _ref_key(node, ref, obj) if isinstance(ref, dict) else None
            if key is None:
                self._skip(node, obj)
                return []
            if node.model is not None:
                self.stats.fetchable_paths.add(node.path)
            return [key]
        if node.kind == "invoice":
            txn_id, number = obj.get("id"), obj.get("documentNumber")
            if not is_record_id(txn_id) and not number:
                self._skip(node, obj)
                return []
            if is_record_id(txn_id):
                primary = ("get", "finance/invoices", txn_id)
                if number:
                    self._fallback[primary] = ("number", "finance/invoices", "invoiceNumber", str(number))
                return [primary]
            return [("number", "finance/invoices", "invoiceNumber", str(number))]
        if node.kind == "purchaseOrder":
            number = obj.get("documentNumber")
            if not number:
                self._skip(node, obj)
                return []
            return [("number", "procurement/purchaseorders", "poNumber", str(number))]
        if node.kind == "expenseEntry":
            ids = obj.get("id")
            ids = ids if isinstance(ids, list) else [ids]
            return [("get", "expense/entries", i) for i in ids if is_record_id(i)]
        if node.kind == "collection":
            parent = obj.get("id")
            if not is_record_id(parent):
                self._skip(node, obj)
                return []
            return [("children", SUB_COLLECTIONS[node.name][1], parent)]
        raise AssertionError(node.kind)

    def _skip(self, node: Node, obj: dict[str, Any]) -> None:
        self.stats.skipped += 1
        self.stats.skipped_by_path[node.path] += 1
        log.debug("No %s to fetch on %s %s: the data lacks it", node.path, type(obj).__name__, obj.get("id"))

    def _warn_absent_fields(self) -> None:
        """One warning per path whose field the API's GLExport model does not have (as a reference)
        and which no item carried: asked for, but there is nothing to fetch it from."""
        version = getattr(getattr(self.client, "settings", None), "api_version", None) or schema.API_VERSION
        for node in _walk(self.plan.anchors.values()):
            if node.model is None or node.path not in self.stats.skipped_by_path:
                continue
            aliases = FIELD_ALIASES.get(node.source, (node.source,))
            if any(getattr(schema.field(node.model, alias), "model", None) for alias in aliases):
                continue  # the model has it: items without one simply have none
            if node.path in self.stats.fetchable_paths:
                continue  # this tenant's data carries it after all
            log.warning(
                "References To Fetch: %s: field not present in API %s data (%s has no %r reference);"
                " skipped on %d item(s)",
                node.path,
                version,
                node.model,
                node.source,
                self.stats.skipped_by_path[node.path],
            )

    # -- 2. fetch --------------------------------------------------------------------------------
    def fetch(self) -> None:
        """Fetch everything collected, one round per nesting depth."""
        self._warn_absent_fields()
        _limit_malloc_arenas()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="cw-refs") as pool:
            while self._pending:
                self.stats.rounds += 1
                pending, self._pending = list(self._pending), {}
                units = self._plan_requests(pending)
                log.info(
                    "References round %d: %d records in %d requests",
                    self.stats.rounds,
                    len(pending),
                    len(units),
                )
                # At most two results per worker wait to be stored, so the decoded results of a
                # large round never pile up in memory.
                window: deque[Future[dict[Key, Any]]] = deque()
                done = 0
                last = time.monotonic()
                for unit in [*units, None]:
                    if unit is not None:
                        window.append(pool.submit(self._run_unit, unit))
                    while window and (unit is None or len(window) >= 2 * self.concurrency):
                        self.cache.update(window.popleft().result())
                        done += 1
                        if time.monotonic() - last >= PROGRESS_SECONDS:
                            last = time.monotonic()
                            log.info(
                                "References round %d: %d of %d requests done",
                                self.stats.rounds,
                                done,
                                len(units),
                            )
                for key in pending:
                    self.cache.setdefault(key, None)
                log.info(
                    "References round %d done: %d records kept so far (%.1f MiB compressed)",
                    self.stats.rounds,
                    self.cache.found(),
                    self.cache.packed_bytes / 2**20,
                )
                self._advance()
        if self.stats.missing:
            sample = ", ".join(f"{k[1]} {k[-1]}" for k in sorted(self.stats.missing, key=str)[:10])
            log.warning(
                "%d referenced record(s) no longer exist in ConnectWise and were left as plain references: %s",
                len(self.stats.missing),
                sample,
            )

    def _advance(self) -> None:
        """After a round: queue fallbacks for what was missing and the next depth's records."""
        frontier, self._frontier = list(self._frontier.values()), {}
        for node, key in frontier:
            record = self.cache.get(key)
            if record is None and key in self._fallback:
                fallback = self._fallback[key]
                if fallback not in self.cache:
                    self._pending[fallback] = None
                self._frontier[(id(node), fallback)] = (node, fallback)
                continue
            if record is None:
                self.stats.missing.add(key)
                continue
            # A sub-collection's record is its list of items; its children apply to each item.
            for obj in record if isinstance(record, list) else [record]:
                for child in node.children.values():
                    self._want(child, obj)

    def _plan_requests(self, keys: list[Key]) -> list[_Request]:
        """Group keys into requests: one per sub-collection parent, else ``field in (...)`` chunks."""
        by_list: dict[tuple[str, str], dict[str, Key]] = defaultdict(dict)
        requests: list[_Request] = []
        for key in keys:
            if key[0] == "children":
                requests.append(_Request(key[1].format(key[2]), None, [key]))
                continue
            if key[0] == "get":
                path, field_name = key[1], "id"
            elif key[0] == "site":
                path, field_name = SITES.format(key[1]), "id"
            else:  # ("number", endpoint, field, value)
                path, field_name = key[1], key[2]
            by_list[(path, field_name)][condition_literal(key[-1])] = key
        for (path, field_name), by_value in by_list.items():
            for chunk in chunk_values(self.client.base_url + path, field_name, list(by_value)):
                requests.append(_Request(path, field_name, [by_value[value] for value in chunk]))
        return requests

    def _run_unit(self, request: _Request) -> dict[Key, Any]:
        found: dict[Key, Any] = {}
        try:
            if request.field is None:  # a sub-collection listed per parent
                found[request.keys[0]] = self._list(request.path, None)
                return found
            wanted = {condition_literal(k[-1]): k for k in request.keys}
            conditions = f"{request.field} in ({','.join(wanted)})"
            for record in self._list(request.path, conditions):
                key = wanted.get(condition_literal(record.get(request.field)))
                if key is not None and key not in found:
                    found[key] = record
        except ConnectWiseError as exc:
            if exc.status != 404:  # a parent that no longer exists: its children are missing
                raise
        return found

    def _list(self, path: str, conditions: str | None) -> list[dict[str, Any]]:
        records = list(self.client.list(path, conditions=conditions, page_size=MAX_PAGE_SIZE))
        with self._lock:
            self.stats.requests += max(1, -(-len(records) // MAX_PAGE_SIZE))
        return records

    # -- 3. write --------------------------------------------------------------------------------
    def extra_children(
        self, path: tuple[str, ...], value: dict[str, Any], parent: dict[str, Any] | None
    ) -> list[tuple[str, Any]]:
        """The XML writer's hook: records for the object at ``path`` (see ``Expander``)."""
        hooks = self._hooks.get(path)
        if hooks is None:
            hooks = self._hooks[path] = self._hooks_at(path)
        derived, refs = hooks
        if not derived and not refs:
            return []
        out: list[tuple[str, Any]] = []
        for node in derived:
            out.extend(self._derived_children(node, value))
        for node in refs:
            key = _ref_key(node, value, parent or {})
            record = self.cache.get(key) if key else None
            if record is not None:
                out.append(("record", self._expand(node, record)))
        return out

    def _hooks_at(self, path: tuple[str, ...]) -> tuple[list[Node], list[Node]]:
        """The nodes that may add children at ``path`` (computed once per path): derived records
        of an anchor (an item or a detail line), and records of a reference field of one."""
        derived: list[Node] = []
        refs: list[Node] = []
        if len(path) == 1 or (len(path) > 1 and tuple(path[1:]) in _CONTAINER_PATHS):
            anchor = self.plan.anchors.get((path[0], tuple(path[1:])))
            if anchor is not None:
                derived = [n for n in anchor.children.values() if n.kind not in ("ref", "collection")]
        if len(path) >= 2:
            anchor = self.plan.anchors.get((path[0], tuple(path[1:-1])))
            if anchor is not None:
                refs = [
                    node
                    for node in anchor.children.values()
                    if node.kind == "ref" and path[-1] in FIELD_ALIASES.get(node.name, (node.name,))
                ]
        return derived, refs

    def _derived_children(self, node: Node, obj: dict[str, Any]) -> list[tuple[str, Any]]:
        if node.kind == "invoice":
            invoice = self._lookup(node, obj)
            out: list[tuple[str, Any]] = []
            if invoice is not None and node.emit:
                ref = {"id": invoice.get("id"), "identifier": invoice.get("invoiceNumber")}
                out.append(("invoice", {**ref, "record": self._expand(node, invoice)}))
            return out + self._via_children(node, [invoice] if invoice is not None else [])
        if node.kind == "purchaseOrder":
            order = self._lookup(node, obj)
            if order is None:
                return []
            ref = {"id": order.get("id"), "name": order.get("poNumber")}
            return [("purchaseOrder", {**ref, "record": self._expand(node, order)})]
        if node.kind == "expenseEntry":
            out, entries = [], []
            for key in self._keys(node, obj):
                record = self.cache.get(key)
                if record is not None:
                    entries.append(record)
                    if node.emit:
                        out.append(("expenseEntry", {"id": key[-1], "record": self._expand(node, record)}))
            return out + self._via_children(node, entries)
        return []

    def _via_children(self, node: Node, records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        """The records ``node``'s "via" steps read from its derived ``records``, each distinct once."""
        out: list[tuple[str, Any]] = []
        for child in node.children.values():
            if child.kind != "via":
                continue
            seen: set[Key] = set()
            for record in records:
                ref = _field(record, child.source)
                key = _ref_key(child, ref, record) if isinstance(ref, dict) else None
                fetched = self.cache.get(key) if key else None
                if fetched is not None and key not in seen:
                    seen.add(key)
                    out.append((child.name, {**_without_info(ref), "record": self._expand(child, fetched)}))
        return out

    def _lookup(self, node: Node, obj: dict[str, Any]) -> Any:
        for key in self._keys(node, obj):
            record = self.cache.get(key)
            if record is None and key in self._fallback:
                record = self.cache.get(self._fallback[key])
            return record
        return None

    def _expand(self, node: Node, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` with the records of ``node``'s children put in place."""
        if not node.children:
            return record
        memo_key = (id(node), id(record))
        memo = self._expanded.get(memo_key)
        if memo is not None and memo[0] is record:
            self._expanded.move_to_end(memo_key)
            return memo[1]
        added: dict[str, Any] = {}
        for child in node.children.values():
            if child.kind == "collection":
                key = ("children", SUB_COLLECTIONS[child.name][1], record.get("id"))
                items = self.cache.get(key)
                if items is not None and child.emit:
                    added[child.name] = [self._expand(child, item) for item in items]
            elif child.kind == "ref":
                ref = _field(record, child.source)
                key = _ref_key(child, ref, record) if isinstance(ref, dict) else None
                fetched = self.cache.get(key) if key else None
                if fetched is not None:
                    name = _present_name(record, child.name)
                    added[name] = {**ref, "record": self._expand(child, fetched)}
        if not added:  # nothing to put in: the record itself, no copy to keep
            return record
        copy = {**record, **added}
        # Holding record keeps its id from being reused; only the most recent are kept, as one
        # invoice per transaction would otherwise keep every invoice decoded.
        self._expanded[memo_key] = (record, copy)
        if len(self._expanded) > self.cache.hot_size:
            self._expanded.popitem(last=False)
        return copy

    def summary(self) -> dict[str, Any]:
        return {
            "paths": list(self.plan.paths),
            "rounds": self.stats.rounds,
            "requests": self.stats.requests,
            "records": self.cache.found(),
            "missing": len(self.stats.missing),
            "skipped": self.stats.skipped,
            # Items a path found nothing on, by path (the field absent or not a reference).
            "skipped_by_path": dict(sorted(self.stats.skipped_by_path.items())),
        }


_CONTAINER_PATHS = set(CONTAINERS.values())


def _walk(nodes: Iterable[Node]) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from _walk(node.children.values())


def _glexport_model(root: str, container: tuple[str, ...]) -> str | None:
    """The GLExport model of an anchor's objects: ``("transaction", ("detail", "detailItem"))`` ->
    ``GLExportTransactionDetail``."""
    collection = next((c for c, item in schema.ROOT_COLLECTIONS.items() if item == root), None)
    spec = schema.field("GLExport", collection) if collection else None
    model = spec.model if spec else None
    if container and model:
        spec = schema.field(model, container[0])
        model = spec.model if spec else None
    return model


@functools.cache
def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at 2, as ``MALLOC_ARENA_MAX=2`` would (unless that is set).

    glibc gives each thread its own arena; the responses each worker decodes leave its arena
    fragmented and never returned, so with 8 workers peak RSS grew by about 3.9 KB per fetched
    record instead of 1.7 KB (bench/export_memory.py). Other C libraries are left alone.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc
        log.debug("mallopt is not available; malloc arenas left as they are")


def _objects_at(item: dict[str, Any], container: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """``item`` itself, or the items of its ``detail``/``purchaseDetail``/... collection."""
    if not container:
        yield item
        return
    collection = item.get(container[0])
    if isinstance(collection, list):
        yield from (obj for obj in collection if isinstance(obj, dict))


def _field(obj: dict[str, Any], name: str) -> Any:
    for alias in FIELD_ALIASES.get(name, (name,)):
        if alias in obj:
            return obj[alias]
    return None


def _present_name(obj: dict[str, Any], name: str) -> str:
    for alias in FIELD_ALIASES.get(name, (name,)):
        if alias in obj:
            return alias
    return name


def _ref_key(node: Node, ref: dict[str, Any], parent: dict[str, Any]) -> Key | None:
    """The cache key of the record ``node``'s reference points at; None when it cannot be known."""
    if not is_record_id(ref.get("id")):
        return None
    href = next(
        (v for k, v in (ref.get("_info") or {}).items() if k.endswith("_href") and isinstance(v, str)), None
    )
    if href:
        key = _key_from_href(href)
        if key is not None:
            return key
    endpoint = node.endpoint
    if endpoint is None:
        return None
    if endpoint == SITES:
        company = parent.get(SITE_COMPANY_FIELD.get(node.name, "company"))
        company_id = company.get("id") if isinstance(company, dict) else None
        return ("site", company_id, ref["id"]) if is_record_id(company_id) else None
    return ("get", endpoint, ref["id"])


@functools.lru_cache(maxsize=65536)
def _key_from_href(href: str) -> Key | None:
    # The same hrefs recur on every line of an export; parse each once.
    return _key_from_path(path_of(href))


_SITE_PATH = re.compile(r"^company/companies/(\d+)/sites/(\d+)$")
_RECORD_PATH = re.compile(r"^(.+)/(\d+)$")


def _key_from_path(path: str) -> Key | None:
    site = _SITE_PATH.match(path)
    if site:
        return ("site", int(site.group(1)), int(site.group(2)))
    record = _RECORD_PATH.match(path)
    if record:
        return ("get", record.group(1), int(record.group(2)))
    return None


def _without_info(ref: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ref.items() if k != "_info"}


def chunk_values(
    url: str, field_name: str, values: list[str], max_length: int = MAX_URL_LENGTH
) -> Iterator[list[str]]:
    """Split ``values`` into ``field in (...)`` lists whose request URL stays under ``max_length``.

    The URL is ``{url}?pageSize=1000&page=1&conditions=...`` form-encoded, as the client sends it.
    """
    prefix = (
        len(url)
        + len(f"?pageSize={MAX_PAGE_SIZE}&page=1&conditions=")
        + len(quote_plus(f"{field_name} in ()"))
    )
    chunk: list[str] = []
    length = prefix
    for value in sorted(set(values), key=lambda v: (len(v), v)):
        cost = len(quote_plus(value)) + (len(quote_plus(",")) if chunk else 0)
        if chunk and length + cost >= max_length:
            yield chunk
            chunk, length = [], prefix
            cost = len(quote_plus(value))
        if prefix + cost >= max_length:
            raise ReferenceValueTooLongError(f"{value!r} alone makes a URL over {max_length} characters")
        chunk.append(value)
        length += cost
    if chunk:
        yield chunk
