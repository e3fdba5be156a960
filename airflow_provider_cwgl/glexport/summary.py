"""The export's summary: counts, totals, GL entry ids and a balance check, built item by item.

GL entry ids are what ``POST finance/accounting/batches`` takes as ``processedRecordIds`` to mark
the export's records exported. ConnectWise documents them only as "GL Entry RecIDs"; the rule
below follows the GLExport samples (shared/reference/connectwise-api.md section 1e.4) and the
SmartConnect maps that post batches: a transaction's ``glEntryIds`` plus its detail line ids; an
expense's id and its offset's id; an expense bill's detail ids; a purchase's detail and detail-tax
ids; an inventory transfer's ``transferId`` and offset id. Adjustments carry no numeric id in
GLExport and contribute none.

Balance: the samples' header total equals minus the sum of its lines (invoice 10 vs -10 and 0;
purchase 12.5 vs -12.5). Transactions and purchases are checked that way; other collections have
no documented convention and are not checked.
"""

from __future__ import annotations

import logging
from collections import Counter
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

log = logging.getLogger(__name__)

MAX_LISTED_UNBALANCED = 20
# Totals are summed exactly: the default context rounds at 28 digits (number sizes are bounded upstream).
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)

# collection -> fields holding lines whose totals balance the header total
_BALANCED_LINES = {
    "transactions": ("detail",),
    "purchaseTransactions": ("purchaseDetail", "purchaseDetailTax"),
}


class SummaryBuilder:
    """Fed every root item as it is written; ``result()`` gives the XCom-safe summary."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.totals: dict[str, Decimal] = {}
        self.gl_entry_ids: set[int] = set()
        self.checked = 0
        self.unbalanced: list[dict[str, str]] = []
        self.unbalanced_count = 0

    def add(self, collection: str, item: dict[str, Any]) -> None:
        self.counts[collection] += 1
        total = item.get("total")
        if isinstance(total, (int, Decimal)) and not isinstance(total, bool):
            self.totals[collection] = EXACT.add(self.totals.get(collection, Decimal(0)), total)
        self.gl_entry_ids.update(gl_entry_ids(collection, item))
        if collection in _BALANCED_LINES:
            self._check_balance(collection, item)

    def _check_balance(self, collection: str, item: dict[str, Any]) -> None:
        header = _number(item.get("total"))
        lines = sum(
            (
                _number(line.get("total"))
                for name in _BALANCED_LINES[collection]
                for line in _dicts(item.get(name))
            ),
            Decimal(0),
        )
        self.checked += 1
        if header + lines != 0:
            self.unbalanced_count += 1
            if len(self.unbalanced) < MAX_LISTED_UNBALANCED:
                self.unbalanced.append(
                    {
                        "collection": collection,
                        "id": str(item.get("id")),
                        "total": str(header),
                        "lines": str(-lines),
                    }
                )

    def result(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "totals": {k: format(v, "f") for k, v in self.totals.items()},
            "gl_entry_ids": sorted(self.gl_entry_ids),
            "balance": {
                "checked": self.checked,
                "unbalanced_count": self.unbalanced_count,
                "unbalanced": self.unbalanced,
                "ok": self.unbalanced_count == 0,
            },
        }


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
            ids.update(v for v in (value if isinstance(value, list) else [value]) if _is_id(v))
    elif collection == "purchaseTransactions":
        ids.update(_ids(_dicts(item.get("purchaseDetail")) + _dicts(item.get("purchaseDetailTax"))))
    elif collection == "inventoryTransfers":
        transfer = item.get("transferId")
        if _is_id(transfer):
            ids.add(transfer)
        ids.update(_ids([item.get("offset")]))
    return ids


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ids(records: list[Any]) -> set[int]:
    return {r["id"] for r in records if isinstance(r, dict) and _is_id(r.get("id"))}


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return Decimal(0)
    return Decimal(value)
