"""Write a GLExport JSON document as the GLExport XML file of the spec's samples.

The JSON is read incrementally (ijson, numbers as exact ``Decimal``) one root item at a time, each
item is built as an lxml element, indented and appended to the output, so memory holds one
transaction (plus any fetched reference records), never the whole export.

Rules (from the spec's two samples):
- ``<?xml version="1.0" encoding="utf-8"?>``, root ``GLExport`` declaring ``xsi`` and ``xsd``; 2-space indent.
- Fields in the order ConnectWise sent them; unknown fields are kept; ``_info`` is dropped.
- A list of objects is a plural element holding singular items (``detail/detailItem``); a list of
  plain values is one element per value, named after the field. An empty nested list is an empty
  element; an empty or null root collection (and an empty ``exportSettings``) is left out.
- Null or empty string -> empty element. Any other null (number, boolean, object, or a field the
  schema does not know) -> ``xsi:nil="true"``.
- Booleans ``true``/``false``; numbers as plain decimals (``10``, ``0.2``, ``-12.5``): never through
  a binary float, never with an exponent or a trailing ``.0``.
- Characters XML 1.0 cannot carry are removed and counted.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any, Protocol

import ijson
from lxml import etree

from airflow_provider_cwgl.glexport import schema

XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
NIL = f"{{{XSI}}}nil"
INDENT = "  "

_HEADER = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<GLExport xmlns:xsi="' + XSI.encode() + b'" xmlns:xsd="' + XSD.encode() + b'">'
)
_XSI_DECLARATION = b' xmlns:xsi="' + XSI.encode() + b'"'
# XML 1.0 Char production: everything outside it must go.
_INVALID_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class Expander(Protocol):
    """Adds fetched records to the output (References To Fetch)."""

    def extra_children(
        self, path: tuple[str, ...], value: dict[str, Any], parent: dict[str, Any] | None
    ) -> list[tuple[str, Any]]:
        """Children ``(tag, json_value)`` to append after the fields of the object at ``path``.

        ``path`` lists element names from the root item down, e.g. ``("transaction", "company")``;
        ``parent`` is the object holding ``value`` (None for a root item). A ``record`` child must
        be the same object each time the same record is handed out (the writer reuses its XML).
        """
        ...


@dataclass
class WriteStats:
    items: dict[str, int] = field(default_factory=dict)
    removed_characters: int = 0


def format_number(value: int | Decimal) -> str:
    """``Decimal('10.0')`` -> ``10``; ``Decimal('1E-7')`` -> ``0.0000001``; never an exponent."""
    if isinstance(value, int):
        return str(value)
    if value.is_zero():
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def iter_root(source: IO[bytes]) -> Iterator[tuple[str, Any, bool]]:
    """Yield ``(key, value, is_item)`` for the GLExport document in ``source``, in document order.

    For a root array each item is yielded on its own (``is_item=True``) so it never has to be held
    with its siblings; an empty array yields ``(key, [], False)``. Other root values come whole.
    """
    events = ijson.parse(source, use_float=False)
    prefix, event, _ = next(events)
    if event != "start_map":
        raise ValueError("a GLExport document must be a JSON object")
    for prefix, event, value in events:
        if event == "end_map" and prefix == "":
            return
        if event != "map_key":
            raise ValueError(f"unexpected {event} at the root of the GLExport document")
        key = value
        _, event, value = next(events)
        if event == "start_array":
            empty = True
            for _, item_event, item_value in events:
                if item_event == "end_array":
                    break
                empty = False
                yield key, _build(item_event, item_value, events), True
            if empty:
                yield key, [], False
        else:
            yield key, _build(event, value, events), False
    raise ValueError("the GLExport document ends early")


def _build(event: str, value: Any, events: Iterator[tuple[str, str, Any]]) -> Any:
    """Build one JSON value from the event stream (ijson's ObjectBuilder, inlined: this loop runs
    once per JSON token of the whole export, and a method call per token costs more than the rest)."""
    if event == "start_map":
        root: Any = {}
    elif event == "start_array":
        root = []
    else:
        return value
    stack: list[Any] = [root]
    keys: list[Any] = [None]
    for _, ev, val in events:
        top = stack[-1]
        if ev == "map_key":
            keys[-1] = val
            continue
        if ev == "end_map" or ev == "end_array":
            stack.pop()
            keys.pop()
            if not stack:
                return root
            continue
        if ev == "start_map":
            child: Any = {}
        elif ev == "start_array":
            child = []
        else:
            child = val
        if top.__class__ is dict:
            top[keys[-1]] = child
        else:
            top.append(child)
        if ev == "start_map" or ev == "start_array":
            stack.append(child)
            keys.append(None)
    raise ValueError("the GLExport document ends early")


class GLExportXmlWriter:
    """Streams one GLExport JSON document into GLExport XML."""

    def __init__(
        self,
        expander: Expander | None = None,
        on_item: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.expander = expander
        self.on_item = on_item
        self.stats = WriteStats()
        self._records: dict[int, tuple[dict[str, Any], etree._Element]] = {}

    def write(self, source: IO[bytes], out: IO[bytes]) -> WriteStats:
        out.write(_HEADER)
        open_collection: str | None = None
        for key, value, is_item in iter_root(source):
            if open_collection is not None and (key != open_collection or not is_item):
                out.write(f"\n{INDENT}</{open_collection}>".encode())
                open_collection = None
            if is_item:
                if open_collection is None:
                    out.write(f"\n{INDENT}<{_tag(key)}>".encode())
                    open_collection = key
                self._write_item(key, value, out)
            elif _is_empty(value):
                continue  # empty root collections and settings are left out, as in the samples
            else:
                self._write_element(key, value, out, level=1)
        if open_collection is not None:
            out.write(f"\n{INDENT}</{open_collection}>".encode())
        out.write(b"\n</GLExport>\n")
        return self.stats

    def _write_item(self, collection: str, item: Any, out: IO[bytes]) -> None:
        self.stats.items[collection] = self.stats.items.get(collection, 0) + 1
        if self.on_item is not None and isinstance(item, dict):
            self.on_item(collection, item)
        tag = schema.item_name(collection)
        model = schema.field("GLExport", collection)
        element = self._element(tag, item, model.model if model else None, (tag,))
        self._emit(element, out, level=2)

    def _write_element(self, key: str, value: Any, out: IO[bytes], level: int) -> None:
        spec = schema.field("GLExport", key)
        holder = etree.Element("_")
        self._append(holder, key, value, spec, None, (key,))
        for element in holder:
            self._emit(element, out, level)

    def _emit(self, element: etree._Element, out: IO[bytes], level: int) -> None:
        etree.indent(element, space=INDENT, level=level)
        data = etree.tostring(element, encoding="utf-8")
        # The root already declares xsi; lxml repeats it on each standalone item that uses it.
        head_end = data.index(b">")
        data = data[:head_end].replace(_XSI_DECLARATION, b"", 1) + data[head_end:]
        out.write(b"\n" + INDENT.encode() * level + data)

    def _element(
        self, tag: str, value: dict[str, Any], model: str | None, path: tuple[str, ...]
    ) -> etree._Element:
        element = etree.Element(_tag(tag), nsmap={"xsi": XSI})
        self._fill(element, value, model, path, None)
        return element

    def _fill(
        self,
        element: etree._Element,
        value: dict[str, Any],
        model: str | None,
        path: tuple[str, ...],
        parent: dict[str, Any] | None,
    ) -> None:
        fields = schema.models().get(model, _NO_FIELDS) if model else _NO_FIELDS
        sub_element = etree.SubElement
        # Scalars are most of the file: handle them here, without a call or a path per field.
        for key, child in value.items():
            if key == "_info":
                continue
            if isinstance(child, (dict, list)):
                if key == "record" and self.expander is not None and isinstance(child, dict):
                    element.append(self._record_element(child, path, value))  # nested fetched record
                else:
                    self._append(element, key, child, fields.get(key), value, path + (key,))
                continue
            node = sub_element(element, key if key in _CHECKED_TAGS else _tag(key))
            if child.__class__ is str:
                if child:
                    node.text = self._clean(child)
            else:
                self._set_scalar(node, child, fields.get(key))
        if self.expander is not None:
            for key, child in self.expander.extra_children(path, value, parent):
                if key == "record" and isinstance(child, dict):
                    element.append(self._record_element(child, path, value))
                else:
                    self._append(element, key, child, None, value, path + (key,))

    def _record_element(
        self, record: dict[str, Any], path: tuple[str, ...], owner: dict[str, Any]
    ) -> etree._Element:
        """A fetched record's element. The same record (one company under many transactions) is
        built once and copied in C; the expander hands out one object per distinct record."""
        cached = self._records.get(id(record))
        if cached is None:
            template = etree.Element("record")
            self._fill(template, record, None, path + ("record",), owner)
            cached = self._records[id(record)] = (record, template)  # holding record keeps its id unique
        return copy.deepcopy(cached[1])

    def _append(
        self,
        parent: etree._Element,
        key: str,
        value: Any,
        spec: schema.Field | None,
        owner: dict[str, Any] | None,
        path: tuple[str, ...],
    ) -> None:
        tag = _tag(key)
        if isinstance(value, dict):
            self._fill(etree.SubElement(parent, tag), value, spec.model if spec else None, path, owner)
        elif isinstance(value, list):
            if value and not any(isinstance(v, (dict, list)) for v in value):
                for scalar in value:  # plain values: one element per value
                    self._set_scalar(etree.SubElement(parent, tag), scalar, spec)
                return
            wrapper = etree.SubElement(parent, tag)
            name = schema.item_name(key)
            child_model = spec.model if spec else None
            for item in value:
                if isinstance(item, dict):
                    self._fill(
                        etree.SubElement(wrapper, _tag(name)), item, child_model, path + (name,), owner
                    )
                else:
                    self._append(wrapper, name, item, None, owner, path + (name,))
        else:
            self._set_scalar(etree.SubElement(parent, tag), value, spec)

    def _set_scalar(self, element: etree._Element, value: Any, spec: schema.Field | None) -> None:
        if value is None:
            if spec is None or not spec.is_string:
                element.set(NIL, "true")
        elif value is True or value is False:
            element.text = "true" if value else "false"
        elif isinstance(value, (int, Decimal)):
            element.text = format_number(value)
        elif isinstance(value, float):  # never produced by our parser; kept exact as Python prints it
            element.text = format_number(Decimal(repr(value)))
        else:
            element.text = self._clean(str(value))

    def _clean(self, text: str) -> str | None:
        if _INVALID_XML_CHARS.search(text) is None:
            return text or None
        cleaned, removed = _INVALID_XML_CHARS.subn("", text)
        self.stats.removed_characters += removed
        return cleaned or None


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


_CHECKED_TAGS: set[str] = set()
_NO_FIELDS: dict[str, schema.Field] = {}


def _tag(name: str) -> str:
    if name in _CHECKED_TAGS:  # field names repeat millions of times; check each once
        return name
    if not _NAME_RE.match(name) or name.lower().startswith("xml"):
        raise ValueError(f"{name!r} cannot be an XML element name")
    _CHECKED_TAGS.add(name)
    return name
