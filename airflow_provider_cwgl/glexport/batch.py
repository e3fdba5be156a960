"""Mark exported records in ConnectWise by creating an accounting batch, exactly once.

``POST finance/accounting/batches`` with the export's GL entry ids (``processedRecordIds``) moves
those records out of the unposted set, so the next export no longer contains them. Creating is not
idempotent on ConnectWise's side, so this module makes it so:

- the batch identifier is deterministic for a run (see ``default_batch_identifier``);
- before creating, the identifier is looked up: a batch with the same records means the work is
  done (a retry after a timeout or a dropped response); one with other records is an error;
- the POST itself is sent once per attempt and never retried blindly: after a transient failure
  the identifier is looked up again before another POST.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import IO, Any

from lxml import etree

from airflow_provider_cwgl.connectwise import ConnectWiseClient, ConnectWiseError
from airflow_provider_cwgl.glexport.summary import read_ids

log = logging.getLogger(__name__)

BATCHES_PATH = "finance/accounting/batches"
MAX_IDENTIFIER_LENGTH = 50  # ConnectWise: "batchIdentifier ... Max length: 50"
KIND_LETTERS = {"invoices": "I", "expenses": "E", "procurement": "P"}
FLAG_NAMES = {
    "invoices": "exportInvoicesFlag",
    "expenses": "exportExpensesFlag",
    "procurement": "exportProductsFlag",
}


class BatchConflictError(RuntimeError):
    """A batch with this identifier already exists with other records."""


def default_batch_identifier(dag_id: str, run_id: str, business_day: str | None, kinds: Iterable[str]) -> str:
    """``cwgl-20260301-IEP-1a2b3c4d5e``: day, record types, and a hash of the DAG and run.

    The same run always gets the same identifier (so a retried task finds its own batch); another
    run, another identifier. The letters follow ConnectWise's advice to name batches by type.
    """
    letters = "".join(KIND_LETTERS[k] for k in ("invoices", "expenses", "procurement") if k in set(kinds))
    digest = hashlib.sha256(f"{dag_id}\n{run_id}".encode()).hexdigest()[:10]
    day = (business_day or "").replace("-", "") or "nodate"
    identifier = f"cwgl-{day}-{letters or 'X'}-{digest}"
    return identifier[:MAX_IDENTIFIER_LENGTH]


def check_identifier(identifier: Any) -> str:
    if not isinstance(identifier, str) or not identifier.strip():
        raise ValueError("batch_identifier: expected non-empty text")
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(
            f"batch_identifier: at most {MAX_IDENTIFIER_LENGTH} characters, got {len(identifier)}"
        )
    return identifier.strip()


def ids_from_summary(
    summary: dict[str, Any], open_file: Callable[[str], AbstractContextManager[IO[bytes]]] | None = None
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
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise ValueError(
            f"export_summary: expected the summary GLBatchExportOperator returns ({exc})"
        ) from exc
    flags = {kind: bool(request.get(flag)) for kind, flag in FLAG_NAMES.items()}
    return ids, flags


def _open_local(location: str) -> AbstractContextManager[IO[bytes]]:
    return open(location, "rb")


# Root item -> element paths (below it) holding GL entry ids; mirrors summary.gl_entry_ids.
_XML_ID_PATHS = {
    "transaction": ("detail/detailItem/id",),
    "expense": ("id", "offset/id"),
    "expenseBill": ("detail/detailItem/id",),
    "purchaseTransaction": (
        "purchaseDetail/purchaseDetailItem/id",
        "purchaseDetailTax/purchaseDetailTaxItem/id",
    ),
    "inventoryTransfer": ("transferId", "offset/id"),
}
_XML_KINDS = {
    "transaction": "invoices",
    "expense": "expenses",
    "expenseBill": "expenses",
    "purchaseTransaction": "procurement",
    "adjustmentTransaction": "procurement",
    "inventoryTransfer": "procurement",
}


def ids_from_xml(source: IO[bytes]) -> tuple[list[int], dict[str, bool]]:
    """GL entry ids and export flags read back from a GLExport XML file (same rule as the summary).

    The flags are those of the record types present in the file.
    """
    ids: set[int] = set()
    kinds: set[str] = set()
    for _, element in etree.iterparse(source, events=("end",), tag=tuple(_XML_KINDS), huge_tree=True):
        parent = element.getparent()
        if parent is None or parent.getparent() is None or parent.getparent().getparent() is not None:
            continue  # only root items (GLExport/<collection>/<item>)
        kinds.add(_XML_KINDS[element.tag])
        if element.tag == "transaction":
            ids.update(
                int(p) for p in (element.findtext("glEntryIds") or "").split(",") if p.strip().isdigit()
            )
        for path in _XML_ID_PATHS.get(element.tag, ()):
            ids.update(int(e.text) for e in element.findall(path) if e.text and e.text.strip().isdigit())
        element.clear(keep_tail=True)
    return sorted(ids), {kind: kind in kinds for kind in FLAG_NAMES}


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
        self.attempts = attempts or client.settings.retry.max_attempts
        self.sleep = sleep

    def find(self, identifier: str) -> dict[str, Any] | None:
        quoted = identifier.replace("\\", "\\\\").replace('"', '\\"')
        found = list(self.client.list(BATCHES_PATH, conditions=f'batchIdentifier = "{quoted}"'))
        return found[0] if found else None

    def entry_ids(self, batch_id: int) -> set[int]:
        return {int(e["id"]) for e in self.client.list(f"{BATCHES_PATH}/{batch_id}/entries")}

    def create(self, identifier: str, flags: dict[str, bool], record_ids: list[int]) -> dict[str, Any]:
        identifier = check_identifier(identifier)
        result: dict[str, Any] = {"batch_identifier": identifier, "records": len(record_ids)}
        if not record_ids:
            log.info("The export has no GL entries: no batch is created")
            return {**result, "batch_id": None, "created": False, "reason": "empty export"}
        body = {
            "batchIdentifier": identifier,
            **{FLAG_NAMES[k]: bool(flags.get(k)) for k in FLAG_NAMES},
            "processedRecordIds": record_ids,
        }
        posted = False  # whether a POST of ours may have reached ConnectWise
        for attempt in range(1, self.attempts + 1):
            existing = self.find(identifier)
            if existing is not None:
                self._check_same_records(existing, identifier, record_ids)
                state = "created" if posted else "already existed"
                log.info(
                    "Batch %r (id %s) %s with the %d records",
                    identifier,
                    existing["id"],
                    state,
                    len(record_ids),
                )
                return {**result, "batch_id": existing["id"], "created": posted}
            posted = True
            try:
                with tempfile.TemporaryFile() as sink:  # the answer is the batch's GLExport: not kept
                    self.client.post_to_file(BATCHES_PATH, body, sink, retry=False)
            except ConnectWiseError as exc:
                exists = exc.status == 400 and any(e.get("code") == "ObjectExists" for e in exc.errors)
                if not (exists or (exc.transient and attempt < self.attempts)):
                    raise
                # It may exist despite the error: look it up before any new POST.
                log.warning(
                    "Creating batch %r: %s; checking whether it exists (attempt %d)", identifier, exc, attempt
                )
                if not exists:
                    self.sleep(min(0.5 * 2**attempt, 30.0))
        existing = self.find(identifier)
        if existing is None:
            raise RuntimeError(f"batch {identifier!r} could not be created after {self.attempts} attempts")
        self._check_same_records(existing, identifier, record_ids)
        return {**result, "batch_id": existing["id"], "created": True}

    def _check_same_records(self, batch: dict[str, Any], identifier: str, record_ids: list[int]) -> None:
        have = self.entry_ids(int(batch["id"]))
        wanted = set(record_ids)
        if have != wanted:
            raise BatchConflictError(
                f"batch_identifier {identifier!r} is already used by ConnectWise batch {batch['id']} with other "
                f"records ({len(have)} GL entries there, {len(wanted)} in this export, {len(have & wanted)} in both). "
                "Nothing was created. Use another batch_identifier, or check that batch in ConnectWise."
            )
