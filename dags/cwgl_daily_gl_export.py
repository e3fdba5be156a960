"""Daily GL export from ConnectWise Manage: one GLExport XML file per business day.

Schedule: CronDataIntervalTimetable at 00:00 UTC. A run's logical date is the start of its data
interval, i.e. the business day it exports: the run that fires at 00:00 on D+1 has logical date D
and exports everything up to and including D. (A plain ``@daily`` in Airflow 3 would make the
logical date the firing moment.)

- Backfill (unpause the DAG first: the scheduler runs backfills only for unpaused DAGs):
  ``airflow backfill create --dag-id cwgl_daily_gl_export --from-date 2026-03-01 --to-date
  2026-03-03`` creates logical dates 03-01, 03-02 and 03-03: one file per day, thru that day.
- Trigger from the UI: every setting is a typed param. The thru date param, when given, is the
  business day whatever the run's logical date; blank, the logical date is, else (no logical date)
  the day it was triggered. The file is always named by the thru date the request used.
- Output: ``{output_root}/gl/{business day}/glexport.xml``; ``output_root`` is a local folder or
  an object-storage URL such as ``s3://bucket/exports``, written with ``output_conn_id``. Both are
  read when the task runs: the param, else the Variable ``cwgl_output_root`` /
  ``cwgl_output_conn_id``, else ``$CWGL_OUTPUT_ROOT`` / ``$CWGL_OUTPUT_CONN_ID`` on the worker,
  else ``~/cwgl-exports`` and no connection (``airflow_provider_cwgl.dag_helpers``).
- A bad setting fails the task at once (no retries); ConnectWise's transient faults are retried.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, AssetAlias, CronDataIntervalTimetable, Param

from airflow_provider_cwgl.dag_helpers import (
    BUSINESS_DAY,
    MACROS,
    OUTPUT_CONN_ID,
    OUTPUT_ROOT,
    export_arguments,
    export_params,
    output_params,
)
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

# The alias each day's file is attached to at run time; cwgl_load_gl_export.py is scheduled on the
# same name (tests/dags/test_dags.py checks that they agree).
DAILY_EXPORT_ALIAS = "cwgl_daily_gl_export"

# [START cwgl_daily_gl_export_dag]
with DAG(
    dag_id="cwgl_daily_gl_export",
    description="Export unposted ConnectWise GL records to GLExport XML, one file per business day",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=2),
    },
    tags=["connectwise", "accounting"],
    user_defined_macros=MACROS,
    # Each setting reaches the operator as the param's Python value (True, 12, None, a list), not
    # its text: rendered natively, through `| repr` (export_arguments). Paths and dates render as text.
    render_template_as_native_obj=True,
    user_defined_filters={"repr": repr},
    params={
        # A field per export setting (glexport.request.EXPORT_SETTINGS), at the operator's defaults.
        **export_params(
            thru_date=Param(
                None,
                type=["null", "string"],
                format="date",
                title="Thru date",
                description="Records up to and including this date; the file is named by it. "
                "Empty: the run's logical date.",
            ),
        ),
        **output_params(),
    },
) as dag:
    # [START cwgl_daily_gl_export_operator]
    GLBatchExportOperator(
        task_id="export_gl_batch",
        connectwise_conn_id="connectwise_default",
        output_file=OUTPUT_ROOT + "/gl/{{ " + BUSINESS_DAY + " }}/glexport.xml",
        output_conn_id=OUTPUT_CONN_ID,
        # Each setting from its param; the thru date is the business day.
        **export_arguments(thru_date="{{ " + BUSINESS_DAY + " }}"),
        # Each day's file is its own asset, attached to this alias at run time (see
        # cwgl_load_gl_export.py, scheduled on it).
        outlets=[AssetAlias(DAILY_EXPORT_ALIAS)],
    )
    # [END cwgl_daily_gl_export_operator]
# [END cwgl_daily_gl_export_dag]
