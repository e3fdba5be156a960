"""What a DAG that exports one business day at a time puts in its templates: the business day,
the output root and connection (resolved on the worker by ``output.settings``), and the params
and macros those need."""

from __future__ import annotations

from typing import Any

from airflow_provider_cwgl.output.settings import (
    CONN_ID_ENV,
    CONN_ID_VARIABLE,
    DEFAULT_ROOT,
    ROOT_ENV,
    ROOT_VARIABLE,
    output_conn_id,
    output_root,
)

# The business day a run exports, as YYYY-MM-DD. One expression decides it, and the request's thru
# date, the file name, the asset event's ``business_day`` and a ``batch_identifier="auto"`` all
# follow from it, so a file is always named by the thru date its request used:
# 1. the ``thru_date`` param, when given: a run that asks for a day gets that day, whatever its
#    logical date (the UI's Trigger form and ``airflow dags test`` give one: the moment of asking);
# 2. else its logical date: with CronDataIntervalTimetable("0 0 * * *") the start of the day's data
#    interval, so the run after midnight and a backfill's runs are named by the day they export;
# 3. else (an Airflow 3 manual trigger with no logical date) the day the run was asked for.
# `default(none, true)` also covers a logical date that is present but None (the context omits the
# key when there is none); the date part of the ISO text is the UTC day (Airflow keeps UTC).
BUSINESS_DAY = (
    "((params.get('thru_date') or (logical_date | default(none, true)) or dag_run.run_after) | string)[:10]"
)


def output_params() -> dict[str, Any]:
    """The DAG params ``output_root`` and ``output_conn_id`` (both optional: empty falls through to
    the Variable, then the worker's environment), for a DAG's ``params``."""
    from airflow.sdk import Param

    return {
        "output_root": Param(
            None,
            type=["null", "string"],
            title="Output folder or URL",
            description=f"Empty: the Variable {ROOT_VARIABLE}, else ${ROOT_ENV} on the worker, "
            f"else {DEFAULT_ROOT}.",
        ),
        "output_conn_id": Param(
            None,
            type=["null", "string"],
            title="Output connection id",
            description=f"For an object-storage root. Empty: the Variable {CONN_ID_VARIABLE}, else "
            f"${CONN_ID_ENV} on the worker, else none.",
        ),
    }


# For a DAG's ``user_defined_macros``; the templates below call them.
MACROS = {"cwgl_output_root": output_root, "cwgl_output_conn_id": output_conn_id}
OUTPUT_ROOT = "{{ cwgl_output_root(params.get('output_root')) }}"
OUTPUT_CONN_ID = "{{ cwgl_output_conn_id(params.get('output_conn_id')) }}"
