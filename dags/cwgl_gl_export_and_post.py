"""The whole accounting flow: export the GL batch, load it into the accounting package, then mark
its records exported in ConnectWise so the next export does not repeat them.

One business day per run, exactly once, in date order:

- The logical date is the business day (CronDataIntervalTimetable, as in cwgl_daily_gl_export);
  the export runs thru that day and the batch is named after it (``cwgl-20260301-IEP``), never
  after the run id, so every re-run of a day (a cleared task, a reprocessing backfill, a new run
  for the same date) finds that day's batch.
- When the day's batch exists, the export re-exports it (``batches/{id}/export``): the file is the
  same as the first time (same SHA-256) and no second batch is made.
- Days follow each other: the export waits until the previous day's run has posted
  (``wait_for_downstream``; the batch task is directly downstream of the export for that), so no
  two days export the same unposted records. ``max_active_runs=1`` does the same for scheduled
  runs; a backfill has its own limit (``--max-active-runs``, default 10), which is why the wait is
  on the task. Airflow then asks backfills for ``--reprocess-behavior`` (``failed`` or
  ``completed``).

The load step is a placeholder: replace it with your package's import (QuickBooks, Xero, Sage,
Business Central, ...). It passes the export summary on only after the load succeeded, so a failed
load never marks records exported.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.output_settings import MACROS, OUTPUT_CONN_ID, OUTPUT_ROOT
from airflow_provider_cwgl.templates import BUSINESS_DAY

with DAG(
    dag_id="cwgl_gl_export_and_post",
    description="Export GL batch -> load into the accounting package -> mark exported in ConnectWise",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # batches must follow each other: one day's records at a time
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    # The output root and connection are read when each task runs (output_settings).
    user_defined_macros=MACROS,
    params={
        "output_root": Param(
            None,
            type=["null", "string"],
            title="Output folder or URL",
            description="Empty: the Variable cwgl_output_root, else $CWGL_OUTPUT_ROOT on the worker, "
            "else ~/cwgl-exports.",
        ),
        "output_conn_id": Param(
            None,
            type=["null", "string"],
            title="Output connection id",
            description="For an object-storage root. Empty: the Variable cwgl_output_conn_id, else "
            "$CWGL_OUTPUT_CONN_ID on the worker, else none.",
        ),
        "thru_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business day (runs with no logical date only)",
            description="A run with a logical date posts that day; one without posts this day, "
            "else the day it was triggered.",
        ),
    },
    tags=["connectwise", "accounting"],
) as dag:
    export = GLBatchExportOperator(
        task_id="export_gl_batch",
        export_unposted_invoices=True,
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="{{ " + BUSINESS_DAY + " }}",
        batch_identifier="auto",  # the day's batch: re-exported when it exists
        output_file=OUTPUT_ROOT + "/posted/{{ " + BUSINESS_DAY + " }}/glexport.xml",
        output_conn_id=OUTPUT_CONN_ID,
        wait_for_downstream=True,  # the previous day's load and batch first
    )

    @task
    def load_into_accounting_package(summary: dict[str, Any]) -> dict[str, Any]:
        """PLACEHOLDER: import ``summary['output']`` into your accounting package here.

        Raise on any failure, so the records stay unposted and the next run exports them again.
        A re-run of a posted day gets the same file again: make the import idempotent (or skip a
        file whose ``sha256`` it already loaded).
        """
        print(f"PLACEHOLDER: load {summary['output']} ({summary['counts']}) into the accounting package")
        return summary

    loaded = load_into_accounting_package(export.output)

    # The ids file beside the export is read through the connection that wrote it.
    mark = GLBatchCreateOperator(
        task_id="mark_exported_in_connectwise", export_summary=loaded, export_file_conn_id=OUTPUT_CONN_ID
    )
    export >> mark  # directly downstream, so the next day's export waits for it (wait_for_downstream)
