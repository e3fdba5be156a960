"""The sandbox's in-memory ConnectWise: reference records, unposted GL documents and batches.

Plain Python, no HTTP: ``server.py`` serves it and tests may inspect or change it directly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from airflow_provider_cwgl.glexport.request import COLLECTION_KINDS, FLAG_NAMES, ID_LIST_SETTINGS
from airflow_provider_cwgl.sandbox.jsonio import dumps

# The sections in the order ConnectWise writes them.
EXPORT_ORDER: tuple[str, ...] = ("vendors", "customers", "transactions", "expenses", "expenseBills")
EXPORT_ORDER += ("purchaseTransactions", "adjustmentTransactions", "inventoryTransfers")
UNPOSTED_ENDPOINT = {kind: f"unposted{kind}" for kind in ("invoices", "expenses", "procurement")}
BASE_PLACEHOLDER = "__CWBASE__/"
# The export request's id lists -> (document kind, included?, item type), from the provider's one
# table. Procurement ids are strings in ConnectWise's API (``unpostedProductId``).
EXPORT_ID_LISTS: dict[str, tuple[str, bool, type]] = {
    spec.api_name: (spec.kind, spec.included, int if spec.integers else str) for spec in ID_LIST_SETTINGS
}
# BatchEntry ids are ConnectWise's own accounting-line ids: nothing ties them to GL entry ids, so
# the sandbox numbers them apart (GL entry ids stay far below this).
FIRST_BATCH_ENTRY_ID = 70_000_001
# The accounting line each section posts (BatchEntry.accountType / accountNumber).
_ENTRY_ACCOUNTS = {
    "transactions": ("AR", "1200"),
    "expenses": ("Expense", "6100"),
    "expenseBills": ("AP", "2000"),
}
_ENTRY_ACCOUNTS |= {"purchaseTransactions": ("AP", "2000"), "adjustmentTransactions": ("Inventory", "1400")}
_ENTRY_ACCOUNTS |= {"inventoryTransfers": ("Inventory", "1400")}


@dataclass
class GLDocument:
    """One unposted GL document: a GLExport transaction, expense, bill or purchase, with its filters."""

    key: str
    section: str
    body: dict[str, Any]
    location_id: int
    document_date: date
    gl_entry_ids: frozenset[int]
    unposted: dict[str, Any]

    @property
    def kind(self) -> str:
        return COLLECTION_KINDS[self.section]

    @property
    def export_id(self) -> int | str:
        """The id the export request's included/excluded lists name this document by: an unposted
        invoice's ``billingLogId`` (what real integrations send in ``includedInvoiceIds``), an
        unposted expense's ``id``, an unposted procurement record's ``unpostedProductId`` (text, as
        ``includedProductIds`` is typed). The last two follow the API's types only: unverified."""
        if self.kind == "procurement":
            return str(self.unposted.get("unpostedProductId", self.unposted["id"]))
        identifier: int | str = self.unposted["billingLogId" if self.kind == "invoices" else "id"]
        return identifier


@dataclass
class Party:
    """A ``customers`` or ``vendors`` row, exported when any of its documents is."""

    section: str
    body: dict[str, Any]
    document_keys: set[str]


@dataclass
class Batch:
    id: int
    identifier: str
    flags: dict[str, bool]
    processed_record_ids: list[int]
    document_keys: list[str]
    created: datetime
    entries: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ExportFilter:
    invoices: bool = False
    expenses: bool = False
    procurement: bool = False
    thru_date: date | None = None
    location_id: int | None = None
    included: dict[str, set[Any]] = field(default_factory=dict)
    excluded: dict[str, set[Any]] = field(default_factory=dict)

    def admits(self, doc: GLDocument, today: date) -> bool:
        if not getattr(self, doc.kind):
            return False
        if doc.document_date > (self.thru_date or today):
            return False
        if self.location_id is not None and doc.location_id != self.location_id:
            return False
        # ConnectWise's documented semantics: an included list exports only those records of its
        # kind, an excluded list all but those; kinds without a list are not narrowed.
        record_id = doc.export_id
        if self.included.get(doc.kind) and record_id not in self.included[doc.kind]:
            return False
        return record_id not in self.excluded.get(doc.kind, set())


