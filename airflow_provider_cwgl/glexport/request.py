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
        return {
            "invoices": self.export_invoices,
            "expenses": self.export_expenses,
            "procurement": self.export_procurement,
        }

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


def build_export_request(
    *,
    export_unposted_invoices: Any = True,
    export_unposted_expenses: Any = False,
    export_unposted_procurement: Any = False,
    location_id: Any = None,
    location_name: Any = None,
    references_to_fetch: Any = None,
    thru_date: Any = None,
) -> ExportRequest:
    """Validate the spec's settings into an ``ExportRequest``; raise ``ExportSettingError`` if any is bad."""
    invoices = to_bool("export_unposted_invoices", export_unposted_invoices)
    expenses = to_bool("export_unposted_expenses", export_unposted_expenses)
    procurement = to_bool("export_unposted_procurement", export_unposted_procurement)
    if not (invoices or expenses or procurement):
        raise ExportSettingError(
            "export_unposted_invoices/export_unposted_expenses/export_unposted_procurement",
            "at least one must be True: ConnectWise exports invoices, expenses or procurement",
        )
    return ExportRequest(
        export_invoices=invoices,
        export_expenses=expenses,
        export_procurement=procurement,
        location_id=to_location_id(location_id),
        location_name=to_location_name(location_name),
        thru_date=to_thru_date(thru_date),
        references=to_references(references_to_fetch),
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


def to_location_id(value: Any) -> int | None:
    if is_blank(value):
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number <= 0 or number > 2**31 - 1:
        raise ExportSettingError(
            "location_id", f"expected a positive integer ConnectWise location (owner level) id, got {value!r}"
        )
    return number


def to_location_name(value: Any) -> str | None:
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise ExportSettingError("location_name", f"expected a location name (text), got {value!r}")
    return value.strip()


def to_thru_date(value: Any) -> datetime | None:
    """A date means the whole day: it is sent as that day's midnight UTC (ConnectWise compares dates).

    A datetime keeps its time and is converted to UTC; a naive one is taken as UTC. Strings are
    ISO 8601 dates or date-times.
    """
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = pendulum.parse(value.strip(), strict=True, tz="UTC")
        except (ValueError, TypeError) as exc:  # pendulum.ParserError is a ValueError
            raise ExportSettingError(
                "thru_date", f"expected an ISO 8601 date (2026-03-01) or date-time, got {value!r}"
            ) from exc
        if isinstance(parsed, datetime):
            moment = parsed
        elif isinstance(parsed, date):
            moment = datetime(parsed.year, parsed.month, parsed.day)
        else:
            raise ExportSettingError("thru_date", f"expected a date or date-time, got {value!r}")
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


@dataclass(frozen=True)
class ExportOptions:
    """The optional parts of the export request; empty ones are not sent.

    ``id_lists`` maps an API field (``includedInvoiceIds``, ...) to its ids. ConnectWise's
    semantics: an included list exports only those records of its kind, an excluded list all but
    those.
    """

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


def build_export_options(
    *,
    summarize_invoices: Any = None,
    gl_interface_identifier: Any = None,
    **id_lists: Any,
) -> ExportOptions:
    """Validate the optional request settings; ``id_lists`` are the six ``ID_LIST_SETTINGS`` by name."""
    known = {s.setting for s in ID_LIST_SETTINGS}
    unknown = sorted(set(id_lists) - known)
    if unknown:
        raise TypeError(f"unknown id list setting(s) {unknown}; expected some of {sorted(known)}")
    parsed = {s.setting: to_id_list(s, id_lists.get(s.setting)) for s in ID_LIST_SETTINGS}
    for inc in (s for s in ID_LIST_SETTINGS if s.included):
        exc = next(s for s in ID_LIST_SETTINGS if s.kind == inc.kind and not s.included)
        both = [i for i in parsed[inc.setting] if i in set(parsed[exc.setting])]
        if both:
            raise ExportSettingError(
                f"{inc.setting}/{exc.setting}",
                f"{', '.join(repr(i) for i in both)} both included and excluded; list each id in one of them",
            )
    return ExportOptions(
        summarize_invoices=to_summarize_invoices(summarize_invoices),
        gl_interface_identifier=to_gl_interface_identifier(gl_interface_identifier),
        id_lists=tuple((s.api_name, parsed[s.setting]) for s in ID_LIST_SETTINGS),
    )


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


def to_gl_interface_identifier(value: Any) -> str | None:
    if is_blank(value):
        return None
    if not isinstance(value, str):
        raise ExportSettingError(
            "gl_interface_identifier", f"expected the GL interface identifier (text), got {value!r}"
        )
    return value.strip()


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
            number = item if isinstance(item, int) and not isinstance(item, bool) else None
            if isinstance(item, str) and item.isdigit():
                number = int(item)
            if number is None or not 0 < number <= 2**31 - 1:
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
