"""Write a GLExport JSON document as the GLExport XML file of the spec's samples.

Reading: root item by root item through ``json_scan.iter_root``, so memory holds one item (plus
any fetched reference records), never the whole export; ``json_scan.JsonLimits`` bounds its sizes.

Writing: each item is serialised straight to text, with a cached plan per (schema model, depth)
that holds every element's tags and null rule, so a field costs one dict lookup and one append;
text is copied as it is when ``str.isprintable`` and three ``in`` tests say it may be, and the
element of a short text a field has written is kept for its repeats; numbers use ``str(Decimal)``
when it has no exponent (C calls, cheaper than a regex or ``format``).
The output is byte for byte what lxml's ``tostring`` after ``etree.indent`` gives (tests compare it
canonically with the spec's samples and with lxml's output).

Rules (from the spec's two samples):

- ``<?xml version="1.0" encoding="utf-8"?>``, root ``GLExport`` declaring ``xsi`` and ``xsd``; 2-space indent.
- Fields in the order ConnectWise sent them; unknown fields are kept; ``_info`` is dropped.
- A list of objects is a plural element holding singular items (``detail/detailItem``); an empty
  one is an empty element (``<purchaseDetailTax/>``, as the samples show). A list of plain values
  (the schema types its items: ``expenseBill/detail/id``) is one element per value, named after
  the field, and an empty one is no element at all: .NET's XmlSerializer writes an empty flat list
  as nothing and reads ``<id/>`` as one item with empty text, which it refuses. A field the schema
  does not know keeps the empty element. A null among plain values is ``xsi:nil="true"``, except
  where the schema's items are a non-nullable number or boolean (a .NET value type cannot be nil,
  and XmlSerializer refuses the file): such a null is left out, counted and logged.
- An empty or null root collection (and an empty ``exportSettings``) is left out.
- Null or empty string -> empty element. Any other null (number, boolean, object, or a field the
  schema does not know) -> ``xsi:nil="true"``.
- Booleans ``true``/``false``; numbers as plain decimals (``10``, ``0.2``, ``-12.5``): never through
  a binary float, never with an exponent or a trailing ``.0``. NaN and Infinity are refused.
- Characters XML 1.0 cannot carry (control characters, lone surrogates such as ``\\udfff``) are
  removed and counted.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, Protocol

from airflow_provider_cwgl.errors import ElementNameError, ExportBodyError
from airflow_provider_cwgl.glexport import schema
from airflow_provider_cwgl.glexport.json_scan import DEFAULT_LIMITS, JsonLimits, iter_root

log = logging.getLogger(__name__)

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
NIL = f"{{{XSI}}}nil"
INDENT = "  "

_HEADER = f'<?xml version="1.0" encoding="utf-8"?>\n<GLExport xmlns:xsi="{XSI}" xmlns:xsd="{XSD}">'
# XML 1.0 Char production: everything outside it must go (lone surrogates included).
_INVALID_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
# Text values repeat (account numbers, "Main", "Each"): 12,563 distinct among 497,000 at 5,000
# invoices. Each field keeps the element of the first short texts it writes: a dict lookup instead
# of checking and formatting the text again. Plans live as long as the process, so this is bounded.
TEXTS_PER_FIELD = 64
_TEXT_CACHE_CHARS = 100
RECORD_CACHE_SIZE = 1024  # fetched records whose XML is kept for reuse (least recently used go)


class BinarySink(Protocol):
    """Where the writer puts the XML: a binary file, or a wrapper such as ``output.HashingWriter``."""

    def write(self, data: bytes, /) -> object: ...


class ReferenceRecords(Protocol):
    """What the writer needs from References To Fetch (``references.ReferenceResolver``): the
    fetched records to add to the output."""

    def extra_children(
        self, path: tuple[str, ...], value: dict[str, Any], parent: dict[str, Any] | None
    ) -> list[tuple[str, Any]]:
        """Children ``(tag, json_value)`` to append after the fields of the object at ``path``.

        ``path`` lists element names from the root item down, e.g. ``("transaction", "company")``;
        ``parent`` is the object holding ``value`` (None for a root item). A ``record`` child must
        be the same object each time the same record is handed out (the writer reuses its XML).
        A resolver may have ``anchor_paths``: children are only ever added to objects at those
        paths and to their direct fields, so the writer calls it only there.
        """
        ...


@dataclass
class WriteStats:
    """What one write did. Items per collection are the summary's (``ContentSummary.counts``)."""

    items: int = 0
    removed_characters: int = 0
    dropped_list_nulls: int = 0  # nulls left out of lists of non-nullable plain values
    bytes: int = 0


