"""GLBatchExportOperator: the spec's "Exporting GL Batches from ConnectWise REST Interface" task."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_cwgl.errors import EmptyExportError, ExportSettingError
from airflow_provider_cwgl.glexport.batch import BatchCreator
from airflow_provider_cwgl.glexport.exporter import EXPORT_PATH, GLExporter, batch_export_path
from airflow_provider_cwgl.glexport.identifier import resolve_batch_identifier
from airflow_provider_cwgl.glexport.request import (
    ID_LIST_SETTINGS,
    build_export_options,
    build_export_request,
    to_batch,
    to_bool,
)
from airflow_provider_cwgl.glexport.summary import ExportSummary
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.assets import asset_uri, emit_asset_events, event_extra
from airflow_provider_cwgl.operators.failures import fail_without_retry
from airflow_provider_cwgl.output.resolve import output_target

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage


class ExportLineage(NamedTuple):
    """What lineage names of one export (never the settings object, which holds the keys)."""

    site: str
    company_id: str
    endpoint: str  # the ConnectWise endpoint read
    request: dict[str, Any]  # the body sent to it
    uri: str  # the file or object written


class GLBatchExportOperator(BaseOperator):
    """Export unposted invoices, expenses and/or procurement from ConnectWise as a GLExport XML file.

    :param connectwise_conn_id: the ``connectwise`` connection (default ``connectwise_default``).
    :param export_unposted_invoices: include unposted invoices (default True).
    :param export_unposted_expenses: include unposted expenses (default False).
    :param export_unposted_procurement: include unposted procurement (default False).
    :param output_file: a local path, ``file://`` URL or object-storage URL (``s3://bucket/key``,
        ``gs://…`` with the ``[gcs]`` extra, ``abfs://container/…`` with ``[azure]``). Parent
        folders are created; the file is replaced atomically. An object store is proven writable
        before the first request (a probe object is created and removed beside the target).
    :param output_conn_id: the Airflow connection for object storage; empty (``""``, ``"None"``)
        means none, and the filesystem then uses the worker's ambient credentials.
    :param location_id: only records of this location (owner level) id.
    :param location_name: used when ``location_id`` is empty: the location with this name
        (case-insensitive). No match exports all locations, as the spec says; several is an error.
    :param references_to_fetch: reference paths from ``REFERENCE_PATHS`` whose records are fetched
        and written inside the reference as ``<record>``.
    :param thru_date: records up to this date. A date means the whole day; a datetime keeps its
        time (UTC). Empty lets ConnectWise use its current date.
    :param batch_id: re-export a past accounting batch (its id or identifier) instead of the
        unposted records, e.g. to reproduce a closed period; thru date and location do not apply.
    :param batch_identifier: the identifier of the accounting batch this export becomes (the one
        ``GLBatchCreateOperator`` then uses). If ConnectWise already has a batch with it, that
        batch is re-exported instead of the unposted records, so re-running a posted day writes
        the same file (same SHA-256) and the batch step creates nothing. ``"auto"``: the business
        day and record types, ``cwgl-20260301-IEP`` (``-L12`` for one location), from the thru
        date, which is then required, and refused with the include/exclude id lists (a second
        subset of the day would find the first's batch). Empty (default): always export the
        unposted records.
    :param reference_concurrency: how many reference requests may be in flight at once (default 8).
    :param summarize_invoices: ``Default``, ``Condensed`` or ``Detailed`` (``summarizeInvoices``);
        empty leaves ConnectWise's default.
    :param included_invoice_ids: only these unposted invoices (``includedInvoiceIds``); likewise
        ``excluded_invoice_ids`` (all but these), ``included_expense_ids``,
        ``excluded_expense_ids`` (integers) and ``included_product_ids``, ``excluded_product_ids``
        (procurement ids, text as in the API). Lists, JSON/Python list strings or comma-separated
        text; an id both included and excluded is an error.
    :param gl_interface_identifier: sent as ``glInterfaceIdentifier``.
    :param skip_when_empty: when the export holds no documents, write nothing (the previous file
        stays) and end the task as skipped (default False: an empty GLExport file is written).

    Asset events: give ``outlets=[AssetAlias("...")]`` (a templated path) or ``outlets=[Asset(uri)]``
    and the task emits an event for the file it wrote, whose ``extra`` carries ``sha256``,
    ``bytes``, ``counts``, ``totals``, ``thru_date``, ``business_day``, ``location_id`` and
    ``location_name``.

    Every setting above is templated except ``reference_concurrency``. Returns (to XCom) a
    summary: output location, counts and totals per collection, the dates the documents cover, the
    count of GL entry ids and the documents file beside the output that ties them to documents (for
    the accounting batch), a SHA-256 and the review (balance check included).
    """

    template_fields: Sequence[str] = (
        "connectwise_conn_id",
        "export_unposted_invoices",
        "export_unposted_expenses",
        "export_unposted_procurement",
        "output_file",
        "output_conn_id",
        "location_id",
        "location_name",
        "references_to_fetch",
        "thru_date",
        "batch_id",
        "batch_identifier",
        "summarize_invoices",
        *(spec.setting for spec in ID_LIST_SETTINGS),
        "gl_interface_identifier",
        "skip_when_empty",
    )
    template_fields_renderers = {"references_to_fetch": "py"}
    ui_color = "#2f7ab9"

    def __init__(
        self,
        *,
        output_file: Any,
        connectwise_conn_id: str = ConnectWiseHook.default_conn_name,
        export_unposted_invoices: Any = True,
        export_unposted_expenses: Any = False,
        export_unposted_procurement: Any = False,
        output_conn_id: str | None = None,
        location_id: Any = None,
        location_name: Any = None,
        references_to_fetch: Any = None,
        thru_date: Any = None,
        batch_id: Any = None,
        batch_identifier: Any = None,
        reference_concurrency: int = 8,
        summarize_invoices: Any = None,
        included_invoice_ids: Any = None,
        excluded_invoice_ids: Any = None,
        included_expense_ids: Any = None,
        excluded_expense_ids: Any = None,
        included_product_ids: Any = None,
        excluded_product_ids: Any = None,
        gl_interface_identifier: Any = None,
        skip_when_empty: Any = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            not isinstance(reference_concurrency, int)
            or isinstance(reference_concurrency, bool)
            or reference_concurrency < 1
        ):
            raise ExportSettingError(
                "reference_concurrency", f"expected an integer >= 1, got {reference_concurrency!r}"
            )
        self.connectwise_conn_id = connectwise_conn_id
        self.export_unposted_invoices = export_unposted_invoices
        self.export_unposted_expenses = export_unposted_expenses
        self.export_unposted_procurement = export_unposted_procurement
        self.output_file = output_file
        self.output_conn_id = output_conn_id
        self.location_id = location_id
        self.location_name = location_name
        self.references_to_fetch = references_to_fetch
        self.thru_date = thru_date
        self.batch_id = batch_id
        self.batch_identifier = batch_identifier
        self.reference_concurrency = reference_concurrency
        self.summarize_invoices = summarize_invoices
        self.included_invoice_ids = included_invoice_ids
        self.excluded_invoice_ids = excluded_invoice_ids
        self.included_expense_ids = included_expense_ids
        self.excluded_expense_ids = excluded_expense_ids
        self.included_product_ids = included_product_ids
        self.excluded_product_ids = excluded_product_ids
        self.gl_interface_identifier = gl_interface_identifier
        self.skip_when_empty = skip_when_empty
        self._lineage: ExportLineage | None = None

    @fail_without_retry
    def execute(self, context: Context) -> ExportSummary:
        # Every setting is checked before the first request.
        request = build_export_request(
            export_unposted_invoices=self.export_unposted_invoices,
            export_unposted_expenses=self.export_unposted_expenses,
            export_unposted_procurement=self.export_unposted_procurement,
            location_id=self.location_id,
            location_name=self.location_name,
            references_to_fetch=self.references_to_fetch,
            thru_date=self.thru_date,
        )
        options = build_export_options(
            summarize_invoices=self.summarize_invoices,
            gl_interface_identifier=self.gl_interface_identifier,
            **{spec.setting: getattr(self, spec.setting) for spec in ID_LIST_SETTINGS},
        )
        request = dataclasses.replace(request, options=options)
        skip_when_empty = to_bool("skip_when_empty", self.skip_when_empty)
        batch = to_batch(self.batch_id)
        identifier = resolve_batch_identifier(self.batch_identifier, request, batch)
        target = output_target(self.output_file, self.output_conn_id)
        hook = ConnectWiseHook(connectwise_conn_id=self.connectwise_conn_id)
        with hook.get_conn() as client:
            if identifier is not None:
                existing = BatchCreator(client).find(identifier)
                if existing is not None:
                    self.log.info("Batch %r (id %s) exists: re-exporting it", identifier, existing["id"])
                    batch = int(existing["id"])
            exporter = GLExporter(client, reference_concurrency=self.reference_concurrency)
            try:
                summary = exporter.run(request, target, batch=batch, skip_when_empty=skip_when_empty)
            except EmptyExportError as exc:
                raise AirflowSkipException(f"Nothing to export: {exc} ({target.describe()})") from exc
        if identifier is not None:
            summary["batch_identifier"] = identifier
        uri = asset_uri(target)
        batch_id = summary.get("batch_id")
        endpoint = batch_export_path(batch_id) if batch_id is not None else EXPORT_PATH
        self._lineage = ExportLineage(
            hook.settings.site, hook.settings.company_id, endpoint, summary["request"], uri
        )
        outlets = list(self.outlets)
        if outlets and "outlet_events" in context:
            extra = event_extra(summary, request, request.location_name)
            emitted = emit_asset_events(outlets, context["outlet_events"], uri, extra)
            self.log.info("Asset event for %s on %d outlet(s)", uri, emitted)
        self.log.info("GL export summary: %s", json.dumps(summary))
        balance = summary["review"]["balance"]
        if not balance["ok"]:
            self.log.warning(
                "%d exported document(s) do not balance (header total != -sum of lines): %s",
                balance["unbalanced_count"],
                balance["unbalanced"],
            )
        return summary

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Dataset, Any]:
        """Input: the site's ConnectWise export endpoint, with the request sent as a facet.
        Output: the file or object written. See ``operators/lineage.py`` for the naming."""
        from airflow_provider_cwgl.operators.lineage import (
            connectwise_dataset,
            file_dataset,
            operator_lineage,
        )

        if self._lineage is None:  # nothing was exported (skipped), so there is no lineage to report
            return operator_lineage([], [])
        site, company_id, endpoint, body, uri = self._lineage
        return operator_lineage(
            [connectwise_dataset(site, company_id, endpoint, request=body)], [file_dataset(uri)]
        )
