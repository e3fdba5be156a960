"""The sandbox Xero's books: one organisation's chart of accounts, tax rates, contacts and documents,
with Xero's validation and totals.

Plain Python, no HTTP: ``server.py`` serves it and tests may inspect or change it directly. Records
are kept in the form Xero answers with (``/Date(…)/`` dates, money as exact decimals), so a GET
returns what a write stored.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

Record = dict[str, Any]
CENT = Decimal("0.01")
# The writable collections, the document types each takes, the id and number fields, and the
# number prefix Xero's default invoice settings give an unnumbered sales document.
WRITABLE = ("Contacts", "Invoices", "CreditNotes", "ManualJournals")
DOCUMENT_TYPES = {"Invoices": ("ACCREC", "ACCPAY"), "CreditNotes": ("ACCRECCREDIT", "ACCPAYCREDIT")}
ID_FIELD = {"Contacts": "ContactID", "Invoices": "InvoiceID", "CreditNotes": "CreditNoteID"}
ID_FIELD |= {"ManualJournals": "ManualJournalID", "Accounts": "AccountID"}
NUMBER_FIELD = {"Invoices": "InvoiceNumber", "CreditNotes": "CreditNoteNumber"}
# Sales documents are numbered, and unique, in the organisation; bills carry the supplier's number.
UNIQUE_NUMBER_TYPE = {"Invoices": "ACCREC", "CreditNotes": "ACCRECCREDIT"}
NUMBER_PREFIX = {"Invoices": "INV-", "CreditNotes": "CN-"}
CREATE_STATUSES = {
    "Invoices": ("DRAFT", "SUBMITTED", "AUTHORISED"),
    "CreditNotes": ("DRAFT", "SUBMITTED", "AUTHORISED"),
    "ManualJournals": ("DRAFT", "POSTED"),
}
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
# Manual journals post to ledgers directly; receivables and payables move only through documents.
JOURNAL_FORBIDDEN_SYSTEM_ACCOUNTS = ("DEBTORS", "CREDITORS")

# (Code, Name, Type, TaxType, SystemAccount): a small chart in the style of Xero's demo company.
DEFAULT_ACCOUNTS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("090", "Business Bank Account", "BANK", "NONE", None),
    ("200", "Sales", "REVENUE", "OUTPUT", None),
    ("260", "Other Revenue", "REVENUE", "OUTPUT", None),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT", None),
    ("400", "Advertising", "OVERHEADS", "INPUT", None),
    ("429", "General Expenses", "OVERHEADS", "INPUT", None),
    ("610", "Accounts Receivable", "CURRENT", "NONE", "DEBTORS"),
    ("630", "Inventory", "INVENTORY", "NONE", None),
    ("800", "Accounts Payable", "CURRLIAB", "NONE", "CREDITORS"),
    ("820", "Sales Tax", "CURRLIAB", "NONE", "GST"),
    ("960", "Retained Earnings", "EQUITY", "NONE", "RETAINEDEARNINGS"),
)
# (TaxType, Name, rate in percent, ReportTaxType)
DEFAULT_TAX_RATES: tuple[tuple[str, str, str, str], ...] = (
    ("NONE", "No Tax", "0", "NONE"),
    ("OUTPUT", "Tax on Sales", "15", "OUTPUT"),
    ("INPUT", "Tax on Purchases", "15", "INPUT"),
    ("EXEMPTOUTPUT", "Exempt Sales", "0", "EXEMPTOUTPUT"),
    ("EXEMPTINPUT", "Exempt Purchases", "0", "EXEMPTINPUT"),
    ("ZERORATEDOUTPUT", "Zero Rated Sales", "0", "OUTPUT"),
)
_CLASS = {"BANK": "ASSET", "CURRENT": "ASSET", "INVENTORY": "ASSET", "FIXED": "ASSET"}
_CLASS |= {"CURRLIAB": "LIABILITY", "LIABILITY": "LIABILITY", "TERMLIAB": "LIABILITY", "EQUITY": "EQUITY"}
_CLASS |= {"REVENUE": "REVENUE", "SALES": "REVENUE", "OTHERINCOME": "REVENUE"}


def xero_date(moment: datetime | date) -> str:
    """Xero's JSON date: ``/Date(1518685950940+0000)/`` (milliseconds since the epoch, UTC)."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return str(uuid.uuid4())


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


