"""What a DAG that exports one business day at a time puts in its templates and params: the
business day, a field per export setting, and the output root and connection.

The output root and connection are each the run's param, else an Airflow Variable (the managed-
Airflow way: MWAA, Astronomer, Cloud Composer set Variables), else the environment of the worker
that runs the task, else a default. The DAGs call ``output_root`` and ``output_conn_id`` from their
templates (``OUTPUT_ROOT``, ``OUTPUT_CONN_ID``, through ``MACROS`` as ``user_defined_macros``), so
the worker decides when it renders the task, never the dag-processor when it parses the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow_provider_cwgl.blank import text_or_none
from airflow_provider_cwgl.glexport.request import EXPORT_SETTINGS

ROOT_VARIABLE = "cwgl_output_root"
CONN_ID_VARIABLE = "cwgl_output_conn_id"
ROOT_ENV = "CWGL_OUTPUT_ROOT"
CONN_ID_ENV = "CWGL_OUTPUT_CONN_ID"
DEFAULT_ROOT = "~/cwgl-exports"

# The business day a run exports, as YYYY-MM-DD: the one expression the request's thru date, the
# file name, the asset event's ``business_day`` and ``batch_identifier="auto"`` follow, so a file is
# always named by the thru date its request used. The ``thru_date`` param when given (the Trigger
# form and ``airflow dags test`` give a logical date too: the moment of asking); else the logical
# date (with CronDataIntervalTimetable("0 0 * * *") the start of the day's data interval, so the run
# after midnight and a backfill's runs are named by the day they export); else (a manual trigger
# with no logical date) the day the run was asked for. `default(none, true)` also covers a logical
# date present but None; the ISO text's date part is the UTC day (Airflow keeps UTC).
BUSINESS_DAY = (
    "((params.get('thru_date') or (logical_date | default(none, true)) or dag_run.run_after) | string)[:10]"
)


def run_setting(param: Any, variable: str, env: str) -> str | None:
    """The first given of ``param``, the Airflow Variable ``variable`` and the worker's ``$env``;
    None when none is. Read when the task runs, on its worker."""
    from airflow.sdk import Variable

    return (
        text_or_none(param)
        or text_or_none(Variable.get(variable, default=None))
        or text_or_none(os.getenv(env))
    )


def output_root(param: Any = None) -> str:
    """The output root: ``param`` > Variable ``cwgl_output_root`` > ``$CWGL_OUTPUT_ROOT`` >
    ``~/cwgl-exports`` (``~`` expanded on this worker). A local folder or an object-storage URL."""
    root = run_setting(param, ROOT_VARIABLE, ROOT_ENV) or DEFAULT_ROOT
    return str(Path(root).expanduser()) if root.startswith("~") else root


def output_conn_id(param: Any = None) -> str:
    """The output connection id: ``param`` > Variable ``cwgl_output_conn_id`` >
    ``$CWGL_OUTPUT_CONN_ID`` > none, given as ``""`` (what a template can render; the operators
    read an empty connection id as none)."""
    return run_setting(param, CONN_ID_VARIABLE, CONN_ID_ENV) or ""


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


def export_params(**replaced: Any) -> dict[str, Any]:
    """A trigger-form field (DAG param) for each export setting that has one in ``EXPORT_SETTINGS``,
    at the operator's default (a list's field starts as an empty list); ``replaced`` gives some
    a DAG's own field (the daily DAG's thru date, whose empty value means the logical date)."""
    from airflow.sdk import Param

    params: dict[str, Any] = {}
    for s in EXPORT_SETTINGS:
        if s.form is not None:
            text = s.description.replace("``", "")  # the form shows plain text
            params[s.name] = Param(
                [] if "array" in s.form["type"] else s.default,
                title=s.title or s.name.replace("_", " ").capitalize(),
                description=text[0].upper() + text[1:],
                **s.form,
            )
    return {**params, **replaced}


def export_arguments(**replaced: str) -> dict[str, str]:
    """The operator's argument for each field of ``export_params``: the param's value. Through
    ``| repr`` (a DAG's ``user_defined_filters={"repr": repr}``), so that native rendering reads
    every value back as itself: a location named "123" stays text. ``replaced``: as there."""
    arguments = {s.name: "{{ params." + s.name + " | repr }}" for s in EXPORT_SETTINGS if s.form is not None}
    return {**arguments, **replaced}


# For a DAG's ``user_defined_macros``; the templates below call them.
MACROS = {"cwgl_output_root": output_root, "cwgl_output_conn_id": output_conn_id}
OUTPUT_ROOT = "{{ cwgl_output_root(params.get('output_root')) }}"
OUTPUT_CONN_ID = "{{ cwgl_output_conn_id(params.get('output_conn_id')) }}"
