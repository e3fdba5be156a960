"""Where the example DAGs write, and with which connection: one place, read when the task runs.

Each setting is the first of:

1. the DAG run's param (``output_root`` / ``output_conn_id``), when given;
2. the Airflow Variable ``cwgl_output_root`` / ``cwgl_output_conn_id`` (the managed-Airflow way:
   MWAA, Astronomer, Cloud Composer set Variables, not worker environments);
3. the environment variable ``CWGL_OUTPUT_ROOT`` / ``CWGL_OUTPUT_CONN_ID`` of the worker that
   runs the task;
4. the default: ``~/cwgl-exports`` of that worker, and no connection.

The DAGs call these functions from their templates (``templates.OUTPUT_ROOT`` and
``templates.OUTPUT_CONN_ID``, through ``templates.MACROS`` given as the DAG's
``user_defined_macros``), so they are evaluated when the worker
renders the task, never when the dag-processor parses the file: the dag-processor's environment
decides nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow_provider_cwgl.blank import is_blank

ROOT_VARIABLE = "cwgl_output_root"
CONN_ID_VARIABLE = "cwgl_output_conn_id"
ROOT_ENV = "CWGL_OUTPUT_ROOT"
CONN_ID_ENV = "CWGL_OUTPUT_CONN_ID"
DEFAULT_ROOT = "~/cwgl-exports"


def _given(value: Any) -> str | None:
    return None if is_blank(value) else str(value).strip()


def _variable(key: str) -> str | None:
    from airflow.sdk import Variable

    return _given(Variable.get(key, default=None))


def run_setting(param: Any, variable: str, env: str) -> str | None:
    """The first given of ``param``, the Airflow Variable ``variable`` and the worker's ``$env``;
    None when none is. Read when the task runs, on its worker."""
    return _given(param) or _variable(variable) or _given(os.environ.get(env))


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


def conn_id_or_none(conn_id: Any) -> str | None:
    """A rendered connection id setting: ``None`` for an empty one (``""``, ``"None"``)."""
    return _given(conn_id)
