"""One GLExport document as the Xero document that books it, or the reason it cannot be.

Plain Python: no HTTP, no Airflow. The rules and sign conventions are on ``docs/xero-mapping.md``;
in short, GLExport signs amounts as the ledger does (positive = debit: an invoice's header total is
the receivable, its revenue lines are negative, and the header equals minus the sum of its lines),
while Xero wants documents with positive lines and computes their totals itself. So:

- ``transactions`` ``INVOICE`` → ``ACCREC`` invoice, ``CREDIT MEMO`` → ``ACCRECCREDIT`` credit
  note; ``purchaseTransactions`` → ``ACCPAY`` bill (a negative one → ``ACCPAYCREDIT``);
  ``expenseBills`` → ``ACCPAY`` bill; ``expenses``, ``adjustmentTransactions``,
  ``inventoryTransfers`` → manual journals (debits positive, as GLExport signs them).
- Xero's line amount is the GLExport line total times ``sign``: -1 for an invoice or a bill (the
  header is minus its lines), +1 for a credit memo or a negative purchase.
- Tax lines (``glTypeId`` ``ST``, ``purchaseDetailTax``) are not lines in Xero: Xero computes tax
  per line from each line's ``TaxType``; their sum is the tax Xero must arrive at. Rounding per line
  may differ from ConnectWise's rounding of the whole by a cent, or half a cent per line; within that,
  lines carry a ``TaxAmount`` override so Xero's total is ConnectWise's to the cent. Beyond it (a
  TaxType whose rate is not ConnectWise's) the document is refused, never loaded with another total.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS
from airflow_provider_cwgl.glexport.request import LITERAL_ERRORS, read_literal

CENT = Decimal("0.01")
INVOICE_STATUSES = ("DRAFT", "AUTHORISED")
# A manual journal's status for each invoice_status: Xero journals are posted, not authorised.
JOURNAL_STATUS = {"DRAFT": "DRAFT", "AUTHORISED": "POSTED"}
# Xero's system accounts a manual journal cannot post to (receivables and payables).
AR_AP_SYSTEM_ACCOUNTS = frozenset({"DEBTORS", "CREDITORS"})
SALES_TAX_LINE = "ST"  # glTypeId of a transaction's sales tax line
MAX_CONTACT_NUMBER = 50  # Xero: ContactNumber max length
MAX_NARRATION_DESCRIPTION = 200

Endpoint = Literal["Invoices", "CreditNotes", "ManualJournals"]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class MappingSettings:
    """``account_codes``: ConnectWise GL account number → Xero account code (unlisted: the same
    code); ``tax_types``: ConnectWise tax code → Xero ``TaxType``; ``invoice_status``: ``DRAFT`` or
    ``AUTHORISED`` (journals: ``DRAFT`` or ``POSTED``)."""

    account_codes: Mapping[str, str] = field(default_factory=dict)
    tax_types: Mapping[str, str] = field(default_factory=dict)
    invoice_status: str = "DRAFT"

    @classmethod
    def parse(
        cls, account_codes: Any = None, tax_types: Any = None, invoice_status: Any = None
    ) -> MappingSettings:
        """The operator's settings, checked: each error names the setting and what it accepts."""
        status = "DRAFT" if is_blank(invoice_status) else str(invoice_status).strip().upper()
        if status not in INVOICE_STATUSES:
            raise SettingError(
                "invoice_status", f"got {invoice_status!r}; accepted: {', '.join(INVOICE_STATUSES)}"
            )
        return cls(
            account_codes=_text_map("account_codes", account_codes),
            tax_types=_text_map("tax_types", tax_types),
            invoice_status=status,
        )


def _text_map(setting: str, value: Any) -> dict[str, str]:
    if is_blank(value):
        return {}
    if isinstance(value, str):
        try:
            value = read_literal(value)
        except LITERAL_ERRORS as exc:
            raise SettingError(setting, "expected a dict of ConnectWise code → Xero code") from exc
    if not isinstance(value, Mapping):
        raise SettingError(
            setting, f"expected a dict of ConnectWise code → Xero code, got {type(value).__name__}"
        )
    out: dict[str, str] = {}
    for key, code in value.items():
        if not isinstance(key, (str, int)) or not isinstance(code, (str, int)) or isinstance(code, bool):
            raise SettingError(setting, f"{key!r}: {code!r}: expected text on both sides")
        if not str(key).strip() or not str(code).strip():
            raise SettingError(setting, f"{key!r}: {code!r}: an empty code")
        out[str(key).strip()] = str(code).strip()
    return out


