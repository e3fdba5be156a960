"""Jinja snippets for DAGs that export one business day at a time."""

from __future__ import annotations

# The business day a run is about, as YYYY-MM-DD:
# - its logical date: with CronDataIntervalTimetable("0 0 * * *") that is the start of the day's
#   data interval, so the run after midnight and a backfill's runs are named by the day they export;
# - with no logical date (an Airflow 3 manual trigger): the `thru_date` param when given, so two
#   different thru dates never share a file, else the day the run was asked for (`run_after`).
# `default(none, true)` also covers a logical date that is present but None (the context omits the
# key when there is none); the date part of the ISO text is the UTC day (Airflow keeps UTC).
BUSINESS_DAY = (
    "(((logical_date | default(none, true)) or params.get('thru_date') or dag_run.run_after) | string)[:10]"
)