class Invalid(Exception):
    """One element's validation errors, in Xero's words."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass
class WriteResult:
    """What a write made of each element: the stored record, or the element with its errors."""

    elements: list[Record]
    errors: bool


@dataclass
class XeroStore:
    """One Xero organisation (tenant). Thread-safe: writes and reads take ``lock``."""

    name: str = "Sandbox Company"
    tenant_id: str = field(default_factory=_new_id)
    connection_id: str = field(default_factory=_new_id)
    base_currency: str = "USD"
    currencies: set[str] = field(default_factory=lambda: {"USD", "EUR", "GBP", "CAD", "AUD", "NZD"})
    accounts: list[Record] = field(default_factory=list)
    tax_rates: list[Record] = field(default_factory=list)
    records: dict[str, dict[str, Record]] = field(default_factory=lambda: {c: {} for c in WRITABLE})
    today: Callable[[], date] = field(default=lambda: now_utc().date())
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        if not self.accounts:
            for code, name, kind, tax_type, system in DEFAULT_ACCOUNTS:
                self.add_account(code, name, kind, tax_type, system)
        if not self.tax_rates:
            for tax_type, name, rate, report in DEFAULT_TAX_RATES:
                self.add_tax_rate(tax_type, name, Decimal(rate), report)

    # -- set-up and inspection, for tests -----------------------------------------------------------
    def add_account(
        self, code: str, name: str, kind: str = "OVERHEADS", tax_type: str = "NONE", system: str | None = None
    ) -> Record:
        """Add an account to the chart (``kind`` is Xero's account ``Type``)."""
        account: Record = {
            "AccountID": _new_id(),
            "Code": code,
            "Name": name,
            "Status": "ACTIVE",
            "Type": kind,
        }
        account |= {
            "TaxType": tax_type,
            "Class": _CLASS.get(kind, "EXPENSE"),
            "EnablePaymentsToAccount": False,
        }
        account |= {"ShowInExpenseClaims": False, "BankAccountType": "BANK" if kind == "BANK" else ""}
        account |= {"ReportingCode": "", "HasAttachments": False, "UpdatedDateUTC": xero_date(now_utc())}
        account |= {"AddToWatchlist": False} | ({"SystemAccount": system} if system else {})
        with self.lock:
            self.accounts.append(account)
        return account

    def add_tax_rate(
        self, tax_type: str, name: str, rate: Decimal, report_tax_type: str = "OUTPUT"
    ) -> Record:
        """Add a tax rate (``rate`` in percent: ``Decimal("7.5")``)."""
        rate = Decimal(rate)
        component = {"Name": name, "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}
        tax_rate: Record = {"Name": name, "TaxType": tax_type, "ReportTaxType": report_tax_type}
        tax_rate |= {"CanApplyToAssets": True, "CanApplyToEquity": True, "CanApplyToExpenses": True}
        tax_rate |= {"CanApplyToLiabilities": True, "CanApplyToRevenue": True, "DisplayTaxRate": rate}
        tax_rate |= {"EffectiveRate": rate, "Status": "ACTIVE", "TaxComponents": [component]}
        with self.lock:
            self.tax_rates.append(tax_rate)
        return tax_rate

    def add_contact(self, name: str, number: str | None = None) -> Record:
        """Add a contact as if it had been created in Xero before the test."""
        with self.lock:
            return self._store("Contacts", self._new_contact({"Name": name, "ContactNumber": number}))

    @property
    def contacts(self) -> list[Record]:
        return list(self.records["Contacts"].values())

    @property
    def invoices(self) -> list[Record]:
        """Sales invoices and bills, in the order they were created."""
        return list(self.records["Invoices"].values())

    @property
    def credit_notes(self) -> list[Record]:
        return list(self.records["CreditNotes"].values())

    @property
    def manual_journals(self) -> list[Record]:
        return list(self.records["ManualJournals"].values())

    def find(self, collection: str, **fields: Any) -> list[Record]:
        """The records of ``collection`` whose top-level fields equal ``fields``."""
        with self.lock:
            return [
                r for r in self.records[collection].values() if all(r.get(k) == v for k, v in fields.items())
            ]

    def account(self, code: str) -> Record | None:
        return next((a for a in self.accounts if a["Code"] == code and a["Status"] == "ACTIVE"), None)

    def tax_rate(self, tax_type: str) -> Record | None:
        return next((t for t in self.tax_rates if t["TaxType"] == tax_type and t["Status"] == "ACTIVE"), None)

    # -- writes ---------------------------------------------------------------------------------------
    def write(
        self, collection: str, elements: Iterable[Any], *, match_numbers: bool, atomic: bool
    ) -> WriteResult:
        """Create or update each element of a PUT or POST body, as Xero does.

        ``match_numbers`` (POST): a sales document or contact named by number updates that one.
        ``atomic`` (``summarizeErrors`` true): one element in error saves nothing; otherwise each
        valid element is saved and each invalid one comes back with its ``ValidationErrors``.
        """
        with self.lock:
            snapshot = {c: dict(r) for c, r in self.records.items()}
            results: list[Record] = []
            failed = False
            for element in elements:
                try:
                    if not isinstance(element, dict):
                        raise Invalid("Each element must be an object.")
                    results.append(self._write_one(collection, element, match_numbers))
                except Invalid as refused:
                    failed = True
                    errors = [{"Message": m} for m in refused.messages]
                    echoed = element if isinstance(element, dict) else {}
                    results.append({**echoed, "HasErrors": True, "ValidationErrors": errors})
            if failed and atomic:
                self.records = snapshot
            return WriteResult([_status_attribute(collection, r) for r in results], failed)

    def _write_one(self, collection: str, element: Record, match_numbers: bool) -> Record:
        existing = self._existing(collection, element, match_numbers)
        if collection == "Contacts":
            return self._store(collection, self._contact(element, existing, match_numbers))
        if collection == "ManualJournals":
            return self._store(collection, self._journal(element, existing))
        return self._store(collection, self._document(collection, element, existing))

    def _existing(self, collection: str, element: Record, match_numbers: bool) -> Record | None:
        """The stored record an element updates: by id, or (POST) by sales number or contact number."""
        records = self.records[collection]
        identifier = element.get(ID_FIELD[collection])
        if identifier:
            found = records.get(str(identifier).lower())
            if found is None:
                raise Invalid("The document with the supplied id was not found for this endpoint.")
            return found
        if not match_numbers:
            return None
        if collection == "Contacts" and element.get("ContactNumber"):
            return self._contact_by("ContactNumber", element["ContactNumber"])
        if collection in NUMBER_FIELD and element.get(NUMBER_FIELD[collection]):
            kind = element.get("Type") or UNIQUE_NUMBER_TYPE[collection]
            return self._sales_document(collection, kind, str(element[NUMBER_FIELD[collection]]))
        return None

    def _store(self, collection: str, record: Record) -> Record:
        self.records[collection][record[ID_FIELD[collection]]] = record
        return record

    # -- contacts -------------------------------------------------------------------------------------
    def _contact_by(self, field_name: str, value: Any) -> Record | None:
        wanted = str(value).lower()
        return next(
            (
                c
                for c in self.records["Contacts"].values()
                if c["ContactStatus"] == "ACTIVE" and str(c.get(field_name) or "").lower() == wanted
            ),
            None,
        )

    def _new_contact(self, element: Record) -> Record:
        contact: Record = {"ContactID": _new_id(), "ContactStatus": "ACTIVE", "Name": element["Name"]}
        contact |= {"ContactNumber": element["ContactNumber"]} if element.get("ContactNumber") else {}
        contact |= {"Addresses": [], "Phones": [], "ContactGroups": [], "ContactPersons": []}
        contact |= {"IsSupplier": False, "IsCustomer": False, "HasValidationErrors": False}
        contact |= {"UpdatedDateUTC": xero_date(now_utc())}
        return contact

    def _contact(self, element: Record, existing: Record | None, match_names: bool) -> Record:
        name = str(element.get("Name") or (existing or {}).get("Name") or "").strip()
        if not name:
            raise Invalid("The contact name must be specified.")
        if len(name) > 255:
            raise Invalid("The contact name must be 255 characters or fewer.")
        namesake = self._contact_by("Name", name)
        if namesake is not None and namesake is not existing:
            if existing is None and match_names and "ContactNumber" not in element:
                # POST names an existing contact by its name: Xero updates that one.
                existing = namesake
            else:
                raise Invalid(
                    f"The contact name {name} is already assigned to another contact. "
                    "The contact name must be unique across all active contacts."
                )
        contact = dict(existing) if existing else self._new_contact({"Name": name})
        for key in ("ContactNumber", "AccountNumber", "EmailAddress", "FirstName", "LastName", "TaxNumber"):
            if element.get(key) is not None:
                contact[key] = str(element[key])
        return contact | {"Name": name, "UpdatedDateUTC": xero_date(now_utc())}

    def _document_contact(self, element: Any, collection: str, kind: str, staged: list[Record]) -> Record:
        """The contact a document names: by ContactID, else ContactNumber, else Name (created when no
        contact has it, as Xero does). ``staged`` collects a contact to create with the document."""
        if not isinstance(element, dict) or not any(
            element.get(k) for k in ("ContactID", "ContactNumber", "Name")
        ):
            if not element:
                raise Invalid("A Contact must be specified for this type of transaction")
            raise Invalid(
                "The Contact must contain at least 1 of the following elements to identify the contact: "
                "Name, ContactID, ContactNumber"
            )
        if element.get("ContactID"):
            contact = self.records["Contacts"].get(str(element["ContactID"]).lower())
            if contact is None:
                raise Invalid(f"The contact with ContactID {element['ContactID']} could not be found.")
            return contact
        contact = None
        if element.get("ContactNumber"):
            contact = self._contact_by("ContactNumber", element["ContactNumber"])
        if contact is None and element.get("Name"):
            contact = self._contact_by("Name", element["Name"])
        if contact is None:
            if not element.get("Name"):
                raise Invalid(
                    f"The contact with ContactNumber {element['ContactNumber']} could not be found."
                )
            contact = self._new_contact(element)
            staged.append(contact)
        return contact

    # -- documents ------------------------------------------------------------------------------------
    def _sales_document(self, collection: str, kind: str, number: str) -> Record | None:
        if kind != UNIQUE_NUMBER_TYPE[collection]:
            return None
        number_field = NUMBER_FIELD[collection]
        return next(
            (
                r
                for r in self.records[collection].values()
                if r["Type"] == kind and str(r.get(number_field, "")).lower() == number.lower()
            ),
            None,
        )

    def _document(self, collection: str, element: Record, existing: Record | None) -> Record:
        merged = {**(existing or {}), **element}
        errors: list[str] = []
        kind = merged.get("Type")
        if kind not in DOCUMENT_TYPES[collection]:
            allowed = " or ".join(DOCUMENT_TYPES[collection])
            raise Invalid(
                f"The Type must be {allowed}." if kind else f"A Type ({allowed}) must be specified."
            )
        status = str(merged.get("Status") or "DRAFT")
        allowed_statuses = CREATE_STATUSES[collection] + (("DELETED", "VOIDED") if existing else ())
        if status not in allowed_statuses:
            errors.append(f"The Status {status} is not valid here: use one of {', '.join(allowed_statuses)}.")
        if existing and existing["Status"] in ("PAID", "VOIDED", "DELETED"):
            raise Invalid(f"This document cannot be edited as it has a status of {existing['Status']}.")
        staged: list[Record] = []
        try:
            contact = self._document_contact(merged.get("Contact"), collection, kind, staged)
        except Invalid as refused:
            errors += refused.messages
            contact = None
        number_field = NUMBER_FIELD[collection]
        number = str(merged.get(number_field) or "")
        if kind == UNIQUE_NUMBER_TYPE[collection]:
            if not number:
                number = self._next_number(collection, kind)
            twin = self._sales_document(collection, kind, number)
            if twin is not None and twin is not existing:
                label = "Invoice" if collection == "Invoices" else "Credit Note"
                errors.append(f"{label} # must be unique.")
        currency = str(merged.get("CurrencyCode") or self.base_currency)
        if currency not in self.currencies:
            errors.append(f"The currency {currency} is not enabled for this organisation.")
        line_types = str(merged.get("LineAmountTypes") or "Exclusive")
        dates: dict[str, datetime | None] = {}
        for key in ("Date", "DueDate"):
            try:
                dates[key] = _parse_date(merged.get(key))
            except Invalid as refused:
                errors += refused.messages
                dates[key] = None
        lines, totals = self._lines(merged.get("LineItems"), line_types, status, errors)
        if totals[2] < 0:
            errors.append("The document total cannot be negative.")
        if errors:
            raise Invalid(*errors)
        assert contact is not None  # errors were raised otherwise
        for new in staged:
            self._store("Contacts", new)
        role = "IsCustomer" if kind in ("ACCREC", "ACCRECCREDIT") else "IsSupplier"
        if not contact[role]:
            contact = self._store("Contacts", contact | {role: True})
        moment = now_utc()
        issued = dates["Date"] or datetime.combine(self.today(), datetime.min.time(), timezone.utc)
        record: Record = {
            "Type": kind,
            ID_FIELD[collection]: (existing or {}).get(ID_FIELD[collection], _new_id()),
        }
        if number:
            record[number_field] = number
        record |= {"Reference": str(merged.get("Reference") or "")}
        record |= {
            "Contact": _contact_summary(contact),
            "DateString": _date_string(issued),
            "Date": xero_date(issued),
        }
        if dates["DueDate"] is not None:
            record |= {
                "DueDateString": _date_string(dates["DueDate"]),
                "DueDate": xero_date(dates["DueDate"]),
            }
        record |= {"Status": status, "LineAmountTypes": line_types, "LineItems": lines}
        record |= {"SubTotal": totals[0], "TotalTax": totals[1], "Total": totals[2]}
        record |= {"UpdatedDateUTC": xero_date(moment), "CurrencyCode": currency}
        record |= {"CurrencyRate": Decimal(str(merged.get("CurrencyRate") or 1)), "HasAttachments": False}
        if collection == "Invoices":
            record |= {
                "AmountDue": totals[2],
                "AmountPaid": Decimal("0.00"),
                "AmountCredited": Decimal("0.00"),
            }
            record |= {"IsDiscounted": False, "SentToContact": False, "Payments": [], "Prepayments": []}
            record |= {"Overpayments": [], "CreditNotes": []}
        else:
            record |= {"RemainingCredit": totals[2], "Allocations": [], "Payments": []}
        return record | {"HasErrors": False}

    def _next_number(self, collection: str, kind: str) -> str:
        count = sum(1 for r in self.records[collection].values() if r["Type"] == kind)
        while self._sales_document(collection, kind, number := f"{NUMBER_PREFIX[collection]}{count + 1:04d}"):
            count += 1
        return number

    def _lines(
        self, items: Any, line_types: str, status: str, errors: list[str]
    ) -> tuple[list[Record], tuple[Decimal, Decimal, Decimal]]:
        """The stored line items and (SubTotal, TotalTax, Total), tax per line rounded to cents."""
        if line_types not in LINE_AMOUNT_TYPES:
            errors.append(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}.")
            return [], (Decimal(0), Decimal(0), Decimal(0))
        if items is None:
            items = []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            errors.append("LineItems must be a list of line items.")
            return [], (Decimal(0), Decimal(0), Decimal(0))
        if not items and status != "DRAFT":
            errors.append("A document must have at least one line item unless it is a draft.")
        lines: list[Record] = []
        sub_total = total_tax = Decimal("0.00")
        for item in items:
            try:
                given_quantity = _amount(item.get("Quantity"), "Quantity")
                unit = _amount(item.get("UnitAmount"), "UnitAmount")
                given = _amount(item.get("LineAmount"), "LineAmount")
            except Invalid as refused:
                errors += refused.messages
                continue
            quantity = Decimal(1) if given_quantity is None else given_quantity
            if unit is None and given is None:
                errors.append("Each line item needs a UnitAmount or a LineAmount.")
                continue
            computed = _cents(quantity * unit) if unit is not None else None
            if computed is not None and given is not None and computed != _cents(given):
                errors.append(f"The LineAmount {given} does not equal Quantity x UnitAmount ({computed}).")
                continue
            line_amount = _cents(given) if given is not None else computed or Decimal("0.00")
            if unit is None:
                unit = line_amount / quantity if quantity else Decimal(0)
            account, tax_type = self._line_account(item, status, errors)
            rate = self._rate(tax_type, errors) if line_types != "NoTax" else Decimal(0)
            tax = _tax(line_amount, rate, line_types)
            if item.get("TaxAmount") is not None and line_types != "NoTax":
                # Xero takes a given TaxAmount over its own (the spec: "can be overriden").
                try:
                    tax = _cents(_amount(item["TaxAmount"], "TaxAmount") or Decimal(0))
                except Invalid as refused:
                    errors += refused.messages
            net = line_amount - tax if line_types == "Inclusive" else line_amount
            sub_total += net
            total_tax += tax
            line: Record = {"LineItemID": str(item.get("LineItemID") or _new_id())}
            line |= {"Description": str(item.get("Description") or ""), "Quantity": quantity}
            line |= {
                "UnitAmount": Decimal(unit),
                "TaxType": tax_type,
                "TaxAmount": tax,
                "LineAmount": line_amount,
            }
            if account is not None:
                line |= {"AccountCode": account["Code"], "AccountID": account["AccountID"]}
            line |= {"Tracking": item.get("Tracking") or []}
            lines.append(line)
        return lines, (_cents(sub_total), _cents(total_tax), _cents(sub_total + total_tax))

    def _line_account(self, item: Record, status: str, errors: list[str]) -> tuple[Record | None, str]:
        code = item.get("AccountCode")
        account = self.account(str(code)) if code not in (None, "") else None
        if code not in (None, "") and account is None:
            errors.append(f"Account code '{code}' is not a valid code for this document.")
        elif account is None and status != "DRAFT":
            errors.append("Account code must be specified.")
        tax_type = str(item.get("TaxType") or (account or {}).get("TaxType") or "NONE")
        return account, tax_type

    def _rate(self, tax_type: str, errors: list[str]) -> Decimal:
        tax_rate = self.tax_rate(tax_type)
        if tax_rate is None:
            errors.append(
                f"The TaxType code '{tax_type}' does not exist or cannot be used for this type of transaction."
            )
            return Decimal(0)
        return Decimal(tax_rate["EffectiveRate"])

    # -- manual journals ------------------------------------------------------------------------------
    def _journal(self, element: Record, existing: Record | None) -> Record:
        merged = {**(existing or {}), **element}
        errors: list[str] = []
        narration = str(merged.get("Narration") or "").strip()
        if not narration:
            errors.append("Narration must be specified.")
        status = str(merged.get("Status") or "DRAFT")
        if status not in CREATE_STATUSES["ManualJournals"] + (("DELETED", "VOIDED") if existing else ()):
            errors.append(f"The Status {status} is not valid here: use DRAFT or POSTED.")
        line_types = str(merged.get("LineAmountTypes") or "NoTax")
        if line_types not in LINE_AMOUNT_TYPES:
            errors.append(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}.")
        try:
            issued = _parse_date(merged.get("Date"))
        except Invalid as refused:
            errors += refused.messages
            issued = None
        items = merged.get("JournalLines") or []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Invalid(*errors, "JournalLines must be a list of journal lines.")
        if len(items) < 2:
            errors.append("A manual journal must have at least two journal lines.")
        lines: list[Record] = []
        debits = credits = Decimal("0.00")
        for item in items:
            try:
                amount = _cents(_amount(item.get("LineAmount"), "LineAmount") or Decimal(0))
            except Invalid as refused:
                errors += refused.messages
                continue
            account, tax_type = self._line_account(item, "POSTED", errors)
            if account is not None and account.get("SystemAccount") in JOURNAL_FORBIDDEN_SYSTEM_ACCOUNTS:
                errors.append(
                    f"Account code '{account['Code']}' is a system account ({account['SystemAccount']}) "
                    "and cannot be used in a manual journal."
                )
            rate = self._rate(tax_type, errors) if line_types != "NoTax" else Decimal(0)
            if amount > 0:
                debits += amount
            else:
                credits += amount
            line: Record = {"Description": str(item.get("Description") or ""), "TaxType": tax_type}
            line |= {"TaxAmount": _tax(amount, rate, line_types), "LineAmount": amount}
            if account is not None:
                line |= {"AccountCode": account["Code"], "AccountID": account["AccountID"]}
            lines.append(line | {"Tracking": item.get("Tracking") or [], "IsBlank": False})
        if debits + credits != 0:
            errors.append(f"The total debits ({debits}) must equal total credits ({credits})")
        if errors:
            raise Invalid(*errors)
        issued = issued or datetime.combine(self.today(), datetime.min.time(), timezone.utc)
        journal: Record = {"Date": xero_date(issued), "Status": status, "LineAmountTypes": line_types}
        journal |= {"UpdatedDateUTC": xero_date(now_utc())}
        journal |= {
            "ManualJournalID": (existing or {}).get("ManualJournalID", _new_id()),
            "Narration": narration,
        }
        journal |= {
            "JournalLines": lines,
            "ShowOnCashBasisReports": merged.get("ShowOnCashBasisReports", True),
        }
        return journal | {"HasAttachments": False}


def _amount(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid(f"{name} must be a number.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{name} must be a number.") from None
    if not amount.is_finite():
        raise Invalid(f"{name} must be a number.")
    return amount


def _tax(amount: Decimal, rate: Decimal, line_types: str) -> Decimal:
    """A line's tax at ``rate`` percent: added to it (Exclusive) or contained in it (Inclusive)."""
    if line_types == "Exclusive":
        return _cents(amount * rate / 100)
    if line_types == "Inclusive":
        return _cents(amount * rate / (100 + rate))
    return Decimal("0.00")


def _parse_date(value: Any) -> datetime | None:
    """``YYYY-MM-DD``, an ISO date-time or ``/Date(ms)/``, as Xero accepts them."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if text.startswith("/Date("):
            millis = int(text[6:].split(")")[0].split("+")[0].rsplit("-", 1)[0] or 0)
            return datetime.fromtimestamp(millis / 1000, timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"The date '{text}' is not valid: use YYYY-MM-DD.") from None
    return datetime.combine(parsed.date(), datetime.min.time(), timezone.utc)


def _date_string(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT00:00:00")


def _contact_summary(contact: Mapping[str, Any]) -> Record:
    """The contact as Xero embeds it in a document."""
    keys = ("ContactID", "ContactNumber", "ContactStatus", "Name", "Addresses", "Phones", "ContactGroups")
    summary = {k: contact[k] for k in keys if k in contact}
    return summary | {"ContactPersons": [], "HasValidationErrors": False}


def _status_attribute(collection: str, record: Record) -> Record:
    """A write's element as Xero answers it under ``summarizeErrors=false``: OK or ERROR."""
    if collection != "Invoices" and collection != "CreditNotes":  # only documents have HasErrors
        record = {k: v for k, v in record.items() if k != "HasErrors"}
    if collection == "Contacts":
        record["HasValidationErrors"] = bool(record.get("ValidationErrors"))
    return record | {"StatusAttributeString": "ERROR" if record.get("ValidationErrors") else "OK"}


__all__ = ["DEFAULT_ACCOUNTS", "DEFAULT_TAX_RATES", "WRITABLE", "XeroStore", "xero_date"]
