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

from airflow_provider_cwgl.errors import ConditionError as ConditionError

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<datetime>\[[^\]]*\])
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<paren>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_/.]*)
      | (?P<number>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)


def parse(text: str) -> Predicate:
    tokens = _tokenize(text)
    parser = _Parser(tokens)
    predicate = parser.expression()
    extra = parser.peek()
    if extra is not None:
        raise ConditionError(f"unexpected {extra[1]!r} in conditions")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"cannot read conditions near {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ConditionError("conditions end too early")
        self.pos += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.pos += 1
            return True
        return False

    def expression(self) -> Predicate:
        left = self.term()
        while self.keyword("or"):
            right = self.term()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def term(self) -> Predicate:
        left = self.factor()
        while self.keyword("and"):
            right = self.factor()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def factor(self) -> Predicate:
        token = self.peek()
        if token == ("paren", "("):
            self.take()
            inner = self.expression()
            if self.take() != ("paren", ")"):
                raise ConditionError("missing ')' in conditions")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, field = self.take()
        if kind != "word":
            raise ConditionError(f"expected a field name, got {field!r}")
        negate = self.keyword("not")
        token = self.take()
        op = token[1].lower()
        test: Callable[[Any], bool]
        if token[0] == "word" and op == "in":
            values = {_comparable(x) for x in self.value_list()}  # a set: id lists run to hundreds
            test = lambda v: _comparable(v) in values  # noqa: E731
        elif token[0] == "word" and op in ("like", "contains"):
            pattern = self.value()
            if not isinstance(pattern, str):
                raise ConditionError(f"{op} needs a quoted string")
            if op == "contains":
                pattern = f"*{pattern}*"
            test = lambda v: isinstance(v, str) and fnmatch.fnmatchcase(v.lower(), pattern.lower())  # noqa: E731
        elif token[0] == "op":
            value = self.value()
            test = _comparer(token[1], value)
        else:
            raise ConditionError(f"unknown operator {token[1]!r}")
        path = field.split("/")

        def predicate(record: Mapping[str, Any]) -> bool:
            result = test(_lookup(record, path))
            return not result if negate else result

        return predicate

    def value_list(self) -> list[Any]:
        if self.take() != ("paren", "("):
            raise ConditionError("'in' needs a parenthesised list")
        values = [self.value()]
        while True:
            token = self.take()
            if token == ("paren", ")"):
                return values
            if token != ("paren", ","):
                raise ConditionError("expected ',' or ')' in a list")
            values.append(self.value())

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "number":
            return Decimal(text)
        if kind == "datetime":
            return datetime.fromisoformat(text[1:-1].replace("Z", "+00:00"))
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        raise ConditionError(f"expected a value, got {text!r}")


def _lookup(record: Any, path: list[str]) -> Any:
    value = record
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _normalize(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value.lower()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=None)
    return value


def _comparable(value: Any) -> Any:
    normalized = _normalize(value)
    if isinstance(normalized, datetime):
        return normalized.replace(tzinfo=None)
    return normalized


def _equal(left: Any, right: Any) -> bool:
    a, b = _normalize(left), _normalize(right)
    if isinstance(a, datetime) and isinstance(b, datetime):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return bool(a == b)


def _comparer(op: str, right: Any) -> Callable[[Any], bool]:
    if op == "=":
        return lambda v: _equal(v, right)
    if op == "!=":
        return lambda v: not _equal(v, right)

    compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]

    def ordered(v: Any) -> bool:
        a, b = _normalize(v), _normalize(right)
        if isinstance(a, datetime) and isinstance(b, datetime):
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
        try:
            return bool(compare(a, b))
        except TypeError:
            return False

    return ordered
