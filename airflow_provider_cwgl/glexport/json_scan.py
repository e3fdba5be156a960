"""The GLExport JSON document, read root item by root item: a small root-level scanner.

The JSON is read in chunks and split into root items (one transaction, one expense, ...); each item
is decoded whole by the standard library's C decoder (numbers as exact ``Decimal``), so memory holds
one item, never the whole export. Every item must be an object; ``JsonLimits`` bounds numbers,
strings and items, so a small hostile body cannot become a huge file or take minutes. The exporter
checks a downloaded body with it, the XML writer and the batch step read through it.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from airflow_provider_cwgl.errors import ExportBodyError, JsonLimitError
from airflow_provider_cwgl.glexport import schema

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class JsonLimits:
    """What one export may hold, so a small hostile body cannot become a huge file or take minutes.

    The defaults are far above anything ConnectWise sends (money has at most a few dozen digits;
    its longest text fields are memos of a few thousand characters).
    """

    max_number_chars: int = 100  # one JSON number literal: digits, sign, point and exponent
    max_exponent: int = 100  # |exponent| of a number: 1e800000000 would be an 800 MB decimal
    max_string_chars: int = 10 * 2**20  # one JSON string, in characters
    max_item_bytes: int = 256 * 2**20  # one root item (a transaction with its lines), as text

    def check_number(self, text: str) -> Decimal:
        if len(text) > self.max_number_chars:
            raise JsonLimitError(
                f"GLExport JSON: a number of {len(text)} characters ({text[:20]}...) is over the "
                f"limit of {self.max_number_chars}"
            )
        value = Decimal(text)
        # Without an exponent the length bounds the value; only "e" notation can go far.
        if ("e" in text or "E" in text) and not value.is_zero() and abs(value.adjusted()) > self.max_exponent:
            raise JsonLimitError(
                f"GLExport JSON: the number {text[:40]} is out of range (exponent over {self.max_exponent})"
            )
        return value

    def check_integer(self, text: str) -> int:
        if len(text) > self.max_number_chars:
            raise JsonLimitError(
                f"GLExport JSON: an integer of {len(text)} digits is over the limit of {self.max_number_chars}"
            )
        return int(text)


DEFAULT_LIMITS = JsonLimits()


def _refuse_constant(name: str) -> Any:
    raise ExportBodyError(f"GLExport JSON: {name} is not a number XML (or an accounting package) can carry")


class _Reader:
    """Root-level scanner over a JSON text read in chunks; values are decoded by ``json``'s C code."""

    def __init__(self, source: IO[bytes], limits: JsonLimits) -> None:
        self.source = source
        self.limits = limits
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.read_bytes = 0
        self.chunk = _CHUNK
        decoder = json.JSONDecoder(
            parse_float=limits.check_number,
            parse_int=limits.check_integer,
            parse_constant=_refuse_constant,
            strict=False,  # raw control characters in strings are removed like escaped ones
        )
        self._decode = decoder.raw_decode

    def _more(self) -> bool:
        if self.eof:
            return False
        data = self.source.read(self.chunk)
        self.read_bytes += len(data)
        text = self.decoder.decode(data, final=not data)
        if not data:
            self.eof = True
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return bool(text) or not self.eof

    def peek(self) -> str:
        """The next non-blank character ('' at the end), not consumed."""
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            raise json.JSONDecodeError(message, self.buf, self.pos)
        self.pos += 1

    def value(self, what: str) -> Any:
        """Decode the next whole JSON value; ``what`` names it in errors."""
        self.peek()
        while True:
            try:
                value, end = self._decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or not (exc.pos >= len(self.buf) - 32 or exc.msg.startswith("Unterminated")):
                    raise
                end = -1
                value = None
            if end == -1 or (end == len(self.buf) and not self.eof):  # may go on in the next chunk
                if len(self.buf) - self.pos > self.limits.max_item_bytes:
                    raise JsonLimitError(
                        f"GLExport JSON: {what} is over the limit of {self.limits.max_item_bytes} bytes"
                    )
                self.chunk = max(self.chunk, len(self.buf) - self.pos)  # doubles: linear, not quadratic
                self._more()
                continue
            if end - self.pos > self.limits.max_item_bytes:
                raise JsonLimitError(
                    f"GLExport JSON: {what} is over the limit of {self.limits.max_item_bytes} bytes"
                )
            if end - self.pos > self.limits.max_string_chars:  # else no string in it can be longer
                _check_strings(value, self.limits.max_string_chars, what)
            self.pos = end
            self.chunk = _CHUNK
            return value


def _check_strings(value: Any, limit: int, what: str) -> None:
    if value.__class__ is str:
        if len(value) > limit:
            raise JsonLimitError(
                f"GLExport JSON: a text of {len(value)} characters in {what} is over the limit of {limit}"
            )
    elif value.__class__ is dict:
        for key, child in value.items():
            _check_strings(key, limit, what)
            _check_strings(child, limit, what)
    elif value.__class__ is list:
        for child in value:
            _check_strings(child, limit, what)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        value.__class__, "null" if value is None else "a number"
    )


def iter_root(
    source: IO[bytes], limits: JsonLimits = DEFAULT_LIMITS, progress: Callable[[int], None] | None = None
) -> Iterator[tuple[str, Any, bool]]:
    """Yield ``(key, value, is_item)`` for the GLExport document in ``source``, in document order.

    For a root array each item is yielded on its own (``is_item=True``) so it never has to be held
    with its siblings; an empty array yields ``(key, [], False)``. Other root values come whole.
    Raises ``json.JSONDecodeError`` for a cut or malformed body and ``ExportBodyError`` for a
    complete document of the wrong shape (an item that is not an object, a root collection that
    is not a list, a root that is not an object) or past ``limits``. ``progress`` gets the bytes
    read so far, every 1,000 items.
    """
    reader = _Reader(source, limits)
    first = reader.peek()
    if first != "{":
        if first == "":
            raise json.JSONDecodeError("Expecting value: the body is empty", reader.buf, 0)
        document = reader.value("the document")  # malformed JSON raises here, and is retried
        raise ExportBodyError(f"GLExport JSON: the document must be an object, got {_kind(document)}")
    reader.pos += 1
    count = 0
    while True:
        char = reader.peek()
        if char == "}":
            reader.pos += 1
            break
        if count:
            reader.expect(",", "Expecting ',' delimiter")
        count += 1
        if reader.peek() != '"':
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", reader.buf, reader.pos
            )
        key = reader.value("a key")
        reader.expect(":", "Expecting ':' delimiter")
        if reader.peek() != "[":
            value = reader.value(f"{key!r}")
            if key in schema.ROOT_COLLECTIONS and value is not None:
                raise ExportBodyError(f"GLExport JSON: {key!r} must be a list of objects, got {_kind(value)}")
            yield key, value, False
            continue
        reader.pos += 1
        if reader.peek() == "]":
            reader.pos += 1
            yield key, [], False
            continue
        index = 0
        while True:
            item = reader.value(f"{key!r} item {index}")
            if item.__class__ is not dict:
                raise ExportBodyError(
                    f"GLExport JSON: {key!r} must be a list of objects, but item {index} is {_kind(item)}"
                )
            yield key, item, True
            index += 1
            if progress is not None and index % 1000 == 0:
                progress(reader.read_bytes)
            char = reader.peek()
            if char == "]":
                reader.pos += 1
                break
            reader.expect(",", "Expecting ',' delimiter")
    if reader.peek() != "":
        raise json.JSONDecodeError("Extra data", reader.buf, reader.pos)
