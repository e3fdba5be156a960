"""GLBatchCreateOperator: mark an export's records exported in ConnectWise, exactly once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_cwgl.glexport.batch import (
    BatchCreator,
    check_identifier,
    default_batch_identifier,
    ids_from_summary,
    ids_from_xml,
)
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.output_target import open_for_reading


class GLBatchCreateOperator(BaseOperator):
    """Create the ConnectWise accounting batch for an export, so its records are not exported again.

    Give exactly one source:

    :param export_summary: the summary ``GLBatchExportOperator`` returned (e.g. ``export.output``).
    :param export_file: or the GLExport XML file it wrote (local path or object-storage URL).
    :param export_file_conn_id: the connection for an object-storage ``export_file``.
    :param batch_identifier: at most 50 characters. Default: derived from the DAG, the run and the
        record types (``cwgl-20260301-IEP-1a2b3c4d5e``), so a retried task reuses it.
    :param connectwise_conn_id: the ``connectwise`` connection.

    Idempotent: an existing batch with the same identifier and the same records is success without
    a new batch; with other records it is an error. An export with no GL entries creates no batch.
    Returns ``{batch_id, batch_identifier, records, created}``.
    """

    template_fields: Sequence[str] = (
        "connectwise_conn_id",
        "export_summary",
        "export_file",
        "export_file_conn_id",
        "batch_identifier",
    )
    ui_color = "#2f7ab9"

    def __init__(
        self,
        *,
        export_summary: Any = None,
        export_file: Any = None,
        export_file_conn_id: str | None = None,
        batch_identifier: str | None = None,
        connectwise_conn_id: str = ConnectWiseHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.export_summary = export_summary
        self.export_file = export_file
        self.export_file_conn_id = export_file_conn_id
        self.batch_identifier = batch_identifier
        self.connectwise_conn_id = connectwise_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        record_ids, flags = self._records()
        identifier = check_identifier(self.batch_identifier or self._default_identifier(context, flags))
        hook = ConnectWiseHook(connectwise_conn_id=self.connectwise_conn_id)
        with hook.get_conn() as client:
            return BatchCreator(client).create(identifier, flags, record_ids)

    def _records(self) -> tuple[list[int], dict[str, bool]]:
        has_summary = self.export_summary not in (None, "", "None")
        has_file = self.export_file not in (None, "", "None")
        if has_summary == has_file:
            raise ValueError("export_summary / export_file: give exactly one of them")
        if has_summary:
            summary = self.export_summary
            if isinstance(summary, str):
                try:
                    summary = json.loads(summary)
                except ValueError as exc:
                    raise ValueError(
                        "export_summary: expected the export's summary (a dict or JSON)"
                    ) from exc
            return ids_from_summary(
                summary, lambda ids_file: open_for_reading(ids_file, self.export_file_conn_id)
            )
        with open_for_reading(self.export_file, self.export_file_conn_id) as source:
            return ids_from_xml(source)

    def _default_identifier(self, context: Context, flags: dict[str, bool]) -> str:
        dag_run = context.get("dag_run")
        run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or "manual"
        dag_id = getattr(dag_run, "dag_id", None) or (self.dag_id if self.has_dag() else "cwgl")
        logical = context.get("logical_date") or getattr(dag_run, "run_after", None)
        day = logical.strftime("%Y-%m-%d") if logical is not None else None
        return default_batch_identifier(dag_id, str(run_id), day, [k for k, on in flags.items() if on])