class SandboxStore:
    """Everything the sandbox serves. Thread-safe for the server's worker threads."""

    def __init__(self) -> None:
        self.resources: dict[str, dict[int, dict[str, Any]]] = {}
        # "company/companies/{}/sites" -> parent id -> child id -> record
        self.children: dict[str, dict[int, dict[int, dict[str, Any]]]] = {}
        self.documents: list[GLDocument] = []
        self.parties: list[Party] = []
        self.batches: dict[int, Batch] = {}
        self.posted: set[str] = set()
        self.today: date = datetime.now(timezone.utc).date()
        self.lock = threading.RLock()
        self.next_batch_entry_id = FIRST_BATCH_ENTRY_ID

    # -- building -------------------------------------------------------------------------------
    def add(self, collection: str, record: dict[str, Any]) -> dict[str, Any]:
        self.resources.setdefault(collection, {})[record["id"]] = record
        return record

    def add_child(self, collection: str, parent_id: int, record: dict[str, Any]) -> dict[str, Any]:
        self.children.setdefault(collection, {}).setdefault(parent_id, {})[record["id"]] = record
        return record

    def remove(self, collection: str, record_id: int) -> None:
        """Delete a record, e.g. to test a reference that points at nothing."""
        self.resources.get(collection, {}).pop(record_id, None)

    def regenerate_gl_entries(self, key: str) -> GLDocument:
        """Give an invoice new GL entry ids, as ConnectWise does when an invoice is reopened and
        saved again: a batch naming its old ids no longer holds it, and it stays unposted."""
        with self.lock:
            doc = next(d for d in self.documents if d.key == key)
            if doc.section != "transactions":
                raise ValueError(f"{key} is not an invoice: only a transaction's GL entries are regenerated")
            first = max(max(d.gl_entry_ids, default=0) for d in self.documents) + 1
            new = {old: first + n for n, old in enumerate(sorted(doc.gl_entry_ids))}
            body = dict(doc.body)
            text = str(body.get("glEntryIds") or "")
            body["glEntryIds"] = ",".join(str(new.get(int(i), i)) for i in text.split(",") if i.strip())
            body["detail"] = [
                line | {"id": new.get(line["id"], line["id"])} for line in body.get("detail", [])
            ]
            doc.body, doc.gl_entry_ids = body, frozenset(new.values())
            return doc

    # -- queries --------------------------------------------------------------------------------
    def collection(self, path: str) -> list[dict[str, Any]] | None:
        """The records of a collection (``company/companies``, ``company/companies/8/sites``), or
        None when the store has no such collection."""
        if path in self.resources:
            return list(self.resources[path].values())
        for template, by_parent in self.children.items():
            match = re.fullmatch(re.escape(template).replace(r"\{\}", r"(\d+)"), path)
            if match:
                return list(by_parent.get(int(match[1]), {}).values())
        return None

    def unposted_documents(self) -> list[GLDocument]:
        with self.lock:
            return [d for d in self.documents if d.key not in self.posted]

    def select(self, flt: ExportFilter) -> list[GLDocument]:
        return [d for d in self.unposted_documents() if flt.admits(d, self.today)]

    def export_chunks(self, documents: Iterable[GLDocument], base_url: str) -> Iterator[str]:
        """The GLExport JSON for ``documents``, as text chunks (one per record) for streaming."""
        docs = list(documents)
        keys = {d.key for d in docs}
        by_section: dict[str, list[dict[str, Any]]] = {s: [] for s in EXPORT_ORDER}
        for party in self.parties:
            if party.document_keys & keys:
                by_section[party.section].append(party.body)
        for doc in docs:
            by_section[doc.section].append(doc.body)
        yield '{"exportSettings":{}'
        for section in EXPORT_ORDER:
            yield f',"{section}":['
            for i, body in enumerate(by_section[section]):
                text = dumps(body).replace(BASE_PLACEHOLDER, base_url)
                yield text if i == 0 else "," + text
            yield "]"
        yield "}"

    def create_batch(self, identifier: str, flags: dict[str, bool], record_ids: list[int]) -> Batch:
        with self.lock:
            wanted = set(record_ids)
            docs = [d for d in self.unposted_documents() if d.gl_entry_ids & wanted]
            batch = Batch(
                id=max(self.batches, default=0) + 1,
                identifier=identifier,
                flags=flags,
                processed_record_ids=list(record_ids),
                document_keys=[d.key for d in docs],
                created=datetime.now(timezone.utc),
            )
            batch.entries = [self._batch_entry(doc) for doc in docs]
            self.batches[batch.id] = batch
            self.posted.update(batch.document_keys)
            return batch

    def batch_documents(self, batch: Batch) -> list[GLDocument]:
        keys = set(batch.document_keys)
        return [d for d in self.documents if d.key in keys]

    def batch_record(self, batch: Batch, base_url: str) -> dict[str, Any]:
        return {
            "id": batch.id,
            "batchIdentifier": batch.identifier,
            **{flag: batch.flags.get(kind, False) for kind, flag in FLAG_NAMES.items()},
            "closedFlag": False,
            "_info": {
                "lastUpdated": batch.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "updatedBy": "sandbox",
                "entries_href": f"{base_url}finance/accounting/batches/{batch.id}/entries",
            },
        }

    def batch_entries(self, batch: Batch) -> list[dict[str, Any]]:
        return batch.entries

    def _batch_entry(self, doc: GLDocument) -> dict[str, Any]:
        """A ``BatchEntry`` (an accounting line of the batch) for one document, with its own id."""
        entry_id, self.next_batch_entry_id = self.next_batch_entry_id, self.next_batch_entry_id + 1
        account_type, account = _ENTRY_ACCOUNTS[doc.section]
        total = doc.body.get("total")
        amount = total if isinstance(total, (int, Decimal)) and not isinstance(total, bool) else Decimal(0)
        entry: dict[str, Any] = {
            "id": entry_id,
            "accountType": account_type,
            "name": str(doc.body.get("documentNumber") or doc.key),
            "accountNumber": account,
            "debit": amount if amount >= 0 else None,
            "credit": -amount if amount < 0 else None,
        }
        record_id = doc.unposted.get("id")
        if doc.section == "transactions":
            entry["invoice"] = {"id": doc.export_id, "identifier": str(doc.body.get("documentNumber") or "")}
        elif doc.section == "expenses":
            entry["expense"] = {"id": record_id, "amount": amount}
        elif doc.section == "purchaseTransactions" and isinstance(doc.unposted.get("purchaseOrder"), dict):
            entry["purchaseOrder"] = doc.unposted["purchaseOrder"]
        return entry