def format_number(value: int | Decimal) -> str:
    """``Decimal('10.0')`` -> ``10``; ``Decimal('1E-7')`` -> ``0.0000001``; never an exponent."""
    if isinstance(value, int):  # the caller has taken booleans out
        return str(value)
    if not value.is_finite():
        raise ExportBodyError(f"{value} is not a number XML (or an accounting package) can carry")
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@dataclass(frozen=True, slots=True)
class _Field:
    """One field of one model at one depth: everything the writer needs, computed once."""

    open: str  # "\n    <name>"
    close: str  # "</name>"
    end: str  # "\n    </name>": after the children of an object or list
    empty: str  # "\n    <name/>"
    null: str  # what a JSON null becomes: empty element (text fields) or xsi:nil
    model: str | None  # the model of an object (or of a list's objects)
    name: str
    plain_list: bool  # the schema types the field as a list of plain values
    null_item: str | None  # a null among those values; None: left out (a non-nullable value type)
    texts: dict[str, str] = field(default_factory=dict)  # text seen in this field -> its element
    numbers: dict[Decimal, str] = field(default_factory=dict)  # the same for decimal numbers


_NEWLINES = ["\n" + INDENT * level for level in range(64)]
_PLANS: dict[tuple[str | None, int], dict[str, _Field]] = {}


def _plan(model: str | None, level: int) -> dict[str, _Field]:
    plan = _PLANS.get((model, level))
    if plan is None:
        plan = _PLANS[(model, level)] = {}
    return plan


def _field_of(plan: dict[str, _Field], model: str | None, level: int, key: str) -> _Field:
    spec = schema.field(model, key)
    name = _tag(key)
    newline = _newline(level)
    empty = f"{newline}<{name}/>"
    nil = f'{newline}<{name} xsi:nil="true"/>'
    items = (
        spec.ref[len("items:") :] if spec is not None and spec.ref and spec.ref.startswith("items:") else None
    )
    value_type = items is not None and items.startswith(_VALUE_TYPES) and not items.endswith(",nullable")
    made = plan[key] = _Field(
        open=f"{newline}<{name}>",
        close=f"</{name}>",
        end=f"{newline}</{name}>",
        empty=empty,
        null=empty if spec is not None and spec.is_string else nil,
        model=spec.model if spec else None,
        name=name,
        plain_list=items is not None,
        null_item=None if value_type else nil,
    )
    return made


# Schema item types that are .NET value types (int, decimal, bool), so a list of them holds no null.
_VALUE_TYPES = ("integer", "number", "boolean")


def _newline(level: int) -> str:
    return _NEWLINES[level] if level < len(_NEWLINES) else "\n" + INDENT * level


