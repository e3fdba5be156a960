"""Which record a reference points at: one key type per way ConnectWise lets us ask for it.

``NamedTuple``s hash as fast as tuples (keys are looked up several times per line); keys of
different kinds never compare equal (a ``SubCollectionOf`` template holds ``{}``, a path never does).
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from airflow_provider_cwgl.connectwise.client import path_of
from airflow_provider_cwgl.glexport.references.plan import (
    FIELD_ALIASES,
    SITE_COMPANY_FIELD,
    SITES,
    SUB_COLLECTIONS,
    Node,
    NodeKind,
)
from airflow_provider_cwgl.glexport.schema import is_record_id


class RecordById(NamedTuple):
    """A record listed at ``list_path`` with this id (a site's is its company's
    ``company/companies/{id}/sites``: sites are listed per company)."""

    list_path: str
    match_value: int

    @property
    def match_field(self) -> str:
        return "id"

    def describe(self) -> str:
        return f"{self.list_path} {self.match_value}"


class RecordByField(NamedTuple):
    """A record found by another field's value (an invoice by ``invoiceNumber``)."""

    list_path: str
    match_field: str
    match_value: str

    def describe(self) -> str:
        return " ".join(self)


class SubCollectionOf(NamedTuple):
    """The whole sub-collection of one parent (``finance/agreements/{}/additions`` of agreement 5)."""

    template: str
    parent_id: int

    @property
    def list_path(self) -> str:
        return self.template.format(self.parent_id)

    def describe(self) -> str:
        return self.list_path


RecordKey = RecordById | RecordByField | SubCollectionOf


def present_name(obj: dict[str, Any], name: str) -> str:
    """The spelling of field ``name`` that ``obj`` uses (API versions differ; ``name`` when none)."""
    return next((alias for alias in FIELD_ALIASES.get(name, (name,)) if alias in obj), name)


def field_value(obj: dict[str, Any], name: str) -> Any:
    return obj.get(present_name(obj, name))


def ref_key(node: Node, ref: dict[str, Any], parent: dict[str, Any]) -> RecordKey | None:
    """The key of the record ``node``'s reference points at; None when it cannot be known."""
    if not is_record_id(ref.get("id")):
        return None
    hrefs = (v for k, v in (ref.get("_info") or {}).items() if k.endswith("_href") and isinstance(v, str))
    href = next(hrefs, None)
    key = _key_from_href(href) if href else None
    if key is not None:
        return key
    endpoint = node.endpoint
    if endpoint is None:
        return None
    if endpoint == SITES:
        company = parent.get(SITE_COMPANY_FIELD.get(node.name, "company"))
        company_id = company.get("id") if isinstance(company, dict) else None
        return RecordById(SITES.format(company_id), ref["id"]) if is_record_id(company_id) else None
    return RecordById(endpoint, ref["id"])


def record_keys(
    node: Node, obj: dict[str, Any], fallbacks: dict[RecordKey, RecordKey] | None = None
) -> list[RecordKey] | None:
    """The records ``node`` needs from ``obj`` (an item or a fetched record); None when ``obj``
    lacks what ``node`` reads (counted as skipped). With ``fallbacks``, notes where to look when a
    record by id is not found (a transaction's invoice by its documentNumber)."""
    kind = node.kind
    if kind is NodeKind.REF or kind is NodeKind.VIA:
        ref = field_value(obj, node.source)
        key = ref_key(node, ref, obj) if isinstance(ref, dict) else None
        return None if key is None else [key]
    if kind is NodeKind.INVOICE:
        txn_id, number = obj.get("id"), obj.get("documentNumber")
        by_number = RecordByField("finance/invoices", "invoiceNumber", str(number)) if number else None
        if is_record_id(txn_id):
            primary = RecordById("finance/invoices", txn_id)
            if by_number and fallbacks is not None:
                fallbacks[primary] = by_number
            return [primary]
        return [by_number] if by_number else None
    if kind is NodeKind.PURCHASE_ORDER:
        number = obj.get("documentNumber")
        if not number:
            return None
        return [RecordByField("procurement/purchaseorders", "poNumber", str(number))]
    if kind is NodeKind.EXPENSE_ENTRY:
        ids = obj.get("id")
        ids = ids if isinstance(ids, list) else [ids]
        return [RecordById("expense/entries", i) for i in ids if is_record_id(i)]
    if kind is NodeKind.COLLECTION:
        parent = obj.get("id")
        if not is_record_id(parent):
            return None
        return [SubCollectionOf(SUB_COLLECTIONS[node.name][1], parent)]
    raise AssertionError(kind)


_RECORD_PATH = re.compile(r"^(.+)/(\d+)$")


@functools.lru_cache(maxsize=65536)
def _key_from_href(href: str) -> RecordKey | None:
    # The same hrefs recur on every line of an export; parse each once.
    record = _RECORD_PATH.match(path_of(href))
    return RecordById(record.group(1), int(record.group(2))) if record else None
