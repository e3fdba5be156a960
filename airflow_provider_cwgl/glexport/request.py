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
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import pendulum

from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.reference_paths import REFERENCE_PATHS

log = logging.getLogger(__name__)

_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}
_EMPTY = {"", "none", "null"}


class ExportSettingError(SettingError):
    """A GL export setting is invalid. ``setting`` names it."""


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

    @property
    def kinds(self) -> list[str]:
        flags = (("invoices", self.export_invoices), ("expenses", self.export_expenses))
        return [k for k, on in (*flags, ("procurement", self.export_procurement)) if on]

    def body(self, location_id: int | None) -> dict[str, Any]:
        """The ``ExportAccountingBatchRequest`` for ``POST finance/accounting/export``."""
        body: dict[str, Any] = {
            "exportInvoicesFlag": self.export_invoices,
            "exportExpensesFlag": self.export_expenses,
            "exportProductsFlag": self.export_procurement,
        }
        if self.thru_date is not None:
            body["thruDate"] = format_thru_date(self.thru_date)
        if location_id is not None:
            body["locationId"] = location_id
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


def to_location_id(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY):
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
    if value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY):
        return None
    if not isinstance(value, str):
        raise ExportSettingError("location_name", f"expected a location name (text), got {value!r}")
    return value.strip()


def to_thru_date(value: Any) -> datetime | None:
    """A date means the whole day: it is sent as that day's midnight UTC (ConnectWise compares dates).

    A datetime keeps its time and is converted to UTC; a naive one is taken as UTC. Strings are
    ISO 8601 dates or date-times.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in _EMPTY):
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
    return moment.astimezone(timezone.utc)


def format_thru_date(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_references(value: Any) -> tuple[str, ...]:
    """A list of the spec's reference paths; a JSON / Python list string or comma-separated text also works."""
    if value is None:
        return ()
    items: Any = value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _EMPTY:
            return ()
        if text.startswith(("[", "(")):
            try:
                items = json.loads(text)
            except ValueError:
                try:
                    items = ast.literal_eval(text)
                except (ValueError, SyntaxError) as exc:
                    raise ExportSettingError(
                        "references_to_fetch", f"cannot read {value!r} as a list of reference paths"
                    ) from exc
        else:
            items = [part for part in text.replace("\n", ",").split(",")]
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise ExportSettingError("references_to_fetch", f"expected a list of reference paths, got {value!r}")
    paths: list[str] = []
    for raw in items:
        path = raw.strip().strip("/")
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
