"""The GL export, start to finish, in plain Python: request -> ConnectWise -> stream -> file + summary.

The body is streamed to a temporary file and read once to check it is complete GLExport JSON (a
cut or malformed body is fetched again; a complete one of the wrong shape or past ``JsonLimits``
fails at once), noting the records References To Fetch will need; they are fetched; then a second
and last pass writes the XML atomically, the summary and the documents file on the way.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
from collections.abc import Callable
from typing import IO, Any, cast

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.errors import EmptyExportError, ExportBodyError, ExportSettingError
from airflow_provider_cwgl.glexport.batch import BATCHES_PATH, BatchCreator
from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS
from airflow_provider_cwgl.glexport.documents import DOCUMENTS_SUFFIX
from airflow_provider_cwgl.glexport.json_scan import DEFAULT_LIMITS, JsonLimits, iter_root
from airflow_provider_cwgl.glexport.references import ReferenceResolver
from airflow_provider_cwgl.glexport.request import ExportRequest, format_thru_date
from airflow_provider_cwgl.glexport.summary import ExportSummary, SummaryBuilder, WrittenSummary
from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter, ReferenceRecords
from airflow_provider_cwgl.output import HashingWriter, OutputTarget

log = logging.getLogger(__name__)

EXPORT_PATH = "finance/accounting/export"
PROGRESS_SECONDS = 10.0  # long work logs how far it got at most this often


def validate_json(
    source: IO[bytes],
    on_item: Callable[[str, dict[str, Any]], None] | None = None,
    limits: JsonLimits = DEFAULT_LIMITS,
) -> dict[str, int]:
    """Items per collection of one complete GLExport JSON document; ``on_item`` sees each root item.
    A cut or malformed body raises ``json.JSONDecodeError`` (or ``UnicodeDecodeError``), a complete
    one that cannot be written ``ExportBodyError``."""
    counts: dict[str, int] = {}
    started = last = time.monotonic()
    for key, item, is_item in iter_root(source, limits):
        if not is_item:
            continue
        counts[key] = counts.get(key, 0) + 1
        if on_item is not None:
            on_item(key, item)
        if sum(counts.values()) % 1000 == 0 and time.monotonic() - last >= PROGRESS_SECONDS:
            last = time.monotonic()
            log.info("Checking the export: %d items read in %.0f s", sum(counts.values()), last - started)
    return counts


def resolve_location_id(client: ConnectWiseClient, request: ExportRequest) -> int | None:
    """The location id to export: ``location_id``, else the one location named ``location_name``.

    An id must exist in ``system/locations`` (ConnectWise would export nothing for an unknown one,
    silently). A name matches case-insensitively and exactly. No match exports all locations (the
    spec's rule) with a warning; several matches are an error listing them.
    """
    location_id, name = request.location_id, request.location_name
    if location_id is None and not name:
        return None
    locations = list(client.list("system/locations", fields="id,name"))
    if location_id is not None:
        if not any(str(loc.get("id")) == str(location_id) for loc in locations):
            known = ", ".join(f"{loc.get('id')} ({loc.get('name')!r})" for loc in locations[:10])
            more = f" and {len(locations) - 10} more" if len(locations) > 10 else ""
            raise ExportSettingError(
                "location_id",
                f"no ConnectWise location (owner level) has id {location_id}; known: {known or 'none'}{more}",
            )
        if name:
            log.info("location_id %s is set, so location_name %r is ignored", location_id, name)
        return location_id
    wanted = (name or "").casefold()
    matches = [loc for loc in locations if str(loc.get("name") or "").strip().casefold() == wanted]
    if not matches:
        known = ", ".join(sorted(repr(str(loc.get("name"))) for loc in locations)[:20])
        log.warning(
            "No ConnectWise location is named %r (known: %s); exporting records of ALL locations, as the "
            "spec says for an unmatched name",
            name,
            known or "none",
        )
        return None
    if len(matches) > 1:
        listed = ", ".join(f"{m.get('id')} ({m.get('name')!r})" for m in matches)
        raise ExportSettingError(
            "location_name", f"{name!r} matches several locations: {listed}; set location_id instead"
        )
    log.info("Location %r is id %s", name, matches[0]["id"])
    return int(matches[0]["id"])


def batch_export_path(batch_id: int) -> str:
    """The endpoint that re-exports a past accounting batch."""
    return f"{BATCHES_PATH}/{batch_id}/export"


# One attempt's check of the body: items per collection, the references it wants, why it is unwritable.
_Checked = tuple[dict[str, int], ReferenceResolver | None, ExportBodyError | None]


class GLExporter:
    """Runs one export with a ConnectWise client; ``reference_concurrency`` bounds reference fetching."""

    def __init__(
        self,
        client: ConnectWiseClient,
        *,
        reference_concurrency: int = 8,
        limits: JsonLimits = DEFAULT_LIMITS,
    ) -> None:
        self.client = client
        self.reference_concurrency = reference_concurrency
        self.limits = limits

    def _download(
        self, path: str, body: dict[str, Any], request: ExportRequest, raw: IO[bytes]
    ) -> ReferenceResolver | None:
        """Fetch the export into ``raw`` and check it, noting wanted references in the same pass."""

        def check(source: IO[bytes]) -> _Checked:  # per attempt: a retried body starts over
            refs = request.references
            resolver = (
                ReferenceResolver(self.client, refs, concurrency=self.reference_concurrency) if refs else None
            )
            try:
                counts = validate_json(source, resolver.collect_item if resolver else None, self.limits)
            except ExportBodyError as exc:  # complete, but not writable: fetching again would not help
                return {}, resolver, exc
            return counts, resolver, None

        counts, resolver, error = self.client.post_to_file(path, body, raw, read=check)
        if error is not None:
            raise error
        size = raw.seek(0, io.SEEK_END)
        log.info(
            "Received %d bytes of GLExport JSON (staged in %s until the XML is written): %s",
            size,
            tempfile.gettempdir(),
            ", ".join(f"{k} {v}" for k, v in counts.items()) or "no records",
        )
        return resolver

    def _batch_export(self, request: ExportRequest, batch: int | str) -> tuple[int, dict[str, Any]]:
        """The id of the past batch to re-export (``batch`` or the batch it identifies) and the body."""
        if isinstance(batch, str):
            found = BatchCreator(self.client).find(batch)
            if found is None:
                raise ExportSettingError("batch_id", f"no ConnectWise batch has the identifier {batch!r}")
            batch = int(found["id"])
        if request.thru_date is not None or request.location_id or request.location_name:
            log.info("Re-exporting batch %s: thru_date and location do not apply and are ignored", batch)
        log.info("Re-exporting ConnectWise accounting batch %s", batch)
        body = {k: v for k, v in request.body(None).items() if k != "thruDate"}
        return batch, body

    def run(
        self,
        request: ExportRequest,
        target: OutputTarget,
        batch: int | str | None = None,
        skip_when_empty: bool = False,
    ) -> ExportSummary:
        """Export unposted records, or with ``batch`` (an id or identifier) re-export a past batch;
        ``skip_when_empty`` as ``write_export`` says."""
        batch_id: int | None = None
        location_id: int | None = None
        if batch is not None:
            batch_id, body = self._batch_export(request, batch)
            path = batch_export_path(batch_id)
        else:
            path = EXPORT_PATH
            location_id = resolve_location_id(self.client, request)
            body = request.body(location_id)
            log.info(
                "Exporting unposted %s from ConnectWise (thru %s, location %s)",
                "/".join(request.kinds),
                format_thru_date(request.thru_date) if request.thru_date else "today (ConnectWise's default)",
                location_id if location_id is not None else "all",
            )
        with tempfile.TemporaryFile(prefix="cwgl-export-", suffix=".json") as raw:
            resolver = self._download(path, body, request, raw)
            if resolver is not None:
                resolver.fetch()
            raw.seek(0)
            written = write_export(raw, target, resolver, limits=self.limits, skip_when_empty=skip_when_empty)
        result = cast(ExportSummary, {**written, "request": body, "location_id": location_id})
        if batch_id is not None:
            result["batch_id"] = batch_id
        if resolver is not None:
            result["references"] = resolver.summary()
        return result


def write_export(
    source: IO[bytes],
    target: OutputTarget,
    resolver: ReferenceRecords | None = None,
    *,
    limits: JsonLimits = DEFAULT_LIMITS,
    skip_when_empty: bool = False,
) -> WrittenSummary:
    """The write step: the XML to ``target`` (atomically), the summary built on the way, the
    documents file beside it. With ``skip_when_empty`` an export of no documents raises
    ``EmptyExportError`` inside the target's block, so the previous file stays."""
    summary = SummaryBuilder()
    writer = GLExportXmlWriter(resolver, summary.add, limits=limits, progress_seconds=PROGRESS_SECONDS)
    documents_target = target.sibling(DOCUMENTS_SUFFIX)
    with target.open() as out:
        hashing = HashingWriter(out)
        stats = writer.write(source, hashing)
        if skip_when_empty and not set(summary.contents.counts) - PARTY_COLLECTIONS:
            raise EmptyExportError("the export holds no documents; nothing was written")
        sha256 = hashing.sha256.hexdigest()
        # Saved before the XML is put in place: a failure here leaves the old XML.
        with documents_target.open() as documents_out:
            summary.documents.write(documents_out, sha256)
    if stats.removed_characters:
        log.warning("Removed %d characters XML 1.0 cannot carry", stats.removed_characters)
    if stats.dropped_list_nulls:
        log.warning(
            "Left out %d null(s) from lists of numbers or booleans that cannot hold one "
            "(XmlSerializer would refuse the file)",
            stats.dropped_list_nulls,
        )
    return {
        "output": target.describe(),
        "bytes": hashing.size,
        "sha256": sha256,
        **summary.result(),
        "gl_documents_file": documents_target.describe(),
        "removed_characters": stats.removed_characters,
        "dropped_list_nulls": stats.dropped_list_nulls,
    }
