"""The accountant's review of an export, built item by item while the XML is written: small enough
for XCom and a HITL body.

- documents and totals per collection;
- the balance check where the GLExport samples document the convention (transactions, purchases:
  the header total equals minus the sum of its lines), naming the unbalanced documents;
- documents whose header or a line has no GL account number (``ACCOUNT_FIELDS``): the accounting
  package cannot post them;
- debits (positive amounts) and credits (negative) per GL account for those same collections, so
  each collection's debits equal its credits when its documents balance.

Lists stop at ``MAX_LISTED_DOCUMENTS`` documents and ``MAX_ACCOUNTS`` accounts per collection (the
rest summed as ``OTHER_ACCOUNTS``); counts are complete; amounts are exact decimals as strings.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal, localcontext
from typing import Any

from typing_extensions import NotRequired, TypedDict

from airflow_provider_cwgl.glexport.contents import EXACT, Contents, money

MAX_LISTED_DOCUMENTS = 20
MAX_ACCOUNTS = 200
OTHER_ACCOUNTS = "(other accounts)"
NO_ACCOUNT = "(no account)"

# collection -> (header account field, {lines field: the line's account field})
ACCOUNT_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "transactions": ("accountNumber", {"detail": "accountNumber"}),
    "expenses": ("accountNumber", {"offset": "accountNumber"}),
    "expenseBills": ("apAccountNumber", {"detail": "accountNumber"}),
    "purchaseTransactions": (
        "apAccountNumber",
        {"purchaseDetail": "accountNumber", "purchaseDetailTax": "accountNumber"},
    ),
    "adjustmentTransactions": ("accountNumber", {"adjustmentDetail": "accountNumber"}),
    "inventoryTransfers": ("accountNumber", {"offset": "accountNumber"}),
}
# The collections whose balance convention the samples document: header + lines == 0.
BALANCED_LINES: dict[str, tuple[str, ...]] = {
    "transactions": ("detail",),
    "purchaseTransactions": ("purchaseDetail", "purchaseDetailTax"),
}


class DocumentRef(TypedDict):
    """A document as the export names it: its collection, its id (as sent) and document number."""

    collection: str
    id: Any
    document_number: NotRequired[str]


class UnbalancedDocument(DocumentRef):
    total: str
    lines: str  # minus the sum of its lines: equal to ``total`` when it balances


class UnmappedDocument(DocumentRef):
    missing: list[str]  # which fields lack an account: ``header accountNumber``, ``detail line 2 …``


class CollectionReview(TypedDict):
    count: int
    total: NotRequired[str]  # absent when no document of the collection has a total


class BalanceCheck(TypedDict):
    checked: int
    unbalanced_count: int
    unbalanced: list[UnbalancedDocument]  # at most ``MAX_LISTED_DOCUMENTS``
    ok: bool


class UnmappedCheck(TypedDict):
    count: int
    documents: list[UnmappedDocument]  # at most ``MAX_LISTED_DOCUMENTS``


class AccountTotals(TypedDict):
    debit: str
    credit: str


class Review(TypedDict):
    """``ReviewBuilder.result()``: plain JSON, so it travels in XCom and renders in a HITL body."""

    collections: dict[str, CollectionReview]
    balance: BalanceCheck
    unmapped: UnmappedCheck
    accounts: dict[str, dict[str, AccountTotals]]  # collection -> GL account -> totals
    max_listed: int


def lines_of(item: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The lines under ``name``: a list of objects, or one object (an expense's offset)."""
    value = item.get(name)
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _has_account(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def document_ref(collection: str, item: dict[str, Any]) -> DocumentRef:
    ref: DocumentRef = {"collection": collection, "id": item.get("id")}
    if item.get("documentNumber") not in (None, ""):
        ref["document_number"] = str(item["documentNumber"])
    return ref


class ReviewBuilder:
    """Fed every root item; ``result()`` is the review. Its documents, totals and GL entry ids
    (``contents``) are the summary's too."""

    def __init__(self) -> None:
        self.contents = Contents()
        self.checked = self.unbalanced_count = self.unmapped_count = 0
        self.unbalanced: list[UnbalancedDocument] = []
        self.unmapped: list[UnmappedDocument] = []
        self.accounts: dict[str, dict[str, list[Decimal]]] = {}

    def add(self, collection: str, item: dict[str, Any], ids: Collection[int] = ()) -> Decimal | None:
        """Count ``item`` (with the GL entry ids it contributes) and check it; returns its total."""
        total = money(item.get("total"))
        self.contents.add(collection, total, ids)
        if collection in ACCOUNT_FIELDS:
            self._check_accounts(collection, item)
        if collection in BALANCED_LINES:
            with localcontext(EXACT):  # a sum of money is never rounded
                self._check_balance(collection, item, total)
        return total

    def _check_accounts(self, collection: str, item: dict[str, Any]) -> None:
        header_field, line_fields = ACCOUNT_FIELDS[collection]
        missing = [] if _has_account(item.get(header_field)) else [f"header {header_field}"]
        for name, field in line_fields.items():
            for n, line in enumerate(lines_of(item, name), 1):
                if not _has_account(line.get(field)):
                    missing.append(f"{name} line {n} {field}" if name != "offset" else f"offset {field}")
        if missing:
            self.unmapped_count += 1
            if len(self.unmapped) < MAX_LISTED_DOCUMENTS:
                self.unmapped.append({**document_ref(collection, item), "missing": missing})

    def _check_balance(self, collection: str, item: dict[str, Any], total: Decimal | None) -> None:
        header = total or Decimal(0)
        header_field = ACCOUNT_FIELDS[collection][0]
        self._post(collection, item.get(header_field), header)
        lines = Decimal(0)
        for name in BALANCED_LINES[collection]:
            for line in lines_of(item, name):
                amount = money(line.get("total")) or Decimal(0)
                lines += amount
                self._post(collection, line.get("accountNumber"), amount)
        self.checked += 1
        if header + lines != 0:
            self.unbalanced_count += 1
            if len(self.unbalanced) < MAX_LISTED_DOCUMENTS:
                self.unbalanced.append(
                    {
                        **document_ref(collection, item),
                        "total": format(header, "f"),
                        "lines": format(-lines, "f"),
                    }
                )

    def _post(self, collection: str, account: Any, amount: Decimal) -> None:
        accounts = self.accounts.setdefault(collection, {})
        name = str(account).strip() if _has_account(account) else NO_ACCOUNT
        if name not in accounts and len(accounts) >= MAX_ACCOUNTS:
            name = OTHER_ACCOUNTS
        sums = accounts.setdefault(name, [Decimal(0), Decimal(0)])
        if amount >= 0:
            sums[0] += amount
        else:
            sums[1] -= amount

    def _collection(self, collection: str, count: int) -> CollectionReview:
        review: CollectionReview = {"count": count}
        if collection in self.contents.totals:
            review["total"] = format(self.contents.totals[collection], "f")
        return review

    def result(self) -> Review:
        return {
            "collections": {c: self._collection(c, n) for c, n in self.contents.counts.items()},
            "balance": {
                "checked": self.checked,
                "unbalanced_count": self.unbalanced_count,
                "unbalanced": list(self.unbalanced),
                "ok": self.unbalanced_count == 0,
            },
            "unmapped": {"count": self.unmapped_count, "documents": list(self.unmapped)},
            "accounts": {
                c: {
                    a: {"debit": format(d, "f"), "credit": format(cr, "f")}
                    for a, (d, cr) in sorted(acc.items())
                }
                for c, acc in self.accounts.items()
            },
            "max_listed": MAX_LISTED_DOCUMENTS,
        }


def _cell(value: Any) -> str:
    """Text safe in a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _doc(ref: DocumentRef) -> str:
    number = f" (document {_cell(ref['document_number'])})" if ref.get("document_number") else ""
    return f"{_cell(ref['collection'])} id {_cell(ref['id'])}{number}"


def render_review(review: Review, title: str | None = None) -> str:
    """The review as Markdown: what needs attention first, then documents, then GL accounts."""
    out: list[str] = [f"# {title}", ""] if title else []
    balance, unmapped = review["balance"], review["unmapped"]
    if balance["unbalanced_count"] or unmapped["count"]:
        out += ["## Needs attention", ""]
        for count, heading, listed in (
            (
                balance["unbalanced_count"],
                "unbalanced document(s)** (header total is not minus the sum of its lines):",
                [
                    f"- {_doc(d)}: total {_cell(d['total'])}, lines {_cell(d['lines'])}"
                    for d in balance["unbalanced"]
                ],
            ),
            (
                unmapped["count"],
                "document(s) without a GL account number:**",
                [f"- {_doc(d)}: no {_cell(', '.join(d['missing']))}" for d in unmapped["documents"]],
            ),
        ):
            if count:
                out += [f"**{count} {heading}", "", *listed]
                if count > len(listed):
                    out.append(f"- … and {count - len(listed)} more")
                out.append("")
    else:
        out += [
            f"Every document has its GL account numbers; {balance['checked']} checked document(s) balance.",
            "",
        ]
    out += ["## Documents", "", "| Collection | Documents | Total |", "|---|---:|---:|"]
    for collection, values in review["collections"].items():
        out.append(f"| {_cell(collection)} | {values['count']} | {_cell(values.get('total', ''))} |")
    out.append("")
    for collection, accounts in review["accounts"].items():
        out += [f"## GL accounts: {_cell(collection)}", "", "| Account | Debit | Credit |", "|---|---:|---:|"]
        out += [f"| {_cell(a)} | {v['debit']} | {v['credit']} |" for a, v in accounts.items()]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
