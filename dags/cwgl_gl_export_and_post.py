"""The whole accounting flow: export the GL batch, have it approved in the Airflow UI, load it into
the accounting package, then mark the loaded records exported in ConnectWise so the next export
does not repeat them, and prove the batch ConnectWise made holds what was approved.

export -> approval gate -> approve -> load -> post:

- The approval is Airflow's human-in-the-loop ``ApprovalOperator`` (Airflow 3.1+; on 3.3 the task
  waits in ``awaiting_input``, on 3.1/3.2 it defers to the triggerer). Its subject is the business
  day, the counts and the days the documents are dated; its body the export's review (unbalanced
  documents and documents without a GL account number first, then documents, totals and
  debit/credit per GL account).
- Params: ``approvers`` (user ids; empty: anyone allowed to answer), ``approval_timeout_minutes``,
  ``require_approval`` (false: export -> load -> post, as for teams that post unattended and under
  ``airflow dags test``).
- Reject, or no answer in time, skips load and post: the day's records stay unposted and the next
  day's export carries them.
- A day with nothing to export skips everything after the export (``skip_when_empty``).
- The load step returns the documents it loaded; the post step marks only those exported and
  re-exports the batch it made to check it against the approved file.

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

The load step loads into Xero when a Xero connection is configured: the param ``xero_conn_id``, else
the Variable ``cwgl_xero_conn_id``, else ``$CWGL_XERO_CONN_ID`` on the worker (read when the task
runs), with ``xero_account_codes``, ``xero_tax_types`` and ``xero_invoice_status`` found the same
way (``cwgl_xero_…`` Variables, ``$CWGL_XERO_…``). It returns what Xero holds; the documents Xero
refused stay unposted (the next export carries them), and ``check_refused``, the last task, fails
the run naming each with Xero's message once the rest is posted. Without a Xero connection the load
step is a placeholder: replace it with your package's import (QuickBooks, Sage, Business Central,
...). It returns the documents it loaded only after the load succeeded, so a failed load never
marks records exported, and a document the package refused stays unposted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetAlias, CronDataIntervalTimetable, Param, task

from airflow_provider_cwgl.dag_helpers import (
    BUSINESS_DAY,
    MACROS,
    OUTPUT_CONN_ID,
    OUTPUT_ROOT,
    output_conn_id,
    output_params,
)
from airflow_provider_cwgl.glexport.summary import ExportSummary
from airflow_provider_cwgl.operators.approval import TEMPLATE_MACROS, GLExportApprovalOperator
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.operators.xero import REFUSED_KEY, RUN_SETTINGS, load_target

POSTED_BATCHES_ALIAS = "cwgl_posted_batches"


def placeholder_load(summary: ExportSummary, conn_id: str | None) -> list[dict[str, Any]]:
    """PLACEHOLDER: import ``summary['output']`` into your accounting package here, and return the
    documents it accepted (``{"collection": ..., "id": ...}``); only those are marked exported. This
    placeholder loads them all (read from the documents file beside the export).

    Raise on any failure, so the records stay unposted and the next run exports them again. A
    re-run of a posted day gets the same file again: make the import idempotent (or skip a file
    whose ``sha256`` it already loaded).
    """
    from airflow_provider_cwgl.glexport.documents import read_documents
    from airflow_provider_cwgl.output.resolve import open_for_reading

    with open_for_reading(summary["gl_documents_file"], conn_id) as source:
        loaded = [
            {"collection": d["collection"], "id": d["id"]} for d in read_documents(source, summary["sha256"])
        ]
    print(f"PLACEHOLDER: load {summary['output']} ({summary['counts']}) into the accounting package")
    return loaded


SUMMARY = "ti.xcom_pull(task_ids='export_gl_batch')"

# [START cwgl_gl_export_and_post_dag]
with DAG(
    dag_id="cwgl_gl_export_and_post",
    description="Export GL batch -> load into the accounting package -> mark exported in ConnectWise",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # batches must follow each other: one day's records at a time
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    # The output root and connection are read when each task runs (dag_helpers).
    user_defined_macros={**MACROS, **TEMPLATE_MACROS, "cwgl_load_target": load_target},
    params={
        **output_params(),
        "thru_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business day",
            description="The day to export and post, whatever the run's logical date. Empty: the "
            "logical date, else (no logical date) the day the run was triggered.",
        ),
        "require_approval": Param(
            True,
            type="boolean",
            title="Require approval",
            description="Wait for a person to approve the export in the Airflow UI before loading and "
            "posting it. Off: export, load and post unattended.",
        ),
        "approvers": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Approvers",
            description="User ids (as the auth manager names them) who may approve or reject. Empty: "
            "anyone allowed to answer this DAG's approvals.",
        ),
        "xero_conn_id": Param(
            None,
            type=["null", "string"],
            title="Xero connection id",
            description=f"Load into Xero through this connection. Empty: the Variable "
            f"{RUN_SETTINGS['xero_conn_id'][0]}, else ${RUN_SETTINGS['xero_conn_id'][1]} on the worker, "
            "else the placeholder load step.",
        ),
        "xero_account_codes": Param(
            None,
            type=["null", "object"],
            title="Xero account codes",
            description="ConnectWise GL account number -> Xero account code. Empty: the Variable "
            f"{RUN_SETTINGS['xero_account_codes'][0]} (JSON), else the same codes.",
        ),
        "xero_tax_types": Param(
            None,
            type=["null", "object"],
            title="Xero tax types",
            description="ConnectWise tax code -> Xero TaxType. Empty: the Variable "
            f"{RUN_SETTINGS['xero_tax_types'][0]} (JSON).",
        ),
        "xero_invoice_status": Param(
            None,
            type=["null", "string"],
            enum=[None, "DRAFT", "AUTHORISED"],
            title="Xero invoice status",
            description=f"DRAFT or AUTHORISED. Empty: the Variable {RUN_SETTINGS['xero_invoice_status'][0]}, "
            "else DRAFT.",
        ),
        "approval_timeout_minutes": Param(
            24 * 60,
            type="number",
            exclusiveMinimum=0,
            title="Approval timeout (minutes)",
            description="No answer within this time rejects: nothing is loaded or posted.",
        ),
    },
    tags=["connectwise", "accounting"],
) as dag:
    # [START cwgl_gl_export_and_post_export]
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
        skip_when_empty=True,  # nothing to approve, load or post
    )
    # [END cwgl_gl_export_and_post_export]

    @task.branch
    def approval_gate(params: dict[str, Any]) -> str:
        """Approve first, or (``require_approval`` off) load straight away."""
        return "approve_gl_export" if params["require_approval"] else "load_into_accounting_package"

    gate = approval_gate()

    approve = GLExportApprovalOperator(
        task_id="approve_gl_export",
        subject="{{ cwgl_review_subject(" + SUMMARY + ", " + BUSINESS_DAY + ") }}",
        body="{{ cwgl_review(" + SUMMARY + ", cwgl_load_target(params)) }}",
        retries=0,  # an answer is final; a retry would ask again
    )

    # [START cwgl_gl_export_and_post_load]
    @task(trigger_rule="none_failed_min_one_success")  # after the approval, or the gate alone
    def load_into_accounting_package(
        summary: ExportSummary, params: dict[str, Any], ti: Any = None
    ) -> list[dict[str, Any]]:
        """Into Xero when a Xero connection is configured (the param, Variable or environment
        variable ``xero_conn_id``, read here, on the worker), else the placeholder. Returns the
        documents the package holds; only those are marked exported."""
        from airflow_provider_cwgl.operators.failures import fail_without_retry
        from airflow_provider_cwgl.operators.xero import load_export_into_xero, xero_run_settings

        # Read through the connection the export wrote with, chosen on this worker as it chose it.
        conn_id = output_conn_id(params.get("output_conn_id")) or None
        xero = xero_run_settings(params)
        if xero is not None:
            # A bad setting or a file that is not the approved one fails at once, without retries.
            result = fail_without_retry(load_export_into_xero)(summary, export_file_conn_id=conn_id, **xero)
            ti.xcom_push(key=REFUSED_KEY, value=result.refused)
            return list(result.loaded)
        return placeholder_load(summary, conn_id)

    # [END cwgl_gl_export_and_post_load]
    loaded = load_into_accounting_package(export.output)

    # [START cwgl_gl_export_and_post_mark]
    # The ids and documents files beside the export are read through the connection that wrote it.
    mark = GLBatchCreateOperator(
        task_id="mark_exported_in_connectwise",
        export_summary=export.output,
        export_file_conn_id=OUTPUT_CONN_ID,
        documents=loaded,
        outlets=[AssetAlias(POSTED_BATCHES_ALIAS)],
    )
    export >> gate >> [approve, loaded]
    approve >> loaded
    export >> mark  # directly downstream, so the next day's export waits for it (wait_for_downstream)
    # [END cwgl_gl_export_and_post_mark]

    # [START cwgl_gl_export_and_post_check]
    @task(trigger_rule="none_failed_min_one_success")  # once the post step succeeded
    def check_refused(ti: Any = None) -> None:
        """Fail the run, once what Xero holds is posted, when Xero refused documents: each named
        with Xero's message (they stay unposted; the next export carries them)."""
        from airflow_provider_cwgl.operators.xero import check_refused as check

        check(ti.xcom_pull(task_ids="load_into_accounting_package", key=REFUSED_KEY))

    mark >> check_refused()
    # [END cwgl_gl_export_and_post_check]
# [END cwgl_gl_export_and_post_dag]
