"""Airflow asset events for an export: the file it wrote as the asset URI, and in ``extra`` what a
consumer would otherwise open the file for."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, AssetAlias

from airflow_provider_cwgl.glexport.request import ExportRequest, format_thru_date
from airflow_provider_cwgl.glexport.summary import ExportSummary
from airflow_provider_cwgl.output.local import LocalOutput
from airflow_provider_cwgl.output.objectstore import ObjectStorageOutput

log = logging.getLogger(__name__)


def asset_uri(target: LocalOutput | ObjectStorageOutput) -> str:
    """``file:///abs/path`` or ``s3://bucket/key``: never the connection id (``str()`` of an
    object-storage path carries it as ``s3://conn@bucket``), as an asset is the data."""
    if isinstance(target, LocalOutput):
        return Path(target.describe()).as_uri()
    return f"{target.path.protocol}://{target.path.path}"


def event_extra(summary: ExportSummary, request: ExportRequest) -> dict[str, Any]:
    """The summary's ``sha256``, ``bytes``, ``counts`` and ``totals``, the day and the location (and
    ``batch_id`` for a re-export). ``business_day`` is the thru date's day, or the UTC day of the
    export when none was sent (ConnectWise then exports up to its current date)."""
    thru = request.thru_date
    day = (thru or datetime.now(timezone.utc)).date().isoformat()
    extra: dict[str, Any] = {
        "sha256": summary["sha256"],
        "bytes": summary["bytes"],
        "counts": summary["counts"],
        "totals": summary["totals"],
        "thru_date": format_thru_date(thru) if thru is not None else None,
        "business_day": day,
        "location_id": summary["location_id"],
        "location_name": request.location_name,
    }
    if "batch_id" in summary:
        extra["batch_id"] = summary["batch_id"]
    return extra


def emit_asset_events(outlets: list[Any], outlet_events: Any, uri: str, extra: dict[str, Any]) -> int:
    """Attach the event to every declared outlet; returns how many got one. An ``AssetAlias`` gets
    ``Asset(uri)`` added at run time (how a templated output path becomes an asset)."""
    emitted = 0
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            outlet_events[outlet].add(Asset(uri), extra=extra)
        elif isinstance(outlet, Asset):
            if outlet.uri != uri:
                log.warning(
                    "Outlet asset %s is not the file written (%s); giving it the event anyway",
                    outlet.uri,
                    uri,
                )
            outlet_events[outlet].extra.update(extra)
        else:
            continue
        emitted += 1
    return emitted
