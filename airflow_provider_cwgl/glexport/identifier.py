"""Batch identifiers: the business day and record types a batch is named by, and the settings
that name one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.request import (
    FLAG_NAMES,
    ID_LIST_SETTINGS,
    MAX_IDENTIFIER_LENGTH,
    ExportRequest,
)

KIND_LETTERS = {"invoices": "I", "expenses": "E", "procurement": "P"}


def batch_identifier_for(day: date | str, kinds: Iterable[str], location_id: int | None = None) -> str:
    """``cwgl-20260301-IEP``: the business day and the record types (``-L12`` for one location).

    Every run that exports that day's records gets the same identifier, whatever its run id, so
    a cleared task, a reprocessing backfill or a new run for the same day finds the day's batch.
    The letters follow ConnectWise's advice to name batches by type.
    """
    wanted = set(kinds)
    letters = "".join(KIND_LETTERS[k] for k in FLAG_NAMES if k in wanted)
    text = day.isoformat() if isinstance(day, date) else str(day)
    identifier = f"cwgl-{text[:10].replace('-', '')}-{letters or 'X'}"
    if location_id is not None:
        identifier += f"-L{location_id}"
    return identifier[:MAX_IDENTIFIER_LENGTH]


def check_identifier(identifier: Any) -> str:
    if not isinstance(identifier, str) or not identifier.strip():
        raise SettingError("batch_identifier", f"expected non-empty text, got {identifier!r}")
    if len(identifier.strip()) > MAX_IDENTIFIER_LENGTH:
        raise SettingError(
            "batch_identifier", f"at most {MAX_IDENTIFIER_LENGTH} characters, got {len(identifier)}"
        )
    return identifier.strip()


def resolve_batch_identifier(value: Any, request: ExportRequest, batch: int | str | None) -> str | None:
    """The export's ``batch_identifier`` setting: None (off), ``"auto"`` or an identifier."""
    if is_blank(value):
        return None
    if batch is not None:
        raise SettingError(
            "batch_identifier", "give it or batch_id, not both (batch_id re-exports that batch)"
        )
    if isinstance(value, str) and value.strip().lower() == "auto":
        if request.thru_date is None:
            raise SettingError("batch_identifier", "'auto' names the batch by the thru date: set thru_date")
        if request.location_id is None and request.location_name:
            raise SettingError(
                "batch_identifier",
                "'auto' names one location's batch by its id: set location_id, not location_name",
            )
        setting_of = {spec.api_name: spec.setting for spec in ID_LIST_SETTINGS}
        picked = [setting_of[name] for name, ids in request.options.id_lists if ids]
        if picked:
            # Another subset of the same day would find this batch and re-export it instead.
            raise SettingError(
                "batch_identifier",
                f"'auto' names the whole day's batch, but {', '.join(picked)} picks some records: "
                "give an identifier of your own for each subset",
            )
        return batch_identifier_for(request.thru_date.date(), request.kinds, request.location_id)
    return check_identifier(value)
