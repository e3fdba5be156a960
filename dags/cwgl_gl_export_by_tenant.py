"""One GL export per ConnectWise tenant: an MSP group, or a bureau serving several MSPs, runs one
DAG over every tenant's ConnectWise, each with its own Airflow connection.

The tenants are ConnectWise connection ids, read when the run starts: the ``connectwise_conn_ids``
param, else the Airflow Variable ``cwgl_connectwise_conn_ids`` (a JSON list, or ids separated by
commas), else ``["connectwise_default"]``. The export is mapped over them (dynamic task mapping),
one task per tenant named by its connection id in the grid, so a tenant added to the Variable gets
its task on the next run with no DAG change.

Files: ``{output_root}/tenants/{connection id}/gl/{day}/glexport.xml``: each tenant under its own
prefix (grant each tenant's readers that prefix only). The output root and connection are read
when each task runs, as in every example DAG (``airflow_provider_cwgl.dag_helpers``).

One tenant failing does not stop the others: mapped tasks are independent; the failed tenant's
task fails (at once for a bad setting or connection, after its retries for a ConnectWise fault),
the others write their files, and the run is marked failed so the failure is seen. Each file is
an asset event on the alias ``cwgl_gl_export_by_tenant``.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetAlias, CronDataIntervalTimetable, Param, Variable, task

from airflow_provider_cwgl.dag_helpers import BUSINESS_DAY, MACROS, OUTPUT_CONN_ID, OUTPUT_ROOT, output_params
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

TENANTS_VARIABLE = "cwgl_connectwise_conn_ids"
TENANT_EXPORT_ALIAS = "cwgl_gl_export_by_tenant"
# What Airflow accepts as a connection id; it becomes a path segment, so nothing else is let in.
CONN_ID = re.compile(r"[A-Za-z0-9_.-]+")


def tenant_conn_ids(param: Any, variable: str | None) -> list[str]:
    """The tenants' connection ids: the param if given, else the Variable (JSON list or commas),
    else the default connection. Duplicates are dropped; an id that is not a plain connection id
    is an error naming the setting it came from."""
    setting, value = ("connectwise_conn_ids", param) if param else (TENANTS_VARIABLE, variable)
    if not value:
        return [ConnectWiseHook.default_conn_name]
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text) if text.startswith("[") else text.split(",")
        except ValueError as exc:
            raise SettingError(
                setting, f"expected connection ids as a JSON list, got {text!r}: {exc}"
            ) from exc
    if not isinstance(value, list):
        raise SettingError(setting, f"expected a list of connection ids, got {value!r}")
    ids = list(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))
    bad = [i for i in ids if not CONN_ID.fullmatch(i)]
    if bad or not ids:
        raise SettingError(
            setting, f"expected connection ids (letters, digits, '_', '.', '-'), got {bad or value!r}"
        )
    return ids


with DAG(
    dag_id="cwgl_gl_export_by_tenant",
    description="Export unposted ConnectWise GL records for several tenants, one file per tenant and day",
    # The logical date is the business day, as in cwgl_daily_gl_export (BUSINESS_DAY relies on it).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    user_defined_macros=MACROS,
    params={
        "connectwise_conn_ids": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            title="Tenants (ConnectWise connection ids)",
            description=f"Empty: the Variable {TENANTS_VARIABLE}, else connectwise_default.",
        ),
        **output_params(),
    },
    tags=["connectwise", "accounting"],
) as dag:

    @task
    def tenant_exports(output_root: str, day: str, *, params: Any = None) -> list[dict[str, Any]]:
        """One mapped export's settings per tenant."""
        ids = tenant_conn_ids(
            (params or {}).get("connectwise_conn_ids"), Variable.get(TENANTS_VARIABLE, default=None)
        )
        root = output_root.rstrip("/")
        return [
            {"connectwise_conn_id": i, "output_file": f"{root}/tenants/{i}/gl/{day}/glexport.xml"}
            for i in ids
        ]

    GLBatchExportOperator.partial(
        task_id="export_tenant",
        export_unposted_invoices=True,
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="{{ " + BUSINESS_DAY + " }}",
        output_conn_id=OUTPUT_CONN_ID,
        outlets=[AssetAlias(TENANT_EXPORT_ALIAS)],
        map_index_template="{{ task.connectwise_conn_id }}",
    ).expand_kwargs(tenant_exports(output_root=OUTPUT_ROOT, day="{{ " + BUSINESS_DAY + " }}"))