class GLExportXmlWriter:
    """Streams one GLExport JSON document into GLExport XML."""

    def __init__(
        self,
        resolver: ReferenceRecords | None = None,
        on_item: Callable[[str, dict[str, Any]], None] | None = None,
        *,
        limits: JsonLimits = DEFAULT_LIMITS,
        progress_seconds: float = 10.0,
    ) -> None:
        self.resolver = resolver
        self.on_item = on_item
        self.limits = limits
        self.progress_seconds = progress_seconds
        self.stats = WriteStats()
        self._anchor_paths: Any = getattr(resolver, "anchor_paths", None)
        self._records: OrderedDict[tuple[int, int], tuple[dict[str, Any], str]] = OrderedDict()
        self._last_progress = 0.0
        self._started = 0.0

    def write(self, source: IO[bytes], out: BinarySink) -> WriteStats:
        self._started = self._last_progress = time.monotonic()
        self._out(out, _HEADER)
        open_collection: str | None = None
        for key, value, is_item in iter_root(source, self.limits, progress=self._progress):
            if open_collection is not None and (key != open_collection or not is_item):
                self._out(out, f"\n{INDENT}</{open_collection}>")
                open_collection = None
            if is_item:
                if open_collection is None:
                    self._out(out, f"\n{INDENT}<{_tag(key)}>")
                    open_collection = key
                self._write_item(key, value, out)
            elif value is None or value == [] or value == {}:
                continue  # empty root collections and settings are left out, as in the samples
            else:
                parts: list[str] = []
                self._value(parts, key, value, _plan("GLExport", 1), "GLExport", 1, (key,), None)
                self._out(out, "".join(parts))
        if open_collection is not None:
            self._out(out, f"\n{INDENT}</{open_collection}>")
        self._out(out, "\n</GLExport>\n")
        log.info(
            "GLExport XML written: %d items, %.1f MiB in %.1f s",
            self.stats.items,
            self.stats.bytes / 2**20,
            time.monotonic() - self._started,
        )
        return self.stats

    def _out(self, out: BinarySink, text: str) -> None:
        data = text.encode()
        self.stats.bytes += len(data)
        out.write(data)

    def _progress(self, read_bytes: int) -> None:
        now = time.monotonic()
        if now - self._last_progress >= self.progress_seconds:
            self._last_progress = now
            log.info(
                "Writing GLExport XML: %d items so far, %.1f MiB of JSON read, %.1f MiB of XML written",
                self.stats.items,
                read_bytes / 2**20,
                self.stats.bytes / 2**20,
            )

    def _write_item(self, collection: str, item: dict[str, Any], out: BinarySink) -> None:
        self.stats.items += 1
        if self.on_item is not None:
            self.on_item(collection, item)
        name = _tag(schema.item_name(collection))
        spec = schema.field("GLExport", collection)
        model = spec.model if spec else None
        parts = [f"\n{INDENT * 2}<{name}>"]
        self._object(parts, item, model, 3, (name,) if self.resolver is not None else None, None)
        if len(parts) == 1:
            parts[0] = f"\n{INDENT * 2}<{name}/>"
        else:
            parts.append(f"\n{INDENT * 2}</{name}>")
        self._out(out, "".join(parts))

    def _object(
        self,
        parts: list[str],
        value: dict[str, Any],
        model: str | None,
        level: int,
        path: tuple[str, ...] | None,
        parent: dict[str, Any] | None,
    ) -> None:
        """Append the fields of ``value`` (children at ``level``). ``path`` is None without a resolver."""
        plan = _PLANS.get((model, level)) or _plan(model, level)
        append = parts.append
        resolver = self.resolver
        for key, child in value.items():
            spec = plan.get(key)
            if spec is None:
                if key == "_info":
                    continue
                spec = _field_of(plan, model, level, key)
            cls = child.__class__
            # Scalars are most of the file: handled inline, without a call.
            if cls is str:
                append(spec.texts.get(child) or self._text_element(spec, child))
            elif cls is int:
                append(f"{spec.open}{child}{spec.close}")
            elif child is None:
                append(spec.null)
            elif cls is Decimal:
                append(spec.numbers.get(child) or self._number_element(spec, child))
            elif cls is bool:
                append(f"{spec.open}{'true' if child else 'false'}{spec.close}")
            elif cls is dict:
                if key == "record" and resolver is not None:
                    append(self._record(child, level, path, value))  # a fetched record, nested
                    continue
                mark = len(parts)
                append(spec.open)
                self._object(parts, child, spec.model, level + 1, path and path + (key,), value)
                if len(parts) == mark + 1:
                    parts[mark] = spec.empty
                else:
                    append(spec.end)
            elif cls is list:
                self._list(parts, spec, child, level, path, value)
            else:
                self._scalar(parts, spec, child)
        if resolver is not None and path is not None:
            anchors = self._anchor_paths
            if anchors is not None and path not in anchors and path[:-1] not in anchors:
                return
            for key, child in resolver.extra_children(path, value, parent):
                if key == "record" and child.__class__ is dict:
                    append(self._record(child, level, path, value))
                else:
                    self._value(parts, key, child, _plan(None, level), None, level, path + (key,), value)

    def _value(
        self,
        parts: list[str],
        key: str,
        value: Any,
        plan: dict[str, _Field],
        model: str | None,
        level: int,
        path: tuple[str, ...] | None,
        owner: dict[str, Any] | None,
    ) -> None:
        """One field of any kind (the slow path: root values and the resolver's records)."""
        spec = plan.get(key) or _field_of(plan, model, level, key)
        if isinstance(value, dict):
            self._element(parts, spec, value, spec.model, level, path, owner)
        elif isinstance(value, list):
            self._list(parts, spec, value, level, path and path[:-1], owner)
        else:
            self._scalar(parts, spec, value)

    def _list(
        self,
        parts: list[str],
        spec: _Field,
        value: list[Any],
        level: int,
        path: tuple[str, ...] | None,
        owner: dict[str, Any] | None,
    ) -> None:
        """A list field: plain values one element each; otherwise a plural element of items."""
        if not value:
            if not spec.plain_list:
                parts.append(spec.empty)
            return
        if not any(v.__class__ is dict or v.__class__ is list for v in value):
            for scalar in value:
                if scalar is not None:
                    self._scalar(parts, spec, scalar)
                elif spec.null_item is not None:
                    parts.append(spec.null_item)
                else:
                    self.stats.dropped_list_nulls += 1
            return
        parts.append(spec.open)
        name = schema.item_name(spec.name)
        item_plan = _plan(spec.model, level + 1)
        item_path = path and path + (spec.name, name)
        for item in value:
            if item.__class__ is dict:
                item_spec = item_plan.get(name) or _field_of(item_plan, spec.model, level + 1, name)
                self._element(parts, item_spec, item, spec.model, level + 1, item_path, owner)
            else:  # a plain value or a list among objects: an element named after the item
                self._value(parts, name, item, _plan(None, level + 1), None, level + 1, item_path, owner)
        parts.append(spec.end)

    def _element(
        self,
        parts: list[str],
        spec: _Field,
        value: dict[str, Any],
        model: str | None,
        level: int,
        path: tuple[str, ...] | None,
        owner: dict[str, Any] | None,
    ) -> None:
        """The object ``value`` as element ``spec`` at ``level``: ``<x/>`` when nothing is inside.
        (``_object`` does the same inline for the fields of an item, the hot path.)"""
        mark = len(parts)
        parts.append(spec.open)
        self._object(parts, value, model, level + 1, path, owner)
        if len(parts) == mark + 1:
            parts[mark] = spec.empty
        else:
            parts.append(spec.end)

    def _scalar(self, parts: list[str], spec: _Field, value: Any) -> None:
        if value is None:
            parts.append(spec.null)
            return
        if value is True or value is False:
            text: str | None = "true" if value else "false"
        elif isinstance(value, (int, Decimal)):
            text = format_number(value)
        elif isinstance(value, float):  # never produced by our parser; kept exact as Python prints it
            text = format_number(Decimal(repr(value)))
        else:
            text = self._text(str(value))
        parts.append(f"{spec.open}{text}{spec.close}" if text else spec.empty)

    def _record(
        self, record: dict[str, Any], level: int, path: tuple[str, ...] | None, owner: dict[str, Any]
    ) -> str:
        """A fetched record's element. The same record (one company under many transactions) is
        serialised once per depth while it is among the ``RECORD_CACHE_SIZE`` most recently used;
        the resolver hands out the same object for the same record while it is in use."""
        key = (id(record), level)
        records = self._records
        cached = records.get(key)
        if cached is not None and cached[0] is record:
            records.move_to_end(key)
            return cached[1]
        parts = [f"{_newline(level)}<record>"]
        self._object(parts, record, None, level + 1, path and path + ("record",), owner)
        if len(parts) == 1:
            parts[0] = f"{_newline(level)}<record/>"
        else:
            parts.append(f"{_newline(level)}</record>")
        text = "".join(parts)
        # The most recently used records only: many (a transaction's invoice) are used once, and
        # memory must not grow with them. Holding ``record`` keeps its id from being reused.
        records[key] = (record, text)
        if len(records) > RECORD_CACHE_SIZE:
            records.popitem(last=False)
        return text

    def _text_element(self, spec: _Field, text: str) -> str:
        """The element ``spec`` holding ``text``, kept in ``spec.texts`` when short and not cleaned."""
        if not text:
            return spec.empty
        if text.isprintable() and "&" not in text and "<" not in text and ">" not in text:
            # isprintable() excludes every character XML cannot carry (and \t, \n, \r): most
            # text is printable, and these C calls are far cheaper than a regex search.
            element = f"{spec.open}{text}{spec.close}"
        else:
            removed = self.stats.removed_characters
            cleaned = self._text(text)
            element = f"{spec.open}{cleaned}{spec.close}" if cleaned else spec.empty
            if self.stats.removed_characters != removed:
                return element  # not kept: each time it is written the removal is counted
        if len(text) <= _TEXT_CACHE_CHARS and len(spec.texts) < TEXTS_PER_FIELD:
            spec.texts[text] = element
        return element

    def _number_element(self, spec: _Field, number: Decimal) -> str:
        """The element ``spec`` holding ``number``, kept in ``spec.numbers``: equal decimals
        (``1.0`` and ``1.00``) are written alike, as the trailing zeros go."""
        # str() is the plain notation whenever it shows no exponent: only the zeros go.
        text = str(number)
        if "." in text and "E" not in text:
            text = text.rstrip("0").rstrip(".")
            if text == "-0":
                text = "0"
        else:
            text = format_number(number)
        element = f"{spec.open}{text}{spec.close}"
        if len(spec.numbers) < TEXTS_PER_FIELD:
            spec.numbers[number] = element
        return element

    def _text(self, text: str) -> str:
        """``text`` escaped as lxml escapes element text, without the characters XML cannot carry."""
        if _INVALID_XML_CHARS.search(text) is not None:
            text, removed = _INVALID_XML_CHARS.subn("", text)
            self.stats.removed_characters += removed
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


_CHECKED_TAGS: set[str] = set()


def _tag(name: str) -> str:
    if name in _CHECKED_TAGS:  # field names repeat millions of times; check each once
        return name
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.lower().startswith("xml"):
        raise ElementNameError(f"{name!r} cannot be an XML element name")
    _CHECKED_TAGS.add(name)
    return name
