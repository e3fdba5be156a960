"""The export's summary: counts, totals, GL entry ids and a balance check, built item by item.

GL entry ids are what ``POST finance/accounting/batches`` takes as ``processedRecordIds`` to mark
the export's records exported. ConnectWise documents them only as "GL Entry RecIDs"; the rule
below follows the GLExport samples of the public guide "Exporting GL Batches from ConnectWise REST
Interface" (github.com/zynksoftware/Zynk-Workflow,
``_docs/ConnectWise-Connector/Exporting-GL-Batches-from-ConnectWise-REST-Interface.md``) and the
SmartConnect maps that post batches: a transaction's ``glEntryIds`` plus its detail line ids; an
expense's id and its offset's id; an expense bill's detail ids; a purchase's detail and detail-tax
ids; an inventory transfer's ``transferId`` and offset id. Adjustments carry no numeric id in
GLExport and contribute none.

Balance: the samples' header total equals minus the sum of its lines (invoice 10 vs -10 and 0;
purchase 12.5 vs -12.5). Transactions and purchases are checked that way; other collections have
no documented convention and are not checked. The check, the documents without a GL account number
and the totals per GL account make the summary's ``review`` (``review.py``); which GL entry ids
belong to which document goes to a second file beside the output (``documents.py``).

GL entry ids are not returned in the summary (100,000 ids at 20,000 invoices do not belong in
XCom): they are kept as 8-byte integers while writing and saved, sorted and distinct, to the ids
file beside the output (``IDS_SUFFIX``, format in ``write_ids``); the summary has their count.
"""

from __future__ import annotations

import heapq
import logging
from array import array
from collections import Counter
from collections.abc import Iterator
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from typing import IO, Any

from typing_extensions import NotRequired, TypedDict

from airflow_provider_cwgl.glexport.documents import DocumentsRecorder
from airflow_provider_cwgl.glexport.references import ReferencesSummary
from airflow_provider_cwgl.glexport.review import Review, ReviewBuilder
from airflow_provider_cwgl.glexport.schema import is_record_id

log = logging.getLogger(__name__)

IDS_SUFFIX = ".gl-entry-ids.txt"  # the ids file is the output's name plus this
IDS_HEADER = "# cwgl GL entry ids"
_MAX_ID = 2**63 - 1
# Sums of money are exact: the default context would round them to 28 digits.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)

# Root collections that are not documents: they only accompany the documents that name them.
PARTY_COLLECTIONS = frozenset({"vendors", "customers"})


class UnbalancedSummary(TypedDict):
    collection: str
    id: str  # as text, whatever type the export gave it
    total: str
    lines: str


class BalanceSummary(TypedDict):
    """The balance check (``review.BalanceCheck``) with the unbalanced documents' ids as text."""

    checked: int
    unbalanced_count: int
    unbalanced: list[UnbalancedSummary]
    ok: bool


class ContentSummary(TypedDict):
    """What ``SummaryBuilder`` saw: the part of the export's summary about its documents."""

    counts: dict[str, int]  # items per root collection
    totals: dict[str, str]  # exact decimal sums of ``total`` per root collection
    gl_entry_id_count: int
    document_count: int
    balance: BalanceSummary
    review: Review


class ExportSummary(ContentSummary):
    """What ``GLBatchExportOperator`` returns to XCom (plain JSON types only)."""

    output: str  # the file or object written, as ``OutputTarget.describe`` gives it
    bytes: int
    sha256: str
    request: dict[str, Any]  # the JSON body sent to ConnectWise
    location_id: int | None
    batch_id: NotRequired[int]  # set when a past batch was re-exported
    batch_identifier: NotRequired[str]  # the operator's ``batch_identifier``, when it had one
    gl_entry_ids_file: str
    gl_documents_file: str
    removed_characters: int
    dropped_list_nulls: int
    references: NotRequired[ReferencesSummary]  # with References To Fetch


