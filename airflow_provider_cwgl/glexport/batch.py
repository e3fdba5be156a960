"""Mark exported records in ConnectWise by creating an accounting batch, exactly once.

``POST finance/accounting/batches`` with the export's GL entry ids (``processedRecordIds``) takes
those records out of the unposted set. ConnectWise does not make that idempotent, so: the
identifier names the business day and record types (``identifier.batch_identifier_for``) and is
looked up before any POST, and again before any retried POST. What a found batch holds is read
from its own GLExport (``batches/{id}/export``) by the rule of ``contents.gl_entry_ids``
(ConnectWise documents no tie between a ``BatchEntry`` id and a GL entry id): the same records
mean done; some of them only, ``BatchOverlapError`` (naming where the rest went); others,
``BatchConflictError``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from itertools import islice
from typing import Any

from typing_extensions import NotRequired, TypedDict

from airflow_provider_cwgl.connectwise import ConnectWiseClient
from airflow_provider_cwgl.connectwise.conditions import condition_literal
from airflow_provider_cwgl.errors import (
    BatchConflictError,
    BatchNotCreatedError,
    BatchOverlapError,
    BatchReconcileError,
    ConnectWiseError,
)
from airflow_provider_cwgl.glexport.contents import Contents, contents_from_json
from airflow_provider_cwgl.glexport.identifier import check_identifier
from airflow_provider_cwgl.glexport.request import FLAG_NAMES

log = logging.getLogger(__name__)

BATCHES_PATH = "finance/accounting/batches"
RECENT_BATCHES = 25  # batches searched for the GL entries a batch lacks
MAX_NAMED = 20  # documents (or GL entry ids) named in that message


class BatchResult(TypedDict):
    """``BatchCreator.create``'s answer."""

    batch_identifier: str | None  # None: the step re-exported a past batch and created none
    records: int  # GL entry ids sent as processedRecordIds
    batch_id: int | None  # None: no batch (an export with no GL entries)
    created: bool  # whether this run created it (False: it existed, or none was needed)
    reason: NotRequired[str]  # why no batch was created
    reconciled: NotRequired[bool]  # the batch's re-export was checked against what was approved


class BatchCreator:
    """Creates one accounting batch idempotently (see the module docstring)."""

    def __init__(
        self,
        client: ConnectWiseClient,
        *,
        attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        documents: Callable[[], Iterable[dict[str, Any]]] | None = None,
    ) -> None:
        """``documents`` reads the export's documents again (the documents file), to name those
        a batch lacks."""
        self.client = client
        self.documents = documents
        self.attempts = attempts
        self.sleep = sleep

    def find(self, identifier: str) -> dict[str, Any] | None:
        conditions = f"batchIdentifier = {condition_literal(identifier)}"
        found = list(self.client.list(BATCHES_PATH, conditions=conditions))
        return found[0] if found else None

    def exported(self, batch: dict[str, Any]) -> Contents:
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
        approved: Contents | None = None,
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
        return {
            "batch_identifier": identifier,
            "records": len(record_ids),
            "batch_id": existing["id"],
            "created": posted,
            "reconciled": approved is not None,
        }

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
            # The answer is the batch's GLExport: not kept, as a lookup then checks the batch.
            with tempfile.TemporaryFile() as sink:
                self.client.post_to_file(BATCHES_PATH, body, sink, read=lambda source: None, retry=False)
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

    def _check_same_records(
        self,
        batch: dict[str, Any],
        identifier: str,
        record_ids: list[int],
        posted: bool,
        approved: Contents | None = None,
    ) -> None:
        contents = self.exported(batch)
        have = set(contents.ids())
        wanted = set(record_ids)
        if have == wanted:
            if approved is not None:
                self._reconcile(batch, identifier, contents, approved, posted)
            return
        if have <= wanted:
            how = "was created with" if posted else "holds"
            raise BatchOverlapError(
                f"ConnectWise batch {batch['id']} ({identifier!r}) {how} {len(have)} of this export's "
                f"{len(wanted)} GL entries and no others: {self._missing(batch, wanted - have)}"
            )
        raise BatchConflictError(
            f"batch_identifier {identifier!r} is already used by ConnectWise batch {batch['id']} with other "
            f"records ({len(have - wanted)} GL entries there are not in this export, {len(have & wanted)} "
            f"in both, {len(wanted - have)} only here). "
            + ("" if posted else "Nothing was created. ")
            + "Use another batch_identifier, or check that batch in ConnectWise."
        )

    def _missing(self, batch: dict[str, Any], missing: set[int]) -> str:
        """Where the GL entries a batch lacks went, as far as ConnectWise shows: in another of the
        ``RECENT_BATCHES`` most recent batches (each re-exported to see), or in none (ConnectWise
        left them out of the batch); named with the documents that hold them."""
        held: dict[int, tuple[dict[str, Any], set[int]]] = {}  # batch id -> (batch, ids it holds)
        left_out = set(missing)
        unchecked = ""
        try:
            recent = self.client.list(BATCHES_PATH, order_by="id desc", page_size=RECENT_BATCHES)
            for other in islice(recent, RECENT_BATCHES):
                if other.get("id") != batch["id"] and left_out:
                    ids = left_out.intersection(self.exported(other).ids())
                    if ids:
                        held[other["id"]] = (other, ids)
                        left_out -= ids
        except ConnectWiseError as exc:
            unchecked = f"could not all be checked ({exc})"
        parts = [
            f"ConnectWise batch {other['id']} ({other.get('batchIdentifier')!r}) holds {len(ids)} of them: {self._named(ids)}"
            for other, ids in held.values()
        ]
        if parts:
            parts[0] = (
                f"the other {len(missing - left_out)} were already marked exported by another batch: {parts[0]}"
            )
            parts[-1] += (
                " (an overlapping export, e.g. two days exported before either was posted): those records "
                "may have been loaded into the accounting package twice; check them there before posting "
                "further days"
            )
        if left_out:
            where = (
                f"are not in the batches checked, which {unchecked}: another batch may hold them, or ConnectWise"
                if unchecked
                else f"are in none of the {RECENT_BATCHES} most recent batches, so ConnectWise (unless an older batch holds them)"
            )
            parts.append(
                f"{'' if parts else 'the other '}{len(left_out)} {where} left them out of this one: "
                f"{self._named(left_out)}. E.g. the invoice was reopened and its GL entries regenerated "
                "between the export and this post; its new GL entries are unposted, so the next export "
                "carries the document again: check it in the accounting package before loading that"
            )
        return "; ".join(parts) + "."

    def _named(self, ids: set[int]) -> str:
        """``ids`` by the documents that hold them (read from ``documents``), at most ``MAX_NAMED``."""
        try:
            named = [
                f"{doc['collection']} {doc['id']} (GL entries {', '.join(map(str, sorted(own)))})"
                for doc in (self.documents() if self.documents is not None else ())
                if (own := ids.intersection(doc.get("gl_entry_ids") or ()))
            ]
        except (OSError, ValueError):  # the documents file is gone or replaced: the ids still say it
            named = []
        named = named or [f"GL entry {i}" for i in sorted(ids)]
        more = f" and {len(named) - MAX_NAMED} more" if len(named) > MAX_NAMED else ""
        return ", ".join(named[:MAX_NAMED]) + more

    def _reconcile(
        self,
        batch: dict[str, Any],
        identifier: str,
        contents: Contents,
        approved: Contents,
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
            len(contents.ids()),
            ", ".join(
                f"{c} {n} ({format(contents.totals.get(c, Decimal(0)), 'f')})"
                for c, n in contents.counts.items()
            ),
        )
