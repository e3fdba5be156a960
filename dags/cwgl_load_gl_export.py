"""Data-aware load: runs whenever the daily export (``cwgl_daily_gl_export``) has written a file.

Scheduled on the asset alias the daily export writes through: each business day's file is its own
asset (``file:///…/gl/2026-03-01/glexport.xml`` or ``s3://…``), attached to the alias at run time,
and its event's ``extra`` carries ``sha256``, ``bytes``, ``counts``, ``totals``, ``thru_date``,
``business_day`` and the location. This DAG checks the file against that checksum and then loads
it: the load is a clearly marked PLACEHOLDER for your accounting package's import.

(``cwgl_gl_export_and_post`` keeps export → load → post in one DAG, so records are marked
exported only after a successful load. This DAG shows the decoupled way: the export team's DAG
announces files, the finance system's DAG consumes them.)
"""

from __future__ import annotations

import hashlib
from typing import Any

import pendulum
from airflow.sdk import DAG, AssetAlias, Param, task

from airflow_provider_cwgl.dag_helpers import output_conn_id
from airflow_provider_cwgl.output.resolve import open_for_reading


def file_sha256(uri: str, conn_id: str | None) -> str:
    """SHA-256 of a ``file://`` or object-storage file, read in chunks."""
    digest = hashlib.sha256()
    with open_for_reading(uri, conn_id) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# The alias cwgl_daily_gl_export.py writes each day's file through (tests/dags/test_dags.py checks that
# the two names agree).
ALIAS = AssetAlias("cwgl_daily_gl_export")

# [START cwgl_load_gl_export_dag]
with DAG(
    dag_id="cwgl_load_gl_export",
    description="Load each daily GLExport file into the accounting package when it is written",
    schedule=ALIAS,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # load days in the order their files arrive
    tags=["connectwise", "accounting"],
    params={
        "output_conn_id": Param(
            None,
            type=["null", "string"],
            title="Output connection id",
            description="The connection the export wrote with. Empty: the Variable "
            "cwgl_output_conn_id, else $CWGL_OUTPUT_CONN_ID on the worker, else none.",
        ),
    },
) as dag:

    @task
    def load_into_accounting_package(
        *, params: Any = None, triggering_asset_events: Any = None
    ) -> list[dict[str, Any]]:
        """Verify each new file against its event's checksum, then load it (PLACEHOLDER)."""
        # Asset URIs carry no connection: read with the one the export wrote with, chosen the
        # same way and here, on the worker that runs this task.
        conn_id = output_conn_id((params or {}).get("output_conn_id")) or None
        loaded = []
        # Events are listed under the alias and again under each file's asset: read the alias.
        for event in (triggering_asset_events or {}).get(ALIAS, []):
            uri, extra = event.asset.uri, dict(event.extra or {})
            if file_sha256(uri, conn_id) != extra.get("sha256"):
                raise ValueError(f"{uri} does not match the checksum its export announced; not loading")
            print(
                f"PLACEHOLDER: load {uri} (business day {extra.get('business_day')}, "
                f"location {extra.get('location_id') or 'all'}, counts {extra.get('counts')}) "
                "into the accounting package"
            )
            loaded.append({"uri": uri, **extra})
        return loaded

    load_into_accounting_package()
# [END cwgl_load_gl_export_dag]
