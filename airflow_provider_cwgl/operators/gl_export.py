"""GLBatchExportOperator: the spec's "Exporting GL Batches from ConnectWise REST Interface" task."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_cwgl.glexport.exporter import GLExporter, to_batch
from airflow_provider_cwgl.glexport.request import build_export_request
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.output_target import output_target


class GLBatchExportOperator(BaseOperator):
    """Export unposted invoices, expenses and/or procurement from ConnectWise as a GLExport XML file.

    :param connectwise_conn_id: the ``connectwise`` connection (default ``connectwise_default``).
    :param export_unposted_invoices: include unposted invoices (default True).
    :param export_unposted_expenses: include unposted expenses (default False).
    :param export_unposted_procurement: include unposted procurement (default False).
    :param output_file: a local path, ``file://`` URL or object-storage URL (``s3://bucket/key``).
        Parent folders are created; the file is replaced atomically.
    :param output_conn_id: the Airflow connection for object storage, if any.
    :param location_id: only records of this location (owner level) id.
    :param location_name: used when ``location_id`` is empty: the location with this name
        (case-insensitive). No match exports all locations, as the spec says; several is an error.
    :param references_to_fetch: reference paths from ``REFERENCE_PATHS`` whose records are fetched
        and written inside the reference as ``<record>``.
    :param thru_date: records up to this date. A date means the whole day; a datetime keeps its
        time (UTC). Empty lets ConnectWise use its current date.
    :param batch_id: re-export a past accounting batch (its id or identifier) instead of the
        unposted records, e.g. to reproduce a closed period; thru date and location do not apply.
    :param reference_concurrency: how many reference requests may be in flight at once (default 8).

    Every setting above is templated. Returns (to XCom) a summary: output location, counts and
    totals per collection, the count of GL entry ids and the file beside the output that holds
    them (for the accounting batch), a SHA-256, a balance check.
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
        reference_concurrency: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            not isinstance(reference_concurrency, int)
            or isinstance(reference_concurrency, bool)
            or reference_concurrency < 1
        ):
            raise ValueError(
                f"reference_concurrency: expected an integer >= 1, got {reference_concurrency!r}"
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
        self.reference_concurrency = reference_concurrency

    def execute(self, context: Context) -> dict[str, Any]:
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
        batch = to_batch(self.batch_id)
        target = output_target(self.output_file, self.output_conn_id)
        hook = ConnectWiseHook(connectwise_conn_id=self.connectwise_conn_id)
        with hook.get_conn() as client:
            exporter = GLExporter(client, reference_concurrency=self.reference_concurrency)
            summary = exporter.run(request, target, batch=batch)
        self.log.info("GL export summary: %s", json.dumps(summary))
        if not summary["balance"]["ok"]:
            self.log.warning(
                "%d exported document(s) do not balance (header total != -sum of lines): %s",
                summary["balance"]["unbalanced_count"],
                summary["balance"]["unbalanced"],
            )
        return summary