@dataclass(frozen=True)
class Tenant:
    """What the mapping needs to know of the Xero organisation: each ``TaxType``'s rate (percent,
    from ``GET TaxRates``) and the system accounts by code (from ``GET Accounts``)."""

    tax_rates: Mapping[str, Decimal] = field(default_factory=dict)
    system_accounts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactRef:
    """The ConnectWise party a document is with: ``ContactNumber`` and ``Name`` in Xero."""

    number: str
    name: str


@dataclass
class XeroDocument:
    """A document ready to send: ``payload`` lacks only ``Contact`` (the loader adds its
    ``ContactID``). ``key`` is what the loader looks it up by; ``total`` is ConnectWise's (absolute)
    and equals the total Xero computes for ``payload``."""

    collection: str
    id: Any
    endpoint: Endpoint
    type: str  # ACCREC, ACCRECCREDIT, ACCPAY, ACCPAYCREDIT, or MANUALJOURNAL
    number: str  # InvoiceNumber, CreditNoteNumber or Narration
    payload: dict[str, Any]
    total: Decimal
    contact: ContactRef | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """ACCREC numbers are unique in Xero, ACCPAY ones only per contact (pyxero #328)."""
        per_contact = self.type in ("ACCPAY", "ACCPAYCREDIT")
        return self.type, (self.contact.number if per_contact and self.contact else ""), self.number


@dataclass
class Refusal:
    """A document that is not loaded, and why (``messages``: Xero's own, when Xero refused it)."""

    collection: str
    id: Any
    reason: str
    messages: list[str] = field(default_factory=list)


class _Refused(Exception):
    pass


def amount(value: Any) -> Decimal | None:
    """An amount as GLExport JSON (int, Decimal) or XML (text) carries it; None when absent."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, str) and value.strip():
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def cents(value: Decimal) -> Decimal:
    """Rounded to the cent as Xero rounds (half away from zero)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_xero(
    collection: str, item: Mapping[str, Any], settings: MappingSettings, tenant: Tenant
) -> XeroDocument | Refusal:
    """The Xero document for one GLExport root item, or a ``Refusal`` saying why there is none."""
    try:
        if collection in PARTY_COLLECTIONS:
            raise _Refused(f"{collection} are parties, not documents")
        mapper = _MAPPERS.get(collection)
        if mapper is None:
            raise _Refused(f"no Xero document for the collection {collection!r}")
        return mapper(_Doc(collection, item, settings, tenant))
    except _Refused as refused:
        return Refusal(collection, item.get("id"), str(refused))


@dataclass
class _Doc:
    collection: str
    item: Mapping[str, Any]
    settings: MappingSettings
    tenant: Tenant

    def total(self) -> Decimal:
        total = amount(self.item.get("total"))
        if total is None:
            raise _Refused("the document has no total")
        return total

    def account(self, line: Mapping[str, Any], where: str, *fields: str) -> str:
        for name in fields or ("accountNumber",):
            number = line.get(name)
            if not is_blank(number) and str(number).strip():
                code = str(number).strip()
                return self.settings.account_codes.get(code, code)
        raise _Refused(f"{where} has no GL account number ({' or '.join(fields or ('accountNumber',))})")

    def date(self, *names: str) -> str | None:
        for name in names:
            value = self.item.get(name)
            if isinstance(value, str) and _DATE.match(value):
                return value[:10]
        return None

    def currency(self, *names: str) -> dict[str, str]:
        for name in names:
            ref = self.item.get(name)
            if isinstance(ref, Mapping):
                code = ref.get("currencyCode") or ref.get("currencyIdentifier")
                if isinstance(code, Mapping):
                    code = code.get("name")
                if isinstance(code, str) and code.strip():
                    return {"CurrencyCode": code.strip().upper()}
        return {}

    def number(self, name: str) -> str:
        value = self.item.get(name)
        if is_blank(value) or not str(value).strip():
            raise _Refused(f"the document has no {name}")
        return str(value).strip()


