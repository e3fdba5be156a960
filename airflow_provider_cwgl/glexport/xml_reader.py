"""Read a GLExport XML file written by ``xml_writer`` back into the JSON shape ConnectWise sent, one
root item in memory at a time (``iterparse`` clears each once read): for the batch step given an
approved file, and for a loader reading each document."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from lxml import etree

from airflow_provider_cwgl.glexport import schema
from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS, gl_entry_ids
from airflow_provider_cwgl.glexport.xml_writer import NIL

_ITEMS = {item: collection for collection, item in schema.ROOT_COLLECTIONS.items()}


def iter_items(source: IO[bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(collection, item)`` for every root item (``GLExport/<collection>/<item>``), parties
    (vendors, customers) included, in file order."""
    for _, element in etree.iterparse(source, events=("end",), tag=tuple(_ITEMS), huge_tree=True):
        parent = element.getparent()
        if parent is None or parent.getparent() is None or parent.getparent().getparent() is not None:
            continue  # an element of that name deeper down, not a root item
        collection = _ITEMS[element.tag]
        root_field = schema.field("GLExport", collection)
        yield collection, item_from_xml(element, root_field.model if root_field else None)
        element.clear(keep_tail=True)


def documents_from_xml(source: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The documents of a GLExport XML file, as the documents file holds them (``documents.py``):
    collection, id, total and GL entry ids, by the summary's rule."""
    for collection, item in iter_items(source):
        if collection in PARTY_COLLECTIONS:
            continue
        total = item.get("total")
        yield {
            "collection": collection,
            "id": item.get("id"),
            "total": total.strip() or None if isinstance(total, str) else None,
            "gl_entry_ids": sorted(gl_entry_ids(collection, item)),
        }


def item_from_xml(element: etree._Element, model: str | None) -> dict[str, Any]:
    """An element written by the XML writer, back as the JSON object it came from, as far as the
    GLExport schema tells: integers as ``int``, a plural element as a list of its items, a list of
    plain values (one element per value) as a list; other values as text, ``xsi:nil`` as None."""
    out: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue  # a comment or processing instruction
        spec = schema.field(model, child.tag)
        if spec is not None and spec.type == "array" and spec.model is None:
            out.setdefault(child.tag, []).append(_scalar(child, (spec.ref or "").removeprefix("items:")))
        elif spec is not None and spec.type == "array":
            out[child.tag] = [item_from_xml(item, spec.model) for item in child if isinstance(item.tag, str)]
        elif spec is not None and spec.type == "object":
            out[child.tag] = item_from_xml(child, spec.model)
        else:
            out[child.tag] = _scalar(child, spec.type if spec else "string")
    return out


def _scalar(element: etree._Element, kind: str) -> Any:
    if element.get(NIL) == "true":
        return None
    text = element.text or ""
    if kind.startswith("integer") and text.strip().lstrip("-").isdigit():
        return int(text)
    return text
