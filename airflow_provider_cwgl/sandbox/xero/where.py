"""The sandbox Xero's side of the ``where`` query parameter, as loaders write it.

Comparisons ``Path op value`` with ``== != < <= > >=``, string tests ``Name.Contains("x")``,
``.StartsWith`` and ``.EndsWith``, joined by ``AND`` / ``&&`` and ``OR`` / ``||`` (AND binds
tighter), ``NOT`` / ``!`` and parentheses. Paths are dotted (``Contact.ContactID``). Values:
``"text"``, numbers, ``true`` / ``false``, ``null``, ``Guid("…")`` and ``DateTime(2026, 3, 1)``.
Text compares without regard to case, as Xero's does; a ``/Date(…)/`` field compares as a date.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_cwgl.errors import XeroQueryError
from airflow_provider_cwgl.sandbox.tokens import TokenReader, quoted_or_number

Predicate = Callable[[Mapping[str, Any]], bool]

_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|[().,])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {"==": operator.eq, "!=": operator.ne}
_COMPARE |= {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TESTS: dict[str, Callable[[str, str], bool]] = {
    "contains": lambda have, want: want in have,
    "startswith": str.startswith,
    "endswith": str.endswith,
}
_XERO_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")


def parse(text: str) -> Predicate:
    """The predicate ``text`` describes; ``XeroQueryError`` if it is not Xero's syntax."""
    parser = _Parser(_TOKEN_RE, text, XeroQueryError, "where")
    predicate = parser.either()
    if parser.next_text() is not None:
        raise XeroQueryError(f"unexpected {parser.next_text()!r} in where")
    return predicate


class _Parser(TokenReader):
    def next_text(self) -> str | None:
        """The next token's text, if any."""
        token = self.peek()
        return token[1] if token else None

    def expect(self, text: str) -> None:
        found = self.take()[1]
        if found.upper() != text.upper():
            raise XeroQueryError(f"expected {text!r} in where, found {found!r}")

    def _joined(self, words: tuple[str, str], operand: Callable[[], Predicate], combine: Any) -> Predicate:
        parts = [operand()]
        while (self.next_text() or "").upper() in words:
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else lambda record: combine(p(record) for p in parts)

    def either(self) -> Predicate:
        return self._joined(("OR", "||"), self.both, any)

    def both(self) -> Predicate:
        return self._joined(("AND", "&&"), self.unary, all)

    def unary(self) -> Predicate:
        if (self.next_text() or "").upper() in ("NOT", "!"):
            self.take()
            inner = self.unary()
            return lambda record: not inner(record)
        if self.next_text() == "(":
            self.expect("(")
            inner = self.either()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        kind, word = self.take()
        if kind != "word":
            raise XeroQueryError(f"expected a field name in where, found {word!r}")
        path = [word]
        while self.next_text() == ".":
            self.expect(".")
            path.append(self.take()[1])
        if path[-1].lower() in _TESTS and self.next_text() == "(":
            test, field = _TESTS[path[-1].lower()], path[:-1]
            self.expect("(")
            wanted = self.value()
            self.expect(")")
            if not isinstance(wanted, str):
                raise XeroQueryError(f"{path[-1]} takes a string in where")
            return lambda record: (
                isinstance(v := _lookup(record, field), str) and test(v.lower(), wanted.lower())
            )
        op = self.next_text()
        if op not in _COMPARE:
            raise XeroQueryError(f"expected a comparison after {'.'.join(path)!r} in where, found {op!r}")
        self.take()
        compare, wanted = _COMPARE[op], self.value()
        return lambda record: _compare(compare, _lookup(record, path), wanted)

    def value(self) -> Any:
        kind, text = self.take()
        if kind in ("string", "number"):
            return quoted_or_number(kind, text)
        lowered = text.lower()
        if kind == "word" and lowered in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[lowered]
        if kind == "word" and lowered == "guid":
            self.expect("(")
            guid = self.value()
            self.expect(")")
            if not isinstance(guid, str):
                raise XeroQueryError("Guid takes a string in where")
            return guid.lower()
        if kind == "word" and lowered == "datetime":
            self.expect("(")
            parts = [self.value()]
            while self.next_text() == ",":
                self.expect(",")
                parts.append(self.value())
            self.expect(")")
            try:
                if len(parts) == 1 and isinstance(parts[0], str):
                    moment = datetime.fromisoformat(parts[0])
                else:
                    year, month, day = (int(p) for p in parts)
                    moment = datetime(year, month, day)
            except (TypeError, ValueError):
                raise XeroQueryError(f"not a DateTime in where: {parts}") from None
            return moment.replace(tzinfo=moment.tzinfo or timezone.utc)
        raise XeroQueryError(f"expected a value in where, found {text!r}")


def _lookup(record: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = record
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _compare(compare: Callable[[Any, Any], bool], have: Any, wanted: Any) -> bool:
    """``have`` (a record's JSON value) against ``wanted`` (a parsed literal), as Xero compares."""
    if have is None or wanted is None:
        return compare(have is None, wanted is None) if compare in (operator.eq, operator.ne) else False
    if isinstance(wanted, datetime):
        match = _XERO_DATE.fullmatch(have) if isinstance(have, str) else None
        if match is None:
            return False
        have = datetime.fromtimestamp(int(match[1]) / 1000, timezone.utc)
    elif isinstance(wanted, bool) or isinstance(have, bool):
        if not (isinstance(wanted, bool) and isinstance(have, bool)):
            return False
    elif isinstance(wanted, Decimal):
        try:
            have = Decimal(str(have))
        except InvalidOperation:
            return False
    else:
        have, wanted = str(have).lower(), str(wanted).lower()
    try:
        return compare(have, wanted)
    except TypeError:
        return False
