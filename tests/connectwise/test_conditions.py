"""The client writes a condition value so that it matches only itself: text quoted and escaped,
numbers and booleans bare; checked by the sandbox's evaluator."""

from __future__ import annotations

import pytest

from airflow_provider_cwgl.connectwise.conditions import condition_literal
from airflow_provider_cwgl.sandbox.condition_eval import parse


@pytest.mark.parametrize(
    "text",
    ['Smith "Jr" & Co', "back\\slash", "ends with \\", '" OR id > 0 OR name = "', "plain", "Café"],
)
def test_condition_literal_quotes_text_so_it_matches_only_itself(text: str) -> None:
    assert parse(f"name = {condition_literal(text)}")({"name": text}) is True
    assert parse(f"name = {condition_literal(text)}")({"name": text + "x", "id": 1}) is False


@pytest.mark.parametrize(("value", "written"), [(7, "7"), (True, "True"), (False, "False"), ("7", '"7"')])
def test_condition_literal_writes_numbers_and_booleans_bare(value: object, written: str) -> None:
    assert condition_literal(value) == written
