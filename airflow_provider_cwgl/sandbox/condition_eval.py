"""The sandbox's side of ConnectWise ``conditions`` query strings: parsed and evaluated against JSON
records (the client writes values into them with ``connectwise.conditions.condition_literal``).

Grammar (ConnectWise developer guide): comparisons ``field op value`` joined by ``AND`` / ``OR``
with parentheses. Fields may be nested with ``/`` (``company/id``). Values: ``"text"``, numbers,
``True`` / ``False``, ``null``, ``[2016-08-20T18:04:26Z]`` datetimes, and ``(a, b, c)`` lists for
``in`` / ``not in``. Operators: ``= != < <= > >= like contains in not in``; ``like`` uses ``*``.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from airflow_provider_cwgl.errors import ConditionError
from airflow_provider_cwgl.sandbox.tokens import TokenReader, quoted_or_number

Predicate = Callable[[Mapping[str, Any]], bool]

# ``bad`` takes any character nothing else reads, so the scan stops there with an error.
_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<datetime>\[[^\]]*\])
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<paren>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
# AND binds tighter than OR: one level of the grammar each, loosest first.
_LEVELS: tuple[tuple[str, Callable[[Any], bool]], ...] = (("or", any), ("and", all))
_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le}
_COMPARE |= {">": operator.gt, ">=": operator.ge}


def parse(text: str) -> Predicate:
    parser = _Parser(_TOKEN_RE, text, ConditionError, "conditions")
    predicate = parser.expression()
    extra = parser.peek()
    if extra is not None:
        raise ConditionError(f"unexpected {extra[1]!r} in conditions")
    return predicate


class _Parser(TokenReader):
    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        return False

    def expression(self, level: int = 0) -> Predicate:
        """Operands joined by the ``level``'s keyword (``or``, then ``and``), then a factor."""
        if level == len(_LEVELS):
            return self.factor()
        word, combine = _LEVELS[level]
        operands = [self.expression(level + 1)]
        while self.keyword(word):
            operands.append(self.expression(level + 1))
        if len(operands) == 1:
            return operands[0]
        return lambda record: combine(operand(record) for operand in operands)

    def factor(self) -> Predicate:
        if self.peek() != ("paren", "("):
            return self.comparison()
        self.take()
        inner = self.expression()
        if self.take() != ("paren", ")"):
            raise ConditionError("missing ')' in conditions")
        return inner

    def comparison(self) -> Predicate:
        kind, field = self.take()
        if kind != "word":
            raise ConditionError(f"expected a field name, got {field!r}")
        negate = self.keyword("not")
        kind, op = self.take()
        test: Callable[[Any], bool]
        if kind == "word" and op.lower() == "in":
            values = {_comparable(x) for x in self.value_list()}  # a set: id lists run to hundreds
            test = lambda v: _comparable(v) in values  # noqa: E731
        elif kind == "word" and op.lower() in ("like", "contains"):
            pattern = self.value()
            if not isinstance(pattern, str):
                raise ConditionError(f"{op.lower()} needs a quoted string")
            pattern = f"*{pattern}*".lower() if op.lower() == "contains" else pattern.lower()
            test = lambda v: isinstance(v, str) and fnmatch.fnmatchcase(v.lower(), pattern)  # noqa: E731
        elif kind == "op":
            test = _comparer(op, self.value())
        else:
            raise ConditionError(f"unknown operator {op!r}")
        path = field.split("/")
        return lambda record: test(lookup(record, path)) is not negate

    def value_list(self) -> list[Any]:
        if self.take() != ("paren", "("):
            raise ConditionError("'in' needs a parenthesised list")
        values = [self.value()]
        while (token := self.take()) != ("paren", ")"):
            if token != ("paren", ","):
                raise ConditionError("expected ',' or ')' in a list")
            values.append(self.value())
        return values

    def value(self) -> Any:
        kind, text = self.take()
        if kind in ("string", "number"):
            return quoted_or_number(kind, text)
        if kind == "datetime":
            return datetime.fromisoformat(text[1:-1].replace("Z", "+00:00"))
        if kind == "word" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False}.get(text.lower())
        raise ConditionError(f"expected a value, got {text!r}")


def lookup(record: Any, path: list[str]) -> Any:
    """The value at ``path`` (``["company", "id"]``) in a JSON record; None where it has none."""
    value = record
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _comparable(value: Any) -> Any:
    """A value as conditions compare it: numbers as decimals, text case-folded, date-times naive."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
        except ValueError:
            return value.lower()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def _comparer(op: str, right: Any) -> Callable[[Any], bool]:
    compare, expected = _COMPARE[op], _comparable(right)

    def test(value: Any) -> bool:
        try:
            return bool(compare(_comparable(value), expected))
        except TypeError:  # an order between a number and text, say: ConnectWise matches nothing
            return False

    return test
