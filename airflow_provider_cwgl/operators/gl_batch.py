"""GLBatchCreateOperator: mark an export's records exported in ConnectWise, exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, cast

from airflow.sdk import BaseOperator, Context

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.batch import BATCHES_PATH, BatchCreator, BatchResult
from airflow_provider_cwgl.glexport.documents import (
    Selection,
    SelectionReport,
    parse_documents,
    read_documents,
    select_documents,
)
from airflow_provider_cwgl.glexport.identifier import batch_identifier_for, check_identifier
from airflow_provider_cwgl.glexport.request import FLAG_NAMES
from airflow_provider_cwgl.glexport.summary import ExportSummary
from airflow_provider_cwgl.glexport.xml_reader import documents_from_xml
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.assets import emit_asset_events
from airflow_provider_cwgl.operators.failures import fail_without_retry
from airflow_provider_cwgl.operators.lineage import connectwise_namespace
from airflow_provider_cwgl.output.resolve import open_for_reading, sha256_of


class BatchSummary(BatchResult, SelectionReport):
    """What ``GLBatchCreateOperator`` returns for a batch it created or found (XCom, plain JSON)."""

    counts: dict[str, int]  # documents posted per collection
    totals: dict[str, str]  # their totals, exact decimals
    sha256: str  # of the export file approved


# What a batch's asset event carries: the summary less the document lists.
_EVENT_KEYS = ("batch_id", "batch_identifier", "records", "created", "counts", "totals", "sha256")


class GLBatchCreateOperator(BaseOperator):
    """Create the ConnectWise accounting batch for an export, so its records are not exported again.

    Give exactly one source:

    :param export_summary: the summary ``GLBatchExportOperator`` returned (e.g. ``export.output``).
    :param export_file: or the GLExport XML file it wrote (local path or object-storage URL).
    :param export_file_conn_id: the connection for an object-storage ``export_file``, or for the
        documents object beside the export a summary names (the export's ``output_conn_id``).
        A local file missing on this worker fails saying it is likely on another worker's disk.
    :param batch_identifier: at most 50 characters. Default: the one the export step used (its
        ``batch_identifier`` setting), else the business day and record types
        (``cwgl-20260301-IEP``, ``-L12`` for one location): the export's thru date, or the run's
        logical date, or the day it ran. Every re-run of a day so finds that day's batch.
    :param documents: which documents to post (templated). None (default): every document of
        the export. Else a list of ``{"collection": "transactions", "id": 123}`` (a GLExport root
        collection and that item's id; other keys, such as a loader's ``xero_id`` and ``number``, are
        ignored, so ``documents=load.output`` works as it is): only their GL entry ids are sent as
        ``processedRecordIds``;
        the others stay unposted, so the next export carries them, and are logged and returned.
        A document not in the export is an error before any request.
    :param connectwise_conn_id: the ``connectwise`` connection.

    Idempotent as ``glexport.batch`` says; a batch holding part or others of the records, or a bad
    setting, fails the task without retries. An export with no GL entries creates no batch, nor
    does a summary of a past batch's re-export (``batch_id``). Returns ``BatchSummary``.
    """

    template_fields: Sequence[str] = (
        "connectwise_conn_id",
        "export_summary",
        "export_file",
        "export_file_conn_id",
        "batch_identifier",
        "documents",
    )
    template_fields_renderers = {"documents": "json"}
    ui_color = "#2f7ab9"

    def __init__(
        self,
        *,
        export_summary: Any = None,
        export_file: Any = None,
        export_file_conn_id: str | None = None,
        batch_identifier: str | None = None,
        documents: Any = None,
        connectwise_conn_id: str = ConnectWiseHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.documents = documents
        self.export_summary = export_summary
        self.export_file = export_file
        self.export_file_conn_id = export_file_conn_id
        self.batch_identifier = batch_identifier
        self.connectwise_conn_id = connectwise_conn_id

    @fail_without_retry
    def execute(self, context: Context) -> BatchResult | BatchSummary:
        summary = self._summary()
        wanted = parse_documents(self.documents)
        if summary and summary.get("batch_id") is not None and not summary.get("batch_identifier"):
            # The export re-exported a past batch (batch_id): its records are marked already, and a
            # new batch with them would be empty (or a second batch over the same records).
            selection, _, _ = self._selection(summary, None)
            self.log.info("The export re-exported batch %s: nothing to mark", summary["batch_id"])
            return {
                "batch_id": summary["batch_id"],
                "batch_identifier": None,
                "records": len(selection.contents.ids()),
                "created": False,
                "reason": "re-export of an existing batch",
            }
        selection, flags, sha256 = self._selection(summary, wanted)
        approved = selection.contents
        record_ids = approved.ids().tolist()
        report = selection.report()
        if selection.left_count:
            self.log.warning(
                "%d document(s) of the export were not loaded and stay unposted (the next export carries "
                "them): %s",
                selection.left_count,
                report["not_posted"],
            )
        if selection.without_ids_count:
            self.log.warning(
                "%d document(s) carry no GL entry id, so no batch can mark them exported: %s",
                selection.without_ids_count,
                report["without_gl_entry_ids_listed"],
            )
        identifier = check_identifier(
            self._default_identifier(context, flags, summary)
            if is_blank(self.batch_identifier)
            else self.batch_identifier
        )
        hook = ConnectWiseHook(connectwise_conn_id=self.connectwise_conn_id)
        with hook.get_conn() as client:
            creator = BatchCreator(client, documents=lambda: self._documents(summary))
            created = creator.create(identifier, flags, record_ids, approved=approved)
        result: BatchSummary = {
            **created,
            "counts": dict(approved.counts),
            "totals": approved.formatted_totals(),
            "sha256": sha256,
            **report,
        }
        if result["batch_id"] is not None:
            self._emit(context, hook, result)
        self.log.info("Batch result: %s", json.dumps(result, default=str))
        return result

    def _emit(self, context: Context, hook: ConnectWiseHook, result: BatchSummary) -> None:
        outlets = list(self.outlets)
        if not outlets or "outlet_events" not in context:
            return
        settings = hook.settings
        uri = f"{connectwise_namespace(settings.site)}/{settings.company_id}/{BATCHES_PATH}/{result['batch_id']}"
        extra = {k: v for k, v in result.items() if k in _EVENT_KEYS}
        emitted = emit_asset_events(outlets, context["outlet_events"], uri, extra)
        self.log.info("Asset event for %s on %d outlet(s)", uri, emitted)

    def _selection(
        self, summary: ExportSummary | None, wanted: list[tuple[str, str]] | None
    ) -> tuple[Selection, dict[str, bool], str]:
        """The documents to post, the export flags and the approved file's SHA-256. Reads only
        files: every error here comes before any ConnectWise request."""
        if summary is None:
            with open_for_reading(self.export_file, self.export_file_conn_id) as source:
                digest = sha256_of(source)
            selection = select_documents(self._documents(None), wanted)
            return selection, selection.flags(), digest
        try:
            request = summary["request"]
            flags = {kind: bool(request.get(flag)) for kind, flag in FLAG_NAMES.items()}
            selection = select_documents(self._documents(summary), wanted)
        except (ValueError, FileNotFoundError, KeyError, TypeError, AttributeError) as exc:
            # Not any OSError: a store that did not answer may answer the task's next try.
            if isinstance(exc, SettingError):
                raise  # e.g. the file is not on this worker, or a document not in the export
            raise SettingError(
                "export_summary", f"expected the summary GLBatchExportOperator returns ({exc})"
            ) from exc
        return selection, flags, str(summary["sha256"])

    def _documents(self, summary: ExportSummary | None) -> Iterator[dict[str, Any]]:
        """The export's documents: from the documents file a summary names (checked to be that
        export's), or read back from ``export_file``."""
        if summary is None:
            with open_for_reading(self.export_file, self.export_file_conn_id) as source:
                yield from documents_from_xml(source)
            return
        location = summary["gl_documents_file"]
        with open_for_reading(location, self.export_file_conn_id, "export_summary") as source:
            yield from read_documents(source, summary["sha256"])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input: the export file (from the summary or ``export_file``); output: the site's
        ConnectWise ``finance/accounting/batches``. Naming in ``operators/lineage.py``."""
        from airflow_provider_cwgl.operators.lineage import (
            connectwise_dataset,
            file_dataset,
            operator_lineage,
        )

        summary = self._summary()
        source = summary.get("output") if summary is not None else self.export_file
        settings = ConnectWiseHook(connectwise_conn_id=self.connectwise_conn_id).settings
        return operator_lineage(
            [] if is_blank(source) else [file_dataset(str(source))],
            [connectwise_dataset(settings.site, settings.company_id, BATCHES_PATH)],
        )

    def _summary(self) -> ExportSummary | None:
        has_summary = not is_blank(self.export_summary)
        has_file = not is_blank(self.export_file)
        if has_summary == has_file:
            raise SettingError("export_summary / export_file", "give exactly one of them")
        if not has_summary:
            return None
        summary = self.export_summary
        if isinstance(summary, str):
            try:
                summary = json.loads(summary)
            except ValueError as exc:
                raise SettingError(
                    "export_summary", "expected the export's summary (a dict or JSON)"
                ) from exc
        if not isinstance(summary, dict):
            raise SettingError(
                "export_summary", f"expected the export's summary (a dict), got {type(summary)}"
            )
        # Its keys are checked where they are read, each error naming export_summary.
        return cast(ExportSummary, summary)

    def _default_identifier(
        self, context: Context, flags: dict[str, bool], summary: ExportSummary | None
    ) -> str:
        if summary and summary.get("batch_identifier"):
            return str(summary["batch_identifier"])
        request: dict[str, Any] = (summary.get("request") if summary else None) or {}
        day = str(request.get("thruDate") or "")[:10]
        if not day:
            dag_run = context.get("dag_run")
            moment = context.get("logical_date") or getattr(dag_run, "run_after", None)
            if moment is None:
                raise SettingError(
                    "batch_identifier", "give one: the export has no thru date and the run no date"
                )
            day = moment.strftime("%Y-%m-%d")
        kinds = [k for k, on in flags.items() if on]
        return batch_identifier_for(day, kinds, request.get("locationId"))
