"""Jinja snippets for DAGs that export one business day at a time."""

from __future__ import annotations

# The business day a run is about, as YYYY-MM-DD: its logical date or, for an Airflow 3 run with no
# logical date (a manual trigger), the day it was asked to run. `default(..., true)` also covers a
# logical date that is present but None; the context omits the key when there is none.
BUSINESS_DAY = "(logical_date | default(dag_run.run_after, true) | ds)"
