"""The GL export, start to finish, in plain Python: request -> ConnectWise -> stream -> file + summary.

1. Resolve the location (id wins; a name is looked up, falling back to all locations).
2. ``POST finance/accounting/export``, streamed to a temporary file and checked to be complete JSON
   (a cut or malformed body is fetched again).
3. Fetch the requested references (one round per nesting depth, batched and concurrent).
4. Write the XML to the output target atomically, building the summary on the way.
"""

from __future__ import annotations

import logging
import tempfile
from typing import IO, Any

import ijson

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.glexport.batch import BATCHES_PATH, MAX_IDENTIFIER_LENGTH, BatchCreator
from airflow_provider_cwgl.glexport.output import HashingWriter, OutputTarget
from airflow_provider_cwgl.glexport.references import ReferenceResolver
from airflow_provider_cwgl.glexport.request import ExportRequest, ExportSettingError, format_thru_date
from airflow_provider_cwgl.glexport.summary import SummaryBuilder
from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter

log = logging.getLogger(__name__)

EXPORT_PATH = "finance/accounting/export"
# Root collections that are not documents: they only accompany the documents that name them.
PARTY_COLLECTIONS = frozenset({"vendors", "customers"})


class EmptyExportError(Exception):
    """The export holds no documents and ``skip_when_empty`` was asked: nothing was written."""


def validate_json(source: IO[bytes]) -> None:
    """Raise if ``source`` is not one complete JSON document."""
    for _ in ijson.parse(source, use_float=False):
        pass


def resolve_location(client: ConnectWiseClient, request: ExportRequest) -> int | None:
    """The location id to export: ``location_id``, else the one location named ``location_name``.

    An id must exist in ``system/locations`` (ConnectWise would export nothing for an unknown one,
    silently). A name matches case-insensitively and exactly. No match exports all locations (the
    spec's rule) with a warning; several matches are an error listing them.
    """
    if request.location_id is None and not request.location_name:
        return None
    locations = list(client.list("system/locations", fields="id,name"))
    if request.location_id is not None:
        if not any(str(loc.get("id")) == str(request.location_id) for loc in locations):
            known = ", ".join(f"{loc.get('id')} ({loc.get('name')!r})" for loc in locations[:10])
            more = f" and {len(locations) - 10} more" if len(locations) > 10 else ""
            raise ExportSettingError(
                "location_id",
                f"no ConnectWise location (owner level) has id {request.location_id}; "
                f"known: {known or 'none'}{more}",
            )
        if request.location_name:
            log.info(
                "location_id %s is set, so location_name %r is ignored",
                request.location_id,
                request.location_name,
            )
        return request.location_id
    wanted = (request.location_name or "").casefold()
    matches = [loc for loc in locations if str(loc.get("name") or "").strip().casefold() == wanted]
    if not matches:
        known = ", ".join(sorted(repr(str(loc.get("name"))) for loc in locations)[:20])
        log.warning(
            "No ConnectWise location is named %r (known: %s); exporting records of ALL locations, as the "
            "spec says for an unmatched name",
            request.location_name,
            known or "none",
        )
        return None
    if len(matches) > 1:
        listed = ", ".join(f"{m.get('id')} ({m.get('name')!r})" for m in matches)
        raise ExportSettingError(
            "location_name",
            f"{request.location_name!r} matches several locations: {listed}; set location_id instead",
        )
    log.info("Location %r is id %s", request.location_name, matches[0]["id"])
    return int(matches[0]["id"])


def to_batch(value: Any) -> int | str | None:
    """``batch_id``: a ConnectWise batch id (positive integer) or a batch identifier (text)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip().isdigit() and int(value) > 0:
        return int(value)
    if isinstance(value, str) and len(value.strip()) <= MAX_IDENTIFIER_LENGTH:
        return value.strip()
    raise ExportSettingError(
        "batch_id",
        f"expected a ConnectWise batch id or a batch identifier of at most 50 characters, got {value!r}",
    )


class GLExporter:
    """Runs one export with a ConnectWise client; ``reference_concurrency`` bounds reference fetching."""

    def __init__(self, client: ConnectWiseClient, *, reference_concurrency: int = 8) -> None:
        self.client = client
        self.reference_concurrency = reference_concurrency

    def _references(self, request: ExportRequest, raw: IO[bytes]) -> ReferenceResolver | None:
        if not request.references:
            return None
        resolver = ReferenceResolver(self.client, request.references, concurrency=self.reference_concurrency)
        resolver.collect(raw)
        resolver.fetch()
        return resolver

    def _batch_export(self, request: ExportRequest, batch: int | str) -> tuple[str, dict[str, Any], None]:
        if isinstance(batch, str):
            found = BatchCreator(self.client).find(batch)
            if found is None:
                raise ExportSettingError("batch_id", f"no ConnectWise batch has the identifier {batch!r}")
            batch = int(found["id"])
        if request.thru_date is not None or request.location_id or request.location_name:
            log.info("Re-exporting batch %s: thru_date and location do not apply and are ignored", batch)
        log.info("Re-exporting ConnectWise accounting batch %s", batch)
        body = {k: v for k, v in request.body(None).items() if k != "thruDate"}
        return f"{BATCHES_PATH}/{batch}/export", body, None

    def run(
        self,
        request: ExportRequest,
        target: OutputTarget,
        batch: int | str | None = None,
        skip_when_empty: bool = False,
    ) -> dict[str, Any]:
        """Export unposted records, or with ``batch`` (an id or identifier) re-export a past batch.

        With ``skip_when_empty`` an export holding no documents raises ``EmptyExportError`` inside
        the target's block, so the target discards what was written and the previous file stays.
        """
        if batch is not None:
            path, body, location_id = self._batch_export(request, batch)
        else:
            path = EXPORT_PATH
            location_id = resolve_location(self.client, request)
            body = request.body(location_id)
            log.info(
                "Exporting unposted %s from ConnectWise (thru %s, location %s)",
                "/".join(request.kinds),
                format_thru_date(request.thru_date) if request.thru_date else "today (ConnectWise's default)",
                location_id if location_id is not None else "all",
            )
        with tempfile.TemporaryFile(prefix="cwgl-export-", suffix=".json") as raw:
            size = self.client.post_to_file(path, body, raw, verify=validate_json)
            log.info("Received %d bytes of GLExport JSON", size)
            raw.seek(0)
            expander = self._references(request, raw)
            summary = SummaryBuilder()
            writer = GLExportXmlWriter(expander=expander, on_item=summary.add)
            raw.seek(0)
            with target.open() as out:
                hashing = HashingWriter(out)
                stats = writer.write(raw, hashing)
                if skip_when_empty and not set(summary.counts) - PARTY_COLLECTIONS:
                    raise EmptyExportError("the export holds no documents; nothing was written")
        result = {
            "output": target.describe(),
            "bytes": hashing.size,
            "sha256": hashing.sha256.hexdigest(),
            "request": body,
            "location_id": location_id,
            **({"batch_id": int(path.split("/")[-2])} if batch is not None else {}),
            **summary.result(),
            "removed_characters": stats.removed_characters,
        }
        if expander is not None:
            result["references"] = expander.summary()
        if stats.removed_characters:
            log.warning("Removed %d characters XML 1.0 cannot carry", stats.removed_characters)
        return result
