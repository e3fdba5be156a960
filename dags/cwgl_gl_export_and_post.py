"""The whole accounting flow: export the GL batch, load it into the accounting package, then mark
its records exported in ConnectWise so the next export does not repeat them.

The load step is a placeholder: replace it with your package's import (QuickBooks, Xero, Sage,
Business Central, ...). It passes the export summary on only after the load succeeded, so a failed
load never marks records exported; a retried batch step finds its own batch instead of making a
second one (see GLBatchCreateOperator).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.templates import BUSINESS_DAY

OUTPUT_ROOT = os.environ.get("CWGL_OUTPUT_ROOT") or str(Path.home() / "cwgl-exports")

with DAG(
    dag_id="cwgl_gl_export_and_post",
    description="Export GL batch -> load into the accounting package -> mark exported in ConnectWise",
    schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1)),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # batches must follow each other: one day's records at a time
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    params={"output_root": OUTPUT_ROOT},
    tags=["connectwise", "accounting"],
) as dag:
    export = GLBatchExportOperator(
        task_id="export_gl_batch",
        export_unposted_invoices=True,
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="{{ " + BUSINESS_DAY + " }}",
        output_file="{{ params.output_root }}/posted/{{ " + BUSINESS_DAY + " }}/glexport.xml",
    )

    @task
    def load_into_accounting_package(summary: dict[str, Any]) -> dict[str, Any]:
        """PLACEHOLDER: import ``summary['output']`` into your accounting package here.

        Raise on any failure, so the records stay unposted and the next run exports them again.
        """
        print(f"PLACEHOLDER: load {summary['output']} ({summary['counts']}) into the accounting package")
        return summary

    loaded = load_into_accounting_package(export.output)

    GLBatchCreateOperator(task_id="mark_exported_in_connectwise", export_summary=loaded)