class SummaryBuilder:
    """Fed every root item as it is written; ``result()`` gives the XCom-safe summary."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.totals: dict[str, Decimal] = {}
        self._ids = array("q")
        self._distinct = True
        self.review = ReviewBuilder()
        self.documents = DocumentsRecorder()

    def add(self, collection: str, item: dict[str, Any]) -> None:
        self.counts[collection] += 1
        total = item.get("total")
        if isinstance(total, (int, Decimal)) and not isinstance(total, bool):
            with localcontext(_EXACT):  # a sum of money is never rounded
                self.totals[collection] = self.totals.get(collection, Decimal(0)) + total
        ids = [i for i in gl_entry_ids(collection, item) if 0 <= i <= _MAX_ID]
        if ids:
            self._ids.extend(ids)
            self._distinct = False
        self.review.add(collection, item)
        if collection not in PARTY_COLLECTIONS:
            self.documents.add(collection, item, ids)

    def gl_entry_ids(self) -> array[int]:
        """The distinct GL entry ids, sorted. Sorted in runs and merged, so no Python int or set
        holds them all at once: they stay 8 bytes each."""
        if not self._distinct:
            runs = [array("q", sorted(self._ids[i : i + 65536])) for i in range(0, len(self._ids), 65536)]
            self._ids = array("q", _distinct(heapq.merge(*runs)))
            self._distinct = True
        return self._ids

    def write_ids(self, out: IO[bytes], sha256: str) -> int:
        """Save the ids: a header line naming the XML's SHA-256 and the count, then one id a line."""
        ids = self.gl_entry_ids()
        out.write(f"{IDS_HEADER} sha256={sha256} count={len(ids)}\n".encode())
        for start in range(0, len(ids), 10_000):
            out.write("".join(f"{i}\n" for i in ids[start : start + 10_000]).encode())
        return len(ids)

    def write_documents(self, out: IO[bytes], sha256: str) -> int:
        """Save which GL entry ids belong to which document (``documents.DOCUMENTS_SUFFIX``)."""
        return self.documents.write(out, sha256)

    def result(self) -> ContentSummary:
        review = self.review.result()
        balance = review["balance"]
        return {
            "counts": dict(self.counts),
            "totals": {k: format(v, "f") for k, v in self.totals.items()},
            "gl_entry_id_count": len(self.gl_entry_ids()),
            "document_count": self.documents.count,
            "balance": {
                "checked": balance["checked"],
                "unbalanced_count": balance["unbalanced_count"],
                # The summary's own list keeps its shape: ids as text.
                "unbalanced": [
                    {
                        "collection": d["collection"],
                        "id": str(d["id"]),
                        "total": d["total"],
                        "lines": d["lines"],
                    }
                    for d in balance["unbalanced"]
                ],
                "ok": balance["ok"],
            },
            "review": review,
        }


def read_ids(source: IO[bytes], sha256: str | None = None) -> list[int]:
    """The ids ``write_ids`` saved; with ``sha256``, checks they belong to that XML file."""
    header = source.readline().decode("utf-8", "replace")
    fields = dict(part.split("=", 1) for part in header.split() if "=" in part)
    if not header.startswith(IDS_HEADER + " ") or not fields.get("count", "").isdigit():
        raise ValueError("not a GL entry ids file written by GLBatchExportOperator")
    if sha256 is not None and fields.get("sha256") != sha256:
        raise ValueError(
            f"the GL entry ids file is of another export (sha256 {fields.get('sha256')}, expected {sha256}); "
            "was the output replaced by a later run?"
        )
    ids = [int(line) for line in source.read().split()]
    if len(ids) != int(fields["count"]):
        raise ValueError(f"the GL entry ids file is incomplete: {len(ids)} of {fields['count']} ids")
    return ids


def gl_entry_ids(collection: str, item: dict[str, Any]) -> set[int]:
    """The GL entry record ids one exported item contributes to an accounting batch."""
    ids: set[int] = set()
    if collection == "transactions":
        text = item.get("glEntryIds") or ""
        ids.update(int(part) for part in str(text).split(",") if part.strip().isdigit())
        ids.update(_ids(_dicts(item.get("detail"))))
    elif collection == "expenses":
        ids.update(_ids([item, item.get("offset")]))
    elif collection == "expenseBills":
        for line in _dicts(item.get("detail")):
            value = line.get("id")
            ids.update(v for v in (value if isinstance(value, list) else [value]) if is_record_id(v))
    elif collection == "purchaseTransactions":
        ids.update(_ids(_dicts(item.get("purchaseDetail")) + _dicts(item.get("purchaseDetailTax"))))
    elif collection == "inventoryTransfers":
        transfer = item.get("transferId")
        if is_record_id(transfer):
            ids.add(transfer)
        ids.update(_ids([item.get("offset")]))
    return ids


def _distinct(values: Iterator[int]) -> Iterator[int]:
    last = None
    for value in values:
        if value != last:
            yield value
            last = value


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ids(records: list[Any]) -> set[int]:
    return {r["id"] for r in records if isinstance(r, dict) and is_record_id(r.get("id"))}
