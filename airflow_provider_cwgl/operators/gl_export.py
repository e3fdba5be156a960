"""GLBatchExportOperator: the spec's "Exporting GL Batches from ConnectWise REST Interface" task."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from airflow_provider_cwgl.errors import EmptyExportError, ExportSettingError
from airflow_provider_cwgl.glexport.batch import BatchCreator
from airflow_provider_cwgl.glexport.documents import DOCUMENTS_SUFFIX
from airflow_provider_cwgl.glexport.exporter import EXPORT_PATH, GLExporter, batch_export_path
from airflow_provider_cwgl.glexport.identifier import resolve_batch_identifier
from airflow_provider_cwgl.glexport.request import EXPORT_SETTINGS, build_export_request, to_batch, to_bool
from airflow_provider_cwgl.glexport.summary import ExportSummary
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.assets import asset_uri, emit_asset_events, event_extra
from airflow_provider_cwgl.operators.failures import fail_without_retry
from airflow_provider_cwgl.output.resolve import output_target

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage


_SETTINGS_DOC = "\n".join(f"    :param {s.name}: {s.description}" for s in EXPORT_SETTINGS)


class GLBatchExportOperator(BaseOperator):
    __doc__ = f"""Export unposted invoices, expenses and/or procurement from ConnectWise as a GLExport XML file.

    :param connectwise_conn_id: the ``connectwise`` connection (default ``connectwise_default``).
    :param output_file: a local path, ``file://`` URL or object-storage URL (``s3://bucket/key``,
        ``gs://…`` with the ``[gcs]`` extra, ``abfs://container/…`` with ``[azure]``). Parent
        folders are created; the file is replaced atomically. An object store is proven writable
        before the first request (a probe object is created and removed beside the target).
    :param output_conn_id: the Airflow connection for object storage; empty (``""``, ``"None"``)
        means none, and the filesystem then uses the worker's ambient credentials.
{_SETTINGS_DOC}
    :param reference_concurrency: how many reference requests may be in flight at once (default 8).

    The settings from ``export_unposted_invoices`` on are ``glexport.request.EXPORT_SETTINGS``. Id
    lists take lists, JSON/Python list strings or comma-separated text; an id both included and
    excluded is an error.

    Asset events: give ``outlets=[AssetAlias("...")]`` (a templated path) or ``outlets=[Asset(uri)]``
    (``operators.assets.event_extra`` says what the event carries). Every setting above is templated
    except ``reference_concurrency``. Returns (to XCom) the ``ExportSummary``.
    """

    template_fields: Sequence[str] = (
        "connectwise_conn_id",
        "output_file",
        "output_conn_id",
        *(setting.name for setting in EXPORT_SETTINGS),
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
        # The signature spells the settings out for Airflow (it checks mapped arguments against it),
        # type checkers and the API docs; a test holds it to EXPORT_SETTINGS, which the rest reads.
        arguments = locals()
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
        self.output_file = output_file
        self.output_conn_id = output_conn_id
        self.reference_concurrency = reference_concurrency
        for setting in EXPORT_SETTINGS:
            setattr(self, setting.name, arguments[setting.name])
        # site, company id, endpoint read, body sent, file written (never the settings: they hold keys)
        self._lineage: tuple[str, str, str, dict[str, Any], str] | None = None

    @fail_without_retry
    def execute(self, context: Context) -> ExportSummary:
        # Every setting is checked before the first request.
        settings = {setting.name: getattr(self, setting.name) for setting in EXPORT_SETTINGS}
        request = build_export_request(**settings)
        skip_when_empty = to_bool("skip_when_empty", settings["skip_when_empty"])
        batch = to_batch(settings["batch_id"])
        identifier = resolve_batch_identifier(settings["batch_identifier"], request, batch)
        target = output_target(self.output_file, self.output_conn_id, beside=(DOCUMENTS_SUFFIX,))
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
        self._lineage = (hook.settings.site, hook.settings.company_id, endpoint, summary["request"], uri)
        outlets = list(self.outlets)
        if outlets and "outlet_events" in context:
            extra = event_extra(summary, request)
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
