"""Mark exported records in ConnectWise by creating an accounting batch, exactly once.

``POST finance/accounting/batches`` with the export's GL entry ids (``processedRecordIds``) moves
those records out of the unposted set, so the next export no longer contains them. Creating is not
idempotent on ConnectWise's side, so this module makes it so:

- the batch identifier names the business day and the record types (``cwgl-20260301-IEP``, see
  ``batch_identifier_for``), so every re-run of a day finds that day's batch;
- before creating, the identifier is looked up. Whether a found batch holds our records is read
  from the batch's own GLExport (``POST finance/accounting/batches/{id}/export``) with the rule
  that makes the export's GL entry ids (``summary.gl_entry_ids``): ConnectWise documents no tie
  between a ``BatchEntry`` id (an accounting line) and a GL entry id, so entries are not compared.
  The same records mean the work is done (a retry after a timeout or a dropped response); some of
  them only means another batch took the rest (``BatchOverlapError``); others mean the identifier
  belongs to another batch (``BatchConflictError``);
- the POST itself is sent once per attempt and never retried blindly: after a transient failure
  the identifier is looked up again before another POST, waiting as the connection's retry policy
  says.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext
from typing import IO, Any

from typing_extensions import NotRequired, TypedDict

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.connectwise.conditions import condition_literal
from airflow_provider_cwgl.errors import (
    BatchConflictError,
    BatchNotCreatedError,
    BatchOverlapError,
    BatchReconcileError,
    ConnectWiseError,
    SettingError,
)
from airflow_provider_cwgl.glexport.json_scan import iter_root
from airflow_provider_cwgl.glexport.request import (
    COLLECTION_KINDS,
    FLAG_NAMES,
    ID_LIST_SETTINGS,
    MAX_IDENTIFIER_LENGTH,
    ExportRequest,
)
from airflow_provider_cwgl.glexport.review import money
from airflow_provider_cwgl.glexport.summary import PARTY_COLLECTIONS, ExportSummary, gl_entry_ids, read_ids
from airflow_provider_cwgl.glexport.xml_reader import iter_items

log = logging.getLogger(__name__)

BATCHES_PATH = "finance/accounting/batches"
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
KIND_LETTERS = {"invoices": "I", "expenses": "E", "procurement": "P"}


class ReceivedSummary(ExportSummary, total=False):
    """An export's summary as the batch step receives it: this version's, or one of an earlier
    version, which listed the GL entry ids itself and had no ids or documents file."""

    gl_entry_ids: list[int]


class BatchResult(TypedDict):
    """``BatchCreator.create``'s answer."""

    batch_identifier: str | None  # None: the step re-exported a past batch and created none
    records: int  # GL entry ids sent as processedRecordIds
    batch_id: int | None  # None: no batch (an export with no GL entries)
    created: bool  # whether this run created it (False: it existed, or none was needed)
    reason: NotRequired[str]  # why no batch was created
    reconciled: NotRequired[bool]  # the batch's re-export was checked against what was approved


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


def ids_from_summary(
    summary: ReceivedSummary, open_file: Callable[[str], AbstractContextManager[IO[bytes]]] | None = None
) -> tuple[list[int], dict[str, bool]]:
    """GL entry ids and export flags from ``GLBatchExportOperator``'s summary.

    The ids are read from the summary's ``gl_entry_ids_file`` (opened with ``open_file``, default
    a local ``open``), checked against the summary's sha256 and count; a summary of an earlier
    version lists them as ``gl_entry_ids``.
    """
    try:
        request = summary["request"]
        if "gl_entry_ids" in summary:
            ids = sorted({int(i) for i in summary["gl_entry_ids"]})
        else:
            location = summary["gl_entry_ids_file"]
            with (open_file or _open_local)(location) as source:
                ids = read_ids(source, summary["sha256"])
    except SettingError:
        raise  # ``open_file`` says what is wrong with the file (e.g. not on this worker)
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise SettingError(
            "export_summary", f"expected the summary GLBatchExportOperator returns ({exc})"
        ) from exc
    flags = {kind: bool(request.get(flag)) for kind, flag in FLAG_NAMES.items()}
    return ids, flags


def _open_local(location: str) -> AbstractContextManager[IO[bytes]]:
    return open(location, "rb")


def ids_from_xml(source: IO[bytes]) -> tuple[list[int], dict[str, bool]]:
    """GL entry ids and export flags read back from a GLExport XML file.

    Each root item is read back into the JSON shape ConnectWise sent (``xml_reader``) and given to
    ``summary.gl_entry_ids``, so the file and the summary share one rule. The flags are those of
    the record types present in the file.
    """
    ids: set[int] = set()
    kinds: set[str] = set()
    for collection, item in iter_items(source):
        if collection in PARTY_COLLECTIONS:
            continue
        kinds.add(COLLECTION_KINDS[collection])
        ids.update(gl_entry_ids(collection, item))
    return sorted(ids), {kind: kind in kinds for kind in FLAG_NAMES}