def _lines(item: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    value = item.get(name)
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _contact(ref: Any, what: str) -> ContactRef:
    if not isinstance(ref, Mapping):
        raise _Refused(f"the document names no {what}")
    number = ref.get("identifier") or ref.get("id")
    if is_blank(number) or not str(number).strip():
        raise _Refused(f"the {what} has no identifier")
    number = str(number).strip()
    if len(number) > MAX_CONTACT_NUMBER:
        raise _Refused(
            f"the {what}'s identifier {number!r} is longer than Xero's ContactNumber ({MAX_CONTACT_NUMBER})"
        )
    name = ref.get("name")
    return ContactRef(number, str(name).strip() if isinstance(name, str) and name.strip() else number)


def _description(line: Mapping[str, Any], fallback: str) -> str:
    for name in ("description", "memo", "salesDescription", "itemDescription"):
        value = line.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return fallback


def _tax_code(line: Mapping[str, Any], header: Mapping[str, Any]) -> str | None:
    for where, name in ((line, "taxCodeXref"), (header, "purchaseHeaderTaxGroup"), (header, "stateTaxXref")):
        value = where.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    for where in (line, header):
        ref = where.get("taxCode")
        if isinstance(ref, Mapping) and isinstance(ref.get("name"), str) and ref["name"].strip():
            return str(ref["name"]).strip()
    return None


def _document(
    doc: _Doc,
    *,
    kind: str,
    number: str,
    lines: list[Mapping[str, Any]],
    tax_lines: list[Mapping[str, Any]],
    sign: int,
    contact: ContactRef,
    extra: dict[str, Any],
) -> XeroDocument:
    """An invoice, bill or credit note whose Xero total is ``|total|``, tax included."""
    total = doc.total()
    expected = abs(total)
    amounts = []
    for n, line in enumerate(lines, 1):
        value = amount(line.get("total"))
        if value is None:
            raise _Refused(f"line {n} has no total")
        amounts.append(value * sign)
    tax_total = Decimal(0)
    for line in tax_lines:
        tax_total += (amount(line.get("total")) or Decimal(0)) * sign
    if sum(amounts, Decimal(0)) + tax_total != expected:
        raise _Refused(
            f"the lines ({sum(amounts, Decimal(0)) + tax_total}) do not add up to the total ({expected}) "
            "in GLExport's convention (header = minus the sum of its lines)"
        )
    if not lines:
        raise _Refused("the document has no lines")
    items: list[dict[str, Any]] = []
    for n, (line, value) in enumerate(zip(lines, amounts, strict=True), 1):
        entry: dict[str, Any] = {"Description": _description(line, f"Line {n}")}
        entry |= _quantity(line, value)
        entry |= {"LineAmount": value, "AccountCode": doc.account(line, f"line {n}")}
        items.append(entry)
    if tax_total == 0:
        line_types = "NoTax"
    else:
        line_types = "Exclusive"
        _apply_tax(doc, lines, amounts, items, tax_total)
    payload: dict[str, Any] = {"Type": kind, **extra, "LineAmountTypes": line_types}
    payload |= {"Status": doc.settings.invoice_status, "LineItems": items}
    endpoint: Endpoint = "CreditNotes" if kind.endswith("CREDIT") else "Invoices"
    return XeroDocument(
        doc.collection, doc.item.get("id"), endpoint, kind, number, payload, expected, contact
    )


def _quantity(line: Mapping[str, Any], value: Decimal) -> dict[str, Any]:
    """``Quantity`` and ``UnitAmount`` whose product is the line amount exactly (Xero rounds unit
    amounts to 2 decimals unless asked otherwise), else one unit of the whole amount."""
    quantity = amount(line.get("quantity"))
    if quantity is not None and quantity != 0:
        quantity = abs(quantity)
        unit = value / quantity
        if unit == unit.quantize(CENT) and cents(unit) * quantity == value:
            return {"Quantity": quantity, "UnitAmount": cents(unit)}
    return {"Quantity": Decimal(1), "UnitAmount": value}


def _apply_tax(
    doc: _Doc,
    lines: list[Mapping[str, Any]],
    amounts: list[Decimal],
    items: list[dict[str, Any]],
    tax_total: Decimal,
) -> None:
    """Each line's TaxType, and TaxAmount overrides when Xero's per-line rounding misses
    ConnectWise's tax by no more than rounding explains (``rounding_tolerance``)."""
    exact: list[Decimal] = []
    for n, (line, entry) in enumerate(zip(lines, items, strict=True), 1):
        code = _tax_code(line, doc.item)
        if code is None:
            raise _Refused(f"line {n} has no tax code, and the document has tax ({tax_total})")
        tax_type = doc.settings.tax_types.get(code)
        if tax_type is None:
            raise _Refused(f"line {n}: the ConnectWise tax code {code!r} is not in tax_types")
        rate = doc.tenant.tax_rates.get(tax_type)
        if rate is None:
            raise _Refused(
                f"line {n}: the TaxType {tax_type!r} (for {code!r}) is not one of the organisation's tax rates"
            )
        entry["TaxType"] = tax_type
        exact.append(amounts[n - 1] * rate / 100)
    rounded = [cents(t) for t in exact]
    gap = tax_total - sum(rounded, Decimal(0))
    taxed = sum(1 for t in exact if t != 0)
    if abs(gap) > rounding_tolerance(taxed):
        raise _Refused(
            f"Xero would compute tax {sum(rounded, Decimal(0))}, ConnectWise's is {tax_total}: "
            "more than per-line rounding explains; check tax_types (Xero's rates: "
            + ", ".join(
                f"{items[i]['TaxType']} {doc.tenant.tax_rates[items[i]['TaxType']]}%"
                for i in range(len(items))
            )
            + ")"
        )
    if gap:
        # One cent each to the lines whose rounding lost the most, as rounding the whole would have.
        step = CENT if gap > 0 else -CENT
        lost = sorted(range(len(exact)), key=lambda i: (exact[i] - rounded[i]) * step, reverse=True)
        for i in lost[: int(abs(gap) / CENT)]:
            rounded[i] += step
    for entry, tax in zip(items, rounded, strict=True):
        entry["TaxAmount"] = tax


def rounding_tolerance(taxed_lines: int) -> Decimal:
    """How far Xero's tax (rounded per line) may be from ConnectWise's and still be rounding: a cent
    (another rounding rule on one amount), or half a cent per taxed line when that is more."""
    return max(CENT, (CENT * taxed_lines / 2).quantize(CENT, rounding=ROUND_DOWN))


def _transaction(doc: _Doc) -> XeroDocument:
    kind_text = str(doc.item.get("documentType") or "").strip().upper()
    total = doc.total()
    if kind_text == "INVOICE":
        if total < 0:
            raise _Refused(f"an INVOICE with a negative total ({total}); Xero invoices cannot be negative")
        kind, sign = "ACCREC", -1
    elif kind_text == "CREDIT MEMO":
        if total > 0:
            raise _Refused(f"a CREDIT MEMO with a positive total ({total})")
        kind, sign = "ACCRECCREDIT", 1
    else:
        raise _Refused(f"documentType {doc.item.get('documentType')!r} is neither INVOICE nor CREDIT MEMO")
    number = doc.number("documentNumber")
    details = _lines(doc.item, "detail")
    lines = [d for d in details if str(d.get("glTypeId") or "").strip().upper() != SALES_TAX_LINE]
    taxes = [d for d in details if str(d.get("glTypeId") or "").strip().upper() == SALES_TAX_LINE]
    extra: dict[str, Any] = {"CreditNoteNumber" if kind == "ACCRECCREDIT" else "InvoiceNumber": number}
    extra |= _dates(doc, ("documentDate",), "dueDate") | doc.currency("currency")
    return _document(
        doc,
        kind=kind,
        number=number,
        lines=lines,
        tax_lines=taxes,
        sign=sign,
        contact=_contact(doc.item.get("company"), "company"),
        extra=extra,
    )


def _purchase(doc: _Doc) -> XeroDocument:
    total = doc.total()
    kind, sign = ("ACCPAY", -1) if total >= 0 else ("ACCPAYCREDIT", 1)
    number = doc.number("vendorInvoiceNumber")
    extra: dict[str, Any] = {"CreditNoteNumber" if kind == "ACCPAYCREDIT" else "InvoiceNumber": number}
    dates = _dates(doc, ("vendorInvoiceDate", "documentDate"))
    days = str(doc.item.get("dueDays") or "").strip()
    if "Date" in dates and days.isdigit():
        dates["DueDate"] = (date.fromisoformat(dates["Date"]) + timedelta(days=int(days))).isoformat()
    extra |= dates | doc.currency("currency")
    return _document(
        doc,
        kind=kind,
        number=number,
        lines=_lines(doc.item, "purchaseDetail"),
        tax_lines=_lines(doc.item, "purchaseDetailTax"),
        sign=sign,
        contact=_contact(doc.item.get("company"), "vendor"),
        extra=extra,
    )


def _expense_bill(doc: _Doc) -> XeroDocument:
    total = doc.total()
    if total < 0:
        raise _Refused(f"an expense bill with a negative total ({total})")
    lines = _lines(doc.item, "detail")
    line_sum = sum((amount(line.get("total")) or Decimal(0) for line in lines), Decimal(0))
    # The samples show no expense bill: its lines may be signed as its total or against it.
    sign = 1 if line_sum == total else -1
    number = doc.number("documentNumber")
    extra: dict[str, Any] = {"InvoiceNumber": number} | _dates(doc, ("documentDate",))
    extra |= doc.currency("currency")
    return _document(
        doc,
        kind="ACCPAY",
        number=number,
        lines=lines,
        tax_lines=[],
        sign=sign,
        contact=_contact(doc.item.get("member"), "member"),
        extra=extra,
    )


def _dates(doc: _Doc, issued: tuple[str, ...], due: str | None = None) -> dict[str, Any]:
    """``Date`` (the first of ``issued`` present) and ``DueDate`` (``due``, else the date itself:
    Xero asks a due date of an approved invoice)."""
    day = doc.date(*issued)
    if day is None:
        raise _Refused(f"the document has no {' or '.join(issued)}")
    return {"Date": day, "DueDate": (doc.date(due) if due else None) or day}


def _journal(doc: _Doc, entries: list[tuple[str, Decimal, str]]) -> XeroDocument:
    """A manual journal of (account code, amount signed as GLExport signs it, description)."""
    if sum((e[1] for e in entries), Decimal(0)) != 0:
        raise _Refused(
            f"its debits and credits do not balance ({sum((e[1] for e in entries), Decimal(0))}): "
            "a manual journal must sum to zero"
        )
    if all(e[1] == 0 for e in entries):
        raise _Refused("every amount is zero: nothing to journal")
    for code, _, _ in entries:
        system = doc.tenant.system_accounts.get(code)
        if system in AR_AP_SYSTEM_ACCOUNTS:
            raise _Refused(
                f"account {code} is Xero's {system} system account, which manual journals cannot post "
                "to; map it in account_codes to a clearing account"
            )
    day = doc.date("documentDate")
    if day is None:
        raise _Refused("the document has no documentDate")
    description = _description(doc.item, "")[:MAX_NARRATION_DESCRIPTION]
    narration = f"ConnectWise {doc.collection} {doc.item.get('id')}" + (
        f": {description}" if description else ""
    )
    lines = [
        {"LineAmount": value, "AccountCode": code, "Description": text}
        for code, value, text in entries
        if value != 0
    ]
    payload: dict[str, Any] = {"Narration": narration, "Date": day, "LineAmountTypes": "NoTax"}
    payload |= {"Status": JOURNAL_STATUS[doc.settings.invoice_status], "JournalLines": lines}
    debits = sum((e[1] for e in entries if e[1] > 0), Decimal(0))
    return XeroDocument(
        doc.collection, doc.item.get("id"), "ManualJournals", "MANUALJOURNAL", narration, payload, debits
    )


def _offset_journal(doc: _Doc) -> XeroDocument:
    """An expense or an inventory transfer: the header against its offset."""
    total = doc.total()
    offsets = _lines(doc.item, "offset")
    if not offsets:
        raise _Refused("the document has no offset")
    entries = [(doc.account(doc.item, "the header"), total, _description(doc.item, doc.collection))]
    for n, offset in enumerate(offsets, 1):
        value = amount(offset.get("total"))
        if value is None:
            raise _Refused(f"offset {n} has no total")
        entries.append((doc.account(offset, f"offset {n}"), value, _description(offset, "Offset")))
    return _journal(doc, entries)


def _adjustment(doc: _Doc) -> XeroDocument:
    """Each line on its account; the header's account takes the opposite of their sum (GLExport
    gives an adjustment no header total)."""
    entries: list[tuple[str, Decimal, str]] = []
    for n, line in enumerate(_lines(doc.item, "adjustmentDetail"), 1):
        value = amount(line.get("total"))
        if value is None:
            raise _Refused(f"line {n} has no total")
        code = doc.account(line, f"line {n}", "inventoryAccountNumber", "accountNumber")
        entries.append((code, value, _description(line, f"Line {n}")))
    if not entries:
        raise _Refused("the adjustment has no lines")
    header = doc.account(doc.item, "the header")
    text = str(doc.item.get("adjustmentDescription") or "Adjustment")
    entries.append((header, -sum((e[1] for e in entries), Decimal(0)), text))
    return _journal(doc, entries)


_MAPPERS = {
    "transactions": _transaction,
    "purchaseTransactions": _purchase,
    "expenseBills": _expense_bill,
    "expenses": _offset_journal,
    "inventoryTransfers": _offset_journal,
    "adjustmentTransactions": _adjustment,
}
