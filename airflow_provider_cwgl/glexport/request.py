"""The export's settings, checked and normalized before anything is sent to ConnectWise.

Every setting may arrive as a Python value, as a string rendered by Jinja (``"True"``, ``"12"``,
``"['customer/company']"``, ``"2026-03-01"``) or from a DAG param; each is coerced here or rejected
with an error naming the setting and what it accepts.
"""

from __future__ import annotations

import ast
import difflib
import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pendulum

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import ExportSettingError
from airflow_provider_cwgl.glexport.references.paths import REFERENCE_PATHS

log = logging.getLogger(__name__)

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}

# Record kind -> its flag in ConnectWise's export and batch requests (procurement's is "Products").
FLAG_NAMES = {
    "invoices": "exportInvoicesFlag",
    "expenses": "exportExpensesFlag",
    "procurement": "exportProductsFlag",
}
# GLExport root collection -> the record kind whose flag brings it in.
COLLECTION_KINDS = {
    "transactions": "invoices",
    "expenses": "expenses",
    "expenseBills": "expenses",
    "purchaseTransactions": "procurement",
    "adjustmentTransactions": "procurement",
    "inventoryTransfers": "procurement",
}
MAX_IDENTIFIER_LENGTH = 50  # ConnectWise: "batchIdentifier ... Max length: 50"


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``thru_date`` is UTC; None lets ConnectWise use its current date."""

    export_invoices: bool = True
    export_expenses: bool = False
    export_procurement: bool = False
    location_id: int | None = None
    location_name: str | None = None
    thru_date: datetime | None = None
    references: tuple[str, ...] = ()
    options: ExportOptions = field(default_factory=lambda: ExportOptions())

    @property
    def flags(self) -> dict[str, bool]:
        """Each record kind of ``FLAG_NAMES`` and whether it is exported."""
        on = (self.export_invoices, self.export_expenses, self.export_procurement)
        return dict(zip(FLAG_NAMES, on, strict=True))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, on in self.flags.items() if on]

    def body(self, location_id: int | None) -> dict[str, Any]:
        """The ``ExportAccountingBatchRequest`` for ``POST finance/accounting/export``."""
        body: dict[str, Any] = {FLAG_NAMES[kind]: on for kind, on in self.flags.items()}
        if self.thru_date is not None:
            body["thruDate"] = format_thru_date(self.thru_date)
        if location_id is not None:
            body["locationId"] = location_id
        body.update(self.options.body())
        return body


def build_export_request(**settings: Any) -> ExportRequest:
    """Validate the export's settings (``EXPORT_SETTINGS`` by name; one not given takes its default)
    into an ``ExportRequest``, options included; raise ``ExportSettingError`` if any is bad. The
    batch settings and ``skip_when_empty`` are accepted and left to the operator."""
    unknown = sorted(set(settings) - {s.name for s in EXPORT_SETTINGS})
    if unknown:
        raise TypeError(f"unknown export setting(s) {unknown}; see EXPORT_SETTINGS")
    given = {s.name: settings.get(s.name, s.default) for s in EXPORT_SETTINGS}
    invoices = to_bool("export_unposted_invoices", given["export_unposted_invoices"])
    expenses = to_bool("export_unposted_expenses", given["export_unposted_expenses"])
    procurement = to_bool("export_unposted_procurement", given["export_unposted_procurement"])
    if not (invoices or expenses or procurement):
        raise ExportSettingError(
            "export_unposted_invoices/export_unposted_expenses/export_unposted_procurement",
            "at least one must be True: ConnectWise exports invoices, expenses or procurement",
        )
    return ExportRequest(
        export_invoices=invoices,
        export_expenses=expenses,
        export_procurement=procurement,
        location_id=to_location_id(given["location_id"]),
        location_name=to_text("location_name", given["location_name"], "a location name"),
        thru_date=to_thru_date(given["thru_date"]),
        references=to_references(given["references_to_fetch"]),
        options=ExportOptions(
            summarize_invoices=to_summarize_invoices(given["summarize_invoices"]),
            gl_interface_identifier=to_text(
                "gl_interface_identifier", given["gl_interface_identifier"], "the GL interface identifier"
            ),
            id_lists=to_id_lists(given),
        ),
    )


def to_bool(setting: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ExportSettingError(setting, f"expected a boolean (True or False), got {value!r}")


def to_batch(value: Any) -> int | str | None:
    """``batch_id``: a ConnectWise batch id (positive integer) or a batch identifier (text)."""
    if is_blank(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    if isinstance(value, str) and len(value.strip()) <= MAX_IDENTIFIER_LENGTH:
        return value.strip()
    raise ExportSettingError(
        "batch_id",
        f"expected a ConnectWise batch id or a batch identifier of at most {MAX_IDENTIFIER_LENGTH} "
        f"characters, got {value!r}",
    )


def to_id(value: Any) -> int | None:
    """A ConnectWise id (1 to 2**31 - 1) given as an integer or as digits; None for anything else."""
    if isinstance(value, str) and value.strip().isdecimal():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 2**31 - 1:
        return value
    return None


def to_location_id(value: Any) -> int | None:
    """A location (owner level) id; empty or 0 is None: all locations.

    0 is what other ConnectWise integrations send for all locations (RationallyPrime/connectwise-etl,
    ethan-sorenson/SmartConnectConnectWise). It is read as empty, so "all locations" is sent one
    way: without ``locationId``.
    """
    if is_blank(value):
        return None
    number = None if isinstance(value, bool) else 0 if str(value).strip() == "0" else to_id(value)
    if number is None:
        raise ExportSettingError(
            "location_id",
            f"expected a positive integer ConnectWise location (owner level) id, or 0 or empty for all "
            f"locations, got {value!r}",
        )
    return number or None


def to_thru_date(value: Any) -> datetime | None:
    """A date means the whole day: it is sent as that day's midnight UTC (ConnectWise compares dates).

    A datetime keeps its time and is converted to UTC; a naive one is taken as UTC. Strings are
    ISO 8601 dates or date-times.
    """
    if is_blank(value):
        return None
    parsed = value
    if isinstance(value, str):
        try:
            parsed = pendulum.parse(value.strip(), strict=True, tz="UTC")
        except (ValueError, TypeError) as exc:  # pendulum.ParserError is a ValueError
            raise ExportSettingError(
                "thru_date", f"expected an ISO 8601 date (2026-03-01) or date-time, got {value!r}"
            ) from exc
        if not isinstance(parsed, date):  # a time or a duration
            raise ExportSettingError("thru_date", f"expected a date or date-time, got {value!r}")
    if isinstance(parsed, datetime):
        moment = parsed
    elif isinstance(parsed, date):
        moment = datetime(parsed.year, parsed.month, parsed.day)
    else:
        raise ExportSettingError("thru_date", f"expected a date, datetime or ISO 8601 string, got {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ExportSettingError(
            "thru_date", f"{value!r} is outside the years 1 to 9999 once converted to UTC"
        ) from exc


def format_thru_date(moment: datetime) -> str:
    # isoformat, not strftime: strftime("%Y") gives "1" for year 1 on Linux, not "0001".
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def to_references(value: Any) -> tuple[str, ...]:
    """The spec's reference paths, from any form ``to_list`` reads; each checked against ``REFERENCE_PATHS``."""
    items = to_list("references_to_fetch", value, "reference paths")
    if not all(isinstance(i, str) for i in items):
        raise ExportSettingError(
            "references_to_fetch", f"expected a list of reference paths, got {value!r:.120}"
        )
    paths: list[str] = []
    for raw in items:
        path = raw.strip("/")
        if not path:
            continue
        if path not in REFERENCE_PATHS:
            close = difflib.get_close_matches(path, REFERENCE_PATHS, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ExportSettingError(
                "references_to_fetch",
                f"{path!r} is not a supported reference path{hint} "
                f"(supported: the {len(REFERENCE_PATHS)} paths in REFERENCE_PATHS, e.g. 'customer/company')",
            )
        if path in paths:
            log.warning("references_to_fetch lists %r more than once; fetching it once", path)
            continue
        paths.append(path)
    return tuple(paths)


# -- The rest of ExportAccountingBatchRequest ------------------------------------------------------
# (connectwise-api-2025.1.json). ``exportPaymentsFlag`` / ``includedPaymentIds`` are left out on
# purpose: GLExport has no payments collection, so what ConnectWise would send is unknown.

SUMMARIZE_INVOICES = ("Default", "Condensed", "Detailed")


@dataclass(frozen=True)
class IdListSetting:
    """One include/exclude list: its setting name, the API field, and whether ids are integers."""

    setting: str
    api_name: str
    kind: str  # "invoices", "expenses" or "procurement": included/excluded pairs share a kind
    included: bool
    integers: bool


ID_LIST_SETTINGS: tuple[IdListSetting, ...] = (
    IdListSetting("included_invoice_ids", "includedInvoiceIds", "invoices", True, True),
    IdListSetting("excluded_invoice_ids", "excludedInvoiceIds", "invoices", False, True),
    IdListSetting("included_expense_ids", "includedExpenseIds", "expenses", True, True),
    IdListSetting("excluded_expense_ids", "excludedExpenseIds", "expenses", False, True),
    # The API types procurement ids as strings (UnpostedProcurement.unpostedProductId: string).
    IdListSetting("included_product_ids", "includedProductIds", "procurement", True, False),
    IdListSetting("excluded_product_ids", "excludedProductIds", "procurement", False, False),
)
# Which id each kind's lists take. Invoices: what real integrations send (RationallyPrime/
# connectwise-etl); expenses and procurement follow the API's types, unverified against a tenant.
ID_NAMED_BY = {
    "invoices": "the unposted invoice's ``billingLogId`` (its invoice's id, the exported transaction's "
    "``id``), not its own ``id``",
    "expenses": "the unposted expense's ``id``, unverified",
    "procurement": "the unposted procurement record's ``unpostedProductId``, text, unverified",
}


@dataclass(frozen=True)
class ExportSetting:
    """One templated setting of the export, declared once: the operator's argument (``name``,
    ``default``), its ``:param:`` text, and ``form``, the JSON schema of its field in a DAG's
    trigger form (None: the example DAGs offer none); ``title`` names that field."""

    name: str
    description: str
    form: dict[str, Any] | None = None
    default: Any = None
    title: str = ""


_TEXT, _LIST, _FLAG = {"type": ["null", "string"]}, {"type": ["array", "null"]}, {"type": "boolean"}

# In the operator's signature order (a test holds the signature to it). A table: one setting a row.
# fmt: off
EXPORT_SETTINGS: tuple[ExportSetting, ...] = (
    *(ExportSetting(f"export_unposted_{kind}", f"include unposted {kind} (default {on}).", _FLAG, on)
      for kind, on in (("invoices", True), ("expenses", False), ("procurement", False))),
    ExportSetting("location_id", "only records of this location (owner level) id. 0, which other "
                  "integrations send for all locations, means all locations, like empty (no "
                  "``locationId`` is sent).",
                  {"type": ["null", "integer"], "minimum": 0}, title="Location (owner level) id"),
    ExportSetting("location_name", "used when ``location_id`` is empty: the location with this name "
                  "(case-insensitive). No match exports all locations, as the spec says; several is an "
                  "error.", _TEXT),
    ExportSetting("references_to_fetch", "reference paths from ``REFERENCE_PATHS`` whose records are "
                  "fetched and written inside the reference as ``<record>``.",
                  {**_LIST, "examples": [*REFERENCE_PATHS], "items": {"type": "string", "enum": [*REFERENCE_PATHS]}}),
    ExportSetting("thru_date", "records up to this date. A date means the whole day; a datetime keeps "
                  "its time (UTC). Empty lets ConnectWise use its current date.", {**_TEXT, "format": "date"}),
    ExportSetting("batch_id", "re-export a past accounting batch (its id or identifier) instead of the "
                  "unposted records, e.g. to reproduce a closed period; thru date and location do not apply."),
    ExportSetting("batch_identifier", "the identifier of the accounting batch this export becomes (the "
                  "one ``GLBatchCreateOperator`` then uses). If ConnectWise already has a batch with it, "
                  "that batch is re-exported instead of the unposted records, so re-running a posted day "
                  "writes the same file (same SHA-256) and the batch step creates nothing. ``\"auto\"``: "
                  "the business day and record types, ``cwgl-20260301-IEP`` (``-L12`` for one location), "
                  "from the thru date, which is then required, and refused with the include/exclude id "
                  "lists (a second subset of the day would find the first's batch). Empty (default): "
                  "always export the unposted records."),
    ExportSetting("summarize_invoices", "``Default``, ``Condensed`` or ``Detailed`` "
                  "(``summarizeInvoices``); empty leaves ConnectWise's default.",
                  {**_TEXT, "enum": [None, *SUMMARIZE_INVOICES]}),
    *(ExportSetting(spec.setting, f"{'only' if spec.included else 'all but'} these unposted {spec.kind} "
                    f"(``{spec.api_name}``), named by {ID_NAMED_BY[spec.kind]}.",
                    {**_LIST, "items": {"type": "integer" if spec.integers else "string"}})
      for spec in ID_LIST_SETTINGS),
    ExportSetting("gl_interface_identifier", "sent as ``glInterfaceIdentifier``.", _TEXT,
                  title="GL interface identifier"),
    ExportSetting("skip_when_empty", "when the export holds no documents, write nothing (the previous "
                  "file stays) and end the task as skipped (default False: an empty GLExport file is "
                  "written).", _FLAG, False),
)
# fmt: on


@dataclass(frozen=True)
class ExportOptions:
    """The optional parts of the export request; empty ones are not sent. ``id_lists``: API field
    (``includedInvoiceIds``, ...) -> ids."""

    summarize_invoices: str | None = None
    gl_interface_identifier: str | None = None
    id_lists: tuple[tuple[str, tuple[int | str, ...]], ...] = ()

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.summarize_invoices is not None:
            body["summarizeInvoices"] = self.summarize_invoices
        if self.gl_interface_identifier is not None:
            body["glInterfaceIdentifier"] = self.gl_interface_identifier
        body.update((name, list(ids)) for name, ids in self.id_lists if ids)
        return body


def to_summarize_invoices(value: Any) -> str | None:
    """``Default``, ``Condensed`` or ``Detailed`` (any case); empty leaves ConnectWise's default."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        for choice in SUMMARIZE_INVOICES:
            if value.strip().lower() == choice.lower():
                return choice
    raise ExportSettingError(
        "summarize_invoices", f"expected one of {', '.join(map(repr, SUMMARIZE_INVOICES))}, got {value!r}"
    )


def to_text(setting: str, value: Any, what: str) -> str | None:
    """A text setting, stripped; None when blank. ``what`` names it in the error."""
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise ExportSettingError(setting, f"expected {what} (text), got {value!r}")
    return value.strip()


def to_id_lists(given: dict[str, Any]) -> tuple[tuple[str, tuple[int | str, ...]], ...]:
    """The six ``ID_LIST_SETTINGS`` by API field; an id both included and excluded is an error."""
    parsed = {s.setting: to_id_list(s, given[s.setting]) for s in ID_LIST_SETTINGS}
    for inc in (s for s in ID_LIST_SETTINGS if s.included):
        exc = next(s for s in ID_LIST_SETTINGS if s.kind == inc.kind and not s.included)
        both = [i for i in parsed[inc.setting] if i in set(parsed[exc.setting])]
        if both:
            raise ExportSettingError(
                f"{inc.setting}/{exc.setting}",
                f"{', '.join(repr(i) for i in both)} both included and excluded; list each id in one of them",
            )
    return tuple((s.api_name, parsed[s.setting]) for s in ID_LIST_SETTINGS)


# What ``read_literal`` raises for text that is neither: "[[[…" 100,000 deep is a RecursionError or
# MemoryError, not a crash of the task.
LITERAL_ERRORS = (ValueError, SyntaxError, RecursionError, MemoryError)


def read_literal(text: str) -> Any:
    """A list or dict as a template renders it: JSON, else a Python literal (Jinja writes Python's
    repr). Raises one of ``LITERAL_ERRORS`` for anything else."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return ast.literal_eval(text)


def to_list(setting: str, value: Any, what: str) -> list[Any]:
    """A Python list or tuple, a JSON / Python list string, or comma- or newline-separated text.

    Items come back as given (strings stripped, blanks dropped); ``what`` names them in errors.
    """
    if value is None:
        return []
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if is_blank(text):
            return []
        if text.startswith(("[", "(")):
            try:
                items = read_literal(text)
            except LITERAL_ERRORS as exc:
                raise ExportSettingError(setting, f"cannot read {value!r:.120} as a list of {what}") from exc
        else:
            items = text.replace("\n", ",").split(",")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]  # a single id rendered by Jinja native mode or given bare
    if not isinstance(items, (list, tuple)):
        raise ExportSettingError(setting, f"expected a list of {what}, got {value!r:.120}")
    out = [i.strip() if isinstance(i, str) else i for i in items]
    return [i for i in out if i != ""]


def to_id_list(spec: IdListSetting, value: Any) -> tuple[int | str, ...]:
    """Ids for one include/exclude setting: positive integers, or non-empty strings for products."""
    what = "integer ids" if spec.integers else "product ids (text)"
    ids: list[int | str] = []
    for item in to_list(spec.setting, value, what):
        if spec.integers:
            number = to_id(item)
            if number is None:
                raise ExportSettingError(
                    spec.setting, f"expected a list of positive integer ids, got {item!r} in {value!r}"
                )
            ids.append(number)
        elif isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool)):
            ids.append(str(item))  # ConnectWise types product ids as strings; 1299 means "1299"
        else:
            raise ExportSettingError(
                spec.setting, f"expected a list of product ids (text, e.g. '1299'), got {item!r} in {value!r}"
            )
    if len(set(ids)) != len(ids):
        log.warning("%s lists an id more than once; sending it once", spec.setting)
        ids = list(dict.fromkeys(ids))
    return tuple(ids)
