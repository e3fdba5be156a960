"""One GL export task per ConnectWise location: a file per location and business day.

``list_locations`` asks ConnectWise for its locations (``system/locations``) at run time, so a new
location gets its own task on the next run with no DAG change; the export is mapped over them with
dynamic task mapping (``GLBatchExportOperator.partial(...).expand_kwargs(...)``), one mapped task
per location, each named by its location id in the grid.

Files: ``{output_root}/gl/{day}/glexport-{day}-location-{id}-{name}.xml``. Mapped tasks share no
local state (paths are computed from the params, each task writes its own file), so the DAG runs
unchanged on the Celery or Kubernetes executor with an object-storage root: the ``output_root`` /
``output_conn_id`` params, else the Variables ``cwgl_output_root`` / ``cwgl_output_conn_id``, else
``CWGL_OUTPUT_ROOT=s3://bucket/exports`` / ``CWGL_OUTPUT_CONN_ID`` on the worker, read when the
task runs. The default is a local folder for the demo.

Each file is an asset event on the alias ``cwgl_gl_export_by_location``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetAlias, CronDataIntervalTimetable, task

from airflow_provider_cwgl.dag_helpers import BUSINESS_DAY, MACROS, OUTPUT_CONN_ID, OUTPUT_ROOT, output_params
from airflow_provider_cwgl.hooks.connectwise import ConnectWiseHook
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

LOCATION_EXPORT_ALIAS = "cwgl_gl_export_by_location"


def location_file(root: str, day: str, location: dict[str, Any]) -> str:
    """``{root}/gl/{day}/glexport-{day}-location-{id}-{name}.xml``; the name as an ASCII slug."""
    ascii_name = unicodedata.normalize("NFKD", location["name"]).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    name = f"glexport-{day}-location-{location['id']}" + (f"-{slug}" if slug else "") + ".xml"
    return f"{root.rstrip('/')}/gl/{day}/{name}"


# [START cwgl_gl_export_by_location_dag]
with DAG(
    dag_id="cwgl_gl_export_by_location",
    description="Export unposted ConnectWise GL records, one file per location and business day",
    # The logical date is the business day, as in cwgl_daily_gl_export (BUSINESS_DAY relies on it).
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": True},
    user_defined_macros=MACROS,
    params={
        **output_params(),
    },
    tags=["connectwise", "accounting"],
) as dag:

    @task
    def list_locations() -> list[dict[str, Any]]:
        return ConnectWiseHook().list_locations()

    @task
    def export_settings(locations: list[dict[str, Any]], output_root: str, day: str) -> list[dict[str, Any]]:
        """One mapped export's settings per location."""
        return [
            {
                "location_id": loc["id"],
                "location_name": loc["name"],  # for the asset event; the id decides what is exported
                "output_file": location_file(output_root, day, loc),
            }
            for loc in locations
        ]

    settings = export_settings(list_locations(), output_root=OUTPUT_ROOT, day="{{ " + BUSINESS_DAY + " }}")
    # [START cwgl_gl_export_by_location_operator]
    GLBatchExportOperator.partial(
        task_id="export_location",
        export_unposted_invoices=True,
        export_unposted_expenses=True,
        export_unposted_procurement=True,
        thru_date="{{ " + BUSINESS_DAY + " }}",
        output_conn_id=OUTPUT_CONN_ID,
        outlets=[AssetAlias(LOCATION_EXPORT_ALIAS)],
        map_index_template="location {{ task.location_id }}",
    ).expand_kwargs(settings)
    # [END cwgl_gl_export_by_location_operator]
# [END cwgl_gl_export_by_location_dag]
