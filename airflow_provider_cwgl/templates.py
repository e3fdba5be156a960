"""Jinja snippets for DAGs that export one business day at a time."""

from __future__ import annotations

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
