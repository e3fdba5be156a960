"""The sandbox's conditions evaluator: ConnectWise's operators, precedence and values on a record,
and the malformed conditions it refuses as ConnectWise does."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_cwgl.errors import ConditionError
from airflow_provider_cwgl.sandbox.condition_eval import parse

RECORD = {
    "id": 7,
    "identifier": "Angry Fox, Co.",
    "active": True,
    "total": Decimal("12.50"),
    "company": {"id": 8, "name": "Café Crème"},
    "lastUpdated": "2026-02-01T10:00:00Z",
    "note": None,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id = 7", True),
        ("id != 7", False),
        ("id in (1, 7, 9)", True),
        ("id not in (1, 9)", True),
        ('identifier = "angry fox, co."', True),
        ('identifier like "Angry*"', True),
        ('identifier like "*Wolf*"', False),
        ('identifier contains "Fox"', True),
        ("active = True", True),
        ("active = false", False),
        ("total = 12.5", True),
        ("total > 12", True),
        ("total <= 12.49", False),
        ("company/id = 8", True),
        ('company/name = "Café Crème"', True),
        ("lastUpdated > [2026-01-31T00:00:00Z]", True),
        ("lastUpdated < [2026-01-31T00:00:00Z]", False),
        ("note = null", True),
        ("id = 1 OR id = 7", True),
        ("id = 7 AND company/id = 9", False),
        ("(id = 1 OR id = 7) AND active = True", True),
        ("id = 1 OR id = 2 AND active = True", False),
        ('missing/field = "x"', False),
    ],
)
def test_condition_evaluation(text: str, expected: bool) -> None:
    assert parse(text)(RECORD) is expected


@pytest.mark.parametrize("text", ["id ==", "id in 1, 2", "(id = 1", "id like 5", "= 5", "id ~ 3"])
def test_bad_conditions_raise(text: str) -> None:
    with pytest.raises(ConditionError):
        parse(text)