def documents_from_xml(source: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The documents of a GLExport XML file, as the documents file holds them (``documents.py``):
    collection, id, total and GL entry ids, by the summary's rule."""
    for collection, item in iter_items(source):
        if collection in PARTY_COLLECTIONS:
            continue
        total = item.get("total")
        yield {
            "collection": collection,
            "id": item.get("id"),
            "total": total.strip() or None if isinstance(total, str) else None,
            "gl_entry_ids": sorted(gl_entry_ids(collection, item)),
        }


def ids_from_json(source: IO[bytes]) -> set[int]:
    """GL entry ids of a GLExport JSON document (a batch's export), by the summary's rule."""
    return contents_from_json(source).ids


@dataclass
class BatchContents:
    """What a GLExport holds, as compared with what was approved: GL entry ids, and documents and
    the sum of their totals per collection."""

    ids: set[int] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    totals: dict[str, Decimal] = field(default_factory=dict)

    def differences(self, approved: BatchContents) -> list[str]:
        """What differs from ``approved``, in words; empty when the same."""
        found: list[str] = []
        if self.ids != approved.ids:
            found.append(
                f"GL entry ids: {len(approved.ids - self.ids)} approved ones are not in the batch, "
                f"{len(self.ids - approved.ids)} in the batch were not approved"
            )
        for collection in sorted(set(self.counts) | set(approved.counts)):
            have, want = self.counts.get(collection, 0), approved.counts.get(collection, 0)
            if have != want:
                found.append(f"{collection}: {want} document(s) approved, {have} in the batch")
        for collection in sorted(set(self.totals) | set(approved.totals)):
            have_total = self.totals.get(collection, Decimal(0))
            want_total = approved.totals.get(collection, Decimal(0))
            if have_total != want_total:
                found.append(
                    f"{collection}: total {format(want_total, 'f')} approved, {format(have_total, 'f')} in the batch"
                )
        return found


def contents_from_json(source: IO[bytes]) -> BatchContents:
    """GL entry ids, documents and totals per collection of a GLExport JSON document."""
    contents = BatchContents()
    with localcontext(_EXACT):
        for collection, item, is_item in iter_root(source):
            if not (is_item and isinstance(item, dict)):
                continue
            contents.ids.update(gl_entry_ids(collection, item))
            if collection in PARTY_COLLECTIONS:
                continue
            contents.counts[collection] = contents.counts.get(collection, 0) + 1
            total = money(item.get("total"))
            if total is not None:
                contents.totals[collection] = contents.totals.get(collection, Decimal(0)) + total
    return contents


class BatchCreator:
    """Creates one accounting batch idempotently (see the module docstring)."""

    def __init__(
        self,
        client: ConnectWiseClient,
        *,
        attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.attempts = attempts
        self.sleep = sleep

    def find(self, identifier: str) -> dict[str, Any] | None:
        conditions = f"batchIdentifier = {condition_literal(identifier)}"
        found = list(self.client.list(BATCHES_PATH, conditions=conditions))
        return found[0] if found else None

    def exported_ids(self, batch: dict[str, Any]) -> set[int]:
        """The GL entry ids ``batch`` holds, read from its own GLExport."""
        return self.exported(batch).ids

    def exported(self, batch: dict[str, Any]) -> BatchContents:
        """What ``batch`` holds, read from its own GLExport (``batches/{id}/export``)."""
        body = {flag: bool(batch.get(flag)) for flag in FLAG_NAMES.values()}
        with tempfile.TemporaryFile(prefix="cwgl-batch-", suffix=".json") as sink:
            return self.client.post_to_file(
                f"{BATCHES_PATH}/{batch['id']}/export", body, sink, read=contents_from_json
            )

    def create(
        self,
        identifier: str,
        flags: dict[str, bool],
        record_ids: list[int],
        approved: BatchContents | None = None,
    ) -> BatchResult:
        """Create (or find) the batch; with ``approved``, its re-export must hold exactly that
        (``BatchReconcileError`` names what differs), and the result says ``reconciled``."""
        identifier = check_identifier(identifier)
        if not record_ids:
            log.info("The export has no GL entries: no batch is created")
            return {
                "batch_identifier": identifier,
                "records": 0,
                "batch_id": None,
                "created": False,
                "reason": "empty export",
            }
        body = {
            "batchIdentifier": identifier,
            **{FLAG_NAMES[k]: bool(flags.get(k)) for k in FLAG_NAMES},
            "processedRecordIds": record_ids,
        }
        existing = self.find(identifier)
        posted = existing is None  # whether a POST of ours may have reached ConnectWise
        if existing is None:
            existing = self._post(identifier, body)
        self._check_same_records(existing, identifier, record_ids, posted, approved)
        state = "created" if posted else "already existed"
        log.info(
            "Batch %r (id %s) %s with the %d records", identifier, existing["id"], state, len(record_ids)
        )
        return self._result(identifier, record_ids, existing, posted, approved)

    def _post(self, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST the batch and return it as a lookup finds it; a passing failure is tried again after
        the wait the connection's retry policy says."""
        for attempt in self.client.retrying("POST", BATCHES_PATH, attempts=self.attempts, sleep=self.sleep):
            with attempt:
                batch = self._post_once(identifier, body, look_first=attempt.retry_state.attempt_number > 1)
        return batch

    def _post_once(self, identifier: str, body: dict[str, Any], *, look_first: bool) -> dict[str, Any]:
        # A POST that failed may still have created the batch: never send one again before a lookup.
        if look_first and (found := self.find(identifier)) is not None:
            return found
        try:
            with tempfile.TemporaryFile() as sink:  # the answer is the batch's GLExport: not kept
                self.client.post_to_file(BATCHES_PATH, body, sink, read=_ignore, retry=False)
        except ConnectWiseError as exc:
            if not (exc.status == 400 and any(e.get("code") == "ObjectExists" for e in exc.errors)):
                raise
            log.warning("Creating batch %r: %s; looking it up", identifier, exc)
        found = self.find(identifier)
        if found is None:
            raise BatchNotCreatedError(
                f"batch {identifier!r} was not created: ConnectWise accepted the POST (or said the "
                "batch exists), yet no batch has that identifier"
            )
        return found

    @staticmethod
    def _result(
        identifier: str,
        record_ids: list[int],
        batch: dict[str, Any],
        created: bool,
        approved: BatchContents | None,
    ) -> BatchResult:
        return {
            "batch_identifier": identifier,
            "records": len(record_ids),
            "batch_id": batch["id"],
            "created": created,
            "reconciled": approved is not None,
        }

    def _check_same_records(
        self,
        batch: dict[str, Any],
        identifier: str,
        record_ids: list[int],
        posted: bool,
        approved: BatchContents | None = None,
    ) -> None:
        contents = self.exported(batch)
        have = contents.ids
        wanted = set(record_ids)
        if have == wanted:
            if approved is not None:
                self._reconcile(batch, identifier, contents, approved, posted)
            return
        if have <= wanted:
            missing = len(wanted - have)
            how = "was created with" if posted else "holds"
            raise BatchOverlapError(
                f"ConnectWise batch {batch['id']} ({identifier!r}) {how} {len(have)} of this export's "
                f"{len(wanted)} GL entries and no others: the other {missing} were already marked exported "
                "by another batch (an overlapping export, e.g. two days exported before either was posted). "
                "Those records may have been loaded into the accounting package twice: check them there "
                "before posting further days."
            )
        raise BatchConflictError(
            f"batch_identifier {identifier!r} is already used by ConnectWise batch {batch['id']} with other "
            f"records ({len(have - wanted)} GL entries there are not in this export, {len(have & wanted)} "
            f"in both, {len(wanted - have)} only here). "
            + ("" if posted else "Nothing was created. ")
            + "Use another batch_identifier, or check that batch in ConnectWise."
        )

    def _reconcile(
        self,
        batch: dict[str, Any],
        identifier: str,
        contents: BatchContents,
        approved: BatchContents,
        posted: bool,
    ) -> None:
        differences = contents.differences(approved)
        if differences:
            how = "was created" if posted else "exists"
            raise BatchReconcileError(
                f"ConnectWise batch {batch['id']} ({identifier!r}) {how} but its re-export differs from what "
                f"was approved: {'; '.join(differences)}. Nothing was deleted: compare the batch in "
                "ConnectWise (Finance > Accounting Interface > Batches) with the approved file before loading "
                "anything further."
            )
        log.info(
            "Batch %s reconciles with what was approved: %d GL entries, %s",
            batch["id"],
            len(contents.ids),
            ", ".join(
                f"{c} {n} ({format(contents.totals.get(c, Decimal(0)), 'f')})"
                for c, n in contents.counts.items()
            ),
        )


def _ignore(source: IO[bytes]) -> None:
    """Reads nothing: a created batch's answer is its GLExport, checked later through a lookup."""
