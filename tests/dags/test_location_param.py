"""The daily DAG's ``location_id`` param takes 0, "all locations" as other integrations send it,
and refuses what the operator refuses."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.param import Param, ParamValidationError
from conftest import DAGS


@pytest.fixture
def location_param(airflow_db: None) -> Param:
    dag = DagBag(dag_folder=str(DAGS)).get_dag("cwgl_daily_gl_export")
    assert dag is not None
    return dag.params.get_param("location_id")


@pytest.mark.parametrize("value", [None, 0, 2])
def test_accepted(location_param: Param, value: int | None) -> None:
    assert location_param.resolve(value) == value


@pytest.mark.parametrize("value", [-1, "two"])
def test_refused(location_param: Param, value: object) -> None:
    with pytest.raises(ParamValidationError):
        location_param.resolve(value)
