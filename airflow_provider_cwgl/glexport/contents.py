"""What an export holds, counted one way (``Contents``): documents and the exact sum of their totals
per collection, and their GL entry ids, for the summary, the review, the documents chosen to post and
a batch's re-export.

GL entry ids are what ``POST finance/accounting/batches`` takes as ``processedRecordIds``.
ConnectWise documents them only as "GL Entry RecIDs"; the rule below follows the GLExport samples of the public guide "Exporting GL Batches from ConnectWise REST
Interface" (github.com/zynksoftware/Zynk-Workflow,
``_docs/ConnectWise-Connector/Exporting-GL-Batches-from-ConnectWise-REST-Interface.md``) and the
SmartConnect maps that post batches: a transaction's ``glEntryIds`` plus its detail line ids; an
expense's id and its offset's id; an expense bill's detail ids; a purchase's detail and detail-tax
ids; an inventory transfer's ``transferId`` and offset id. Adjustments carry no numeric id in
GLExport and contribute none.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Collection
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from itertools import groupby
from typing import IO, Any

from airflow_provider_cwgl.glexport.json_scan import iter_root
from airflow_provider_cwgl.glexport.schema import is_record_id

# Sums of money are exact: the default context would round them to 28 digits.
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
# Root collections that are not documents: they only accompany the documents that name them.
PARTY_COLLECTIONS = frozenset({"vendors", "customers"})
_MAX_ID = 2**63 - 1  # what an 8-byte id holds
_RUN = 65536


def money(value: Any) -> Decimal | None:
    """An amount as ConnectWise sent it (int or exact Decimal); None for anything else."""
    if value.__class__ is Decimal:
        return value
    if value.__class__ is int:
        return Decimal(value)
    return None


class Contents:
    """Documents and the exact sum of their totals per collection, and their GL entry ids (kept as
    8-byte integers: 100,000 ids at 20,000 invoices)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.totals: dict[str, Decimal] = {}
        self._ids = array("q")
        self._distinct = True

    def add(self, collection: str, total: Decimal | None, ids: Collection[int] = ()) -> None:
        self.counts[collection] = self.counts.get(collection, 0) + 1
        if total is not None:
            self.totals[collection] = EXACT.add(self.totals.get(collection, 0), total)
        if ids:
            self._ids.extend(ids)
            self._distinct = False

    def ids(self) -> array[int]:
        """The distinct GL entry ids, sorted. Sorted in runs and merged, so no Python int or set
        holds them all at once."""
        if not self._distinct:
            ids = self._ids
            runs = [array("q", sorted(ids[i : i + _RUN])) for i in range(0, len(ids), _RUN)]
            self._ids = array("q", (value for value, _ in groupby(heapq.merge(*runs))))
            self._distinct = True
        return self._ids

    def formatted_totals(self) -> dict[str, str]:
        return {c: format(t, "f") for c, t in self.totals.items()}

    def differences(self, approved: Contents) -> list[str]:
        """What differs from ``approved``, in words; empty when the same."""
        found: list[str] = []
        if self.ids() != approved.ids():
            have, want = set(self.ids()), set(approved.ids())
            found.append(
                f"GL entry ids: {len(want - have)} approved ones are not in the batch, "
                f"{len(have - want)} in the batch were not approved"
            )
        for collection in sorted(set(self.counts) | set(approved.counts)):
            has, wants = self.counts.get(collection, 0), approved.counts.get(collection, 0)
            if has != wants:
                found.append(f"{collection}: {wants} document(s) approved, {has} in the batch")
        for collection in sorted(set(self.totals) | set(approved.totals)):
            have_total = self.totals.get(collection, Decimal(0))
            want_total = approved.totals.get(collection, Decimal(0))
            if have_total != want_total:
                found.append(
                    f"{collection}: total {format(want_total, 'f')} approved, {format(have_total, 'f')} in the batch"
                )
        return found


def contents_from_json(source: IO[bytes]) -> Contents:
    """The documents, totals and GL entry ids of a GLExport JSON document (a batch's re-export)."""
    contents = Contents()
    for collection, item, is_item in iter_root(source):
        if is_item and collection not in PARTY_COLLECTIONS:
            contents.add(collection, money(item.get("total")), gl_entry_ids(collection, item))
    return contents


def gl_entry_ids(collection: str, item: dict[str, Any]) -> set[int]:
    """The GL entry record ids one exported item contributes to an accounting batch (a record id
    is positive and fits 8 bytes: others are no GL entry's)."""
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
    return {i for i in ids if 0 <= i <= _MAX_ID}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ids(records: list[Any]) -> set[int]:
    return {r["id"] for r in records if isinstance(r, dict) and is_record_id(r.get("id"))}
