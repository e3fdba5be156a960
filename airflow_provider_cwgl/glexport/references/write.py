"""Writing: hand the XML writer each reference's fetched record, with its own references in place.

A fetched record is written inside the reference element it belongs to, as ``<record>``, after the
reference's own fields. Nested paths expand inside the parent's record; a sub-collection
(``agreementAdditions``, ``purchaseOrderItems``) is added to its parent record as a plural element.
Derived records (a transaction's invoice) and the fields read from them (VIA steps) are added to
the anchor object itself.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from airflow_provider_cwgl.glexport.references.fetch import RecordCache
from airflow_provider_cwgl.glexport.references.keys import (
    RecordKey,
    SubCollectionOf,
    field_value,
    present_name,
    record_keys,
    ref_key,
)
from airflow_provider_cwgl.glexport.references.plan import (
    CONTAINER_PATHS,
    DERIVED_KINDS,
    FIELD_ALIASES,
    SUB_COLLECTIONS,
    Node,
    NodeKind,
    ReferencePlan,
)
from airflow_provider_cwgl.glexport.schema import is_record_id

# The reference written for a derived record on its anchor: (its name field, the record's field).
_DERIVED_REF = {
    NodeKind.INVOICE: ("identifier", "invoiceNumber"),
    NodeKind.PURCHASE_ORDER: ("name", "poNumber"),
}


class RecordPlacer:
    """The XML writer's ``ReferenceRecords``: the fetched records to add under each object."""

    def __init__(
        self, plan: ReferencePlan, cache: RecordCache, fallbacks: dict[RecordKey, RecordKey]
    ) -> None:
        self.plan = plan
        self.cache = cache
        self.fallbacks = fallbacks
        # Element paths that can take extra children: anchors (items, detail lines) and their fields.
        self.anchor_paths = {(root, *container) for root, container in plan.anchors}
        self._hooks: dict[tuple[str, ...], tuple[list[Node], list[Node]]] = {}
        self._placed_copies: OrderedDict[tuple[int, int], tuple[Any, dict[str, Any]]] = OrderedDict()

    def extra_children(
        self, path: tuple[str, ...], value: dict[str, Any], parent: dict[str, Any] | None
    ) -> list[tuple[str, Any]]:
        """Records for the object at ``path`` (see ``xml_writer.ReferenceRecords``)."""
        hooks = self._hooks.get(path)
        if hooks is None:
            hooks = self._hooks[path] = self._hooks_at(path)
        derived, refs = hooks
        if not derived and not refs:
            return []
        out: list[tuple[str, Any]] = []
        for node in derived:
            out.extend(self._derived_children(node, value))
        for node in refs:
            # ``value`` is the reference itself; ``parent`` holds it (a site's company is there).
            key = ref_key(node, value, parent or {})
            record = self.cache.get(key) if key else None
            if record is not None:
                out.append(("record", self._placed(node, record)))
        return out

    def _hooks_at(self, path: tuple[str, ...]) -> tuple[list[Node], list[Node]]:
        """The nodes that may add children at ``path`` (computed once per path): derived records
        of an anchor (an item or a detail line), and records of a reference field of one."""
        derived: list[Node] = []
        refs: list[Node] = []
        if len(path) == 1 or tuple(path[1:]) in CONTAINER_PATHS:
            anchor = self.plan.anchors.get((path[0], tuple(path[1:])))
            if anchor is not None:
                derived = [n for n in anchor.children.values() if n.kind in DERIVED_KINDS]
        if len(path) >= 2:
            anchor = self.plan.anchors.get((path[0], tuple(path[1:-1])))
            if anchor is not None:
                refs = [
                    node
                    for node in anchor.children.values()
                    if node.kind is NodeKind.REF and path[-1] in FIELD_ALIASES.get(node.name, (node.name,))
                ]
        return derived, refs

    def _derived_children(self, node: Node, obj: dict[str, Any]) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if node.kind in _DERIVED_REF:
            record = self._lookup(node, obj)
            if record is None:
                return []
            name, source = _DERIVED_REF[node.kind]
            if node.emit:
                ref = {"id": record.get("id"), name: record.get(source)}
                out.append((node.name, {**ref, "record": self._placed(node, record)}))
            return out + self._via_children(node, [record])
        if node.kind is NodeKind.EXPENSE_ENTRY:
            entries = []
            for key in record_keys(node, obj) or ():
                record = self.cache.get(key)
                if record is not None:
                    entries.append(record)
                    if node.emit:
                        entry_id = key.match_value  # type: ignore[union-attr]  # expense entries are by id
                        out.append(("expenseEntry", {"id": entry_id, "record": self._placed(node, record)}))
            return out + self._via_children(node, entries)
        return []

    def _via_children(self, node: Node, records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        """The records ``node``'s VIA steps read from its derived ``records``, each distinct once."""
        out: list[tuple[str, Any]] = []
        for child in node.children.values():
            if child.kind is not NodeKind.VIA:
                continue
            seen: set[RecordKey] = set()
            for record in records:
                ref = field_value(record, child.source)
                key = ref_key(child, ref, record) if isinstance(ref, dict) else None
                fetched = self.cache.get(key) if key else None
                if key is not None and fetched is not None and key not in seen:
                    seen.add(key)
                    ref = {k: v for k, v in ref.items() if k != "_info"}
                    out.append((child.name, {**ref, "record": self._placed(child, fetched)}))
        return out

    def _lookup(self, node: Node, obj: dict[str, Any]) -> Any:
        """The one derived record ``node`` finds from ``obj`` (by its fallback when not found)."""
        for key in record_keys(node, obj) or ():
            record = self.cache.get(key)
            if record is None and key in self.fallbacks:
                record = self.cache.get(self.fallbacks[key])
            return record
        return None

    def _placed(self, node: Node, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` with the records of ``node``'s children put in place."""
        if not node.children:
            return record
        memo_key = (id(node), id(record))
        memo = self._placed_copies.get(memo_key)
        if memo is not None and memo[0] is record:
            self._placed_copies.move_to_end(memo_key)
            return memo[1]
        added: dict[str, Any] = {}
        for child in node.children.values():
            if child.kind is NodeKind.COLLECTION:
                parent = record.get("id")
                template = SUB_COLLECTIONS[child.name][1]
                items = self.cache.get(SubCollectionOf(template, parent)) if is_record_id(parent) else None
                if items is not None and child.emit:
                    added[child.name] = [self._placed(child, item) for item in items]
            elif child.kind is NodeKind.REF:
                ref = field_value(record, child.source)
                key = ref_key(child, ref, record) if isinstance(ref, dict) else None
                fetched = self.cache.get(key) if key else None
                if fetched is not None:
                    added[present_name(record, child.name)] = {**ref, "record": self._placed(child, fetched)}
        if not added:  # nothing to put in: the record itself, no copy to keep
            return record
        copy = {**record, **added}
        # Holding record keeps its id from being reused; only the most recent are kept, as one
        # invoice per transaction would otherwise keep every invoice decoded.
        self._placed_copies[memo_key] = (record, copy)
        if len(self._placed_copies) > self.cache.hot_size:
            self._placed_copies.popitem(last=False)
        return copy
