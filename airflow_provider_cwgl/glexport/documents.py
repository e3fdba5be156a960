"""Which GL entry ids belong to which document of an export, and choosing the documents to post.

The documents file is the one file beside the export (its name plus ``DOCUMENTS_SUFFIX``, through
the same output target): a JSON header line naming the XML's SHA-256 and the count, then a JSON
line per document (a root item of a collection that is not a party):
``{"collection": "transactions", "id": 123, "total": "10.00", "gl_entry_ids": [1010, 1011]}``.
The batch step posts the union of the chosen documents' GL entry ids; a document with none (an
inventory adjustment) cannot be marked exported by a batch and is reported as not posted.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection, Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from typing_extensions import TypedDict

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import SettingError
from airflow_provider_cwgl.glexport.contents import Contents
from airflow_provider_cwgl.glexport.request import COLLECTION_KINDS, FLAG_NAMES, LITERAL_ERRORS, read_literal
from airflow_provider_cwgl.glexport.review import DocumentRef

DOCUMENTS_SUFFIX = ".gl-docs.jsonl"
DOCUMENTS_FORMAT = "cwgl GL documents"
MAX_LISTED = 50  # documents named in a log line or a return value; the counts are complete


def doc_key(collection: str, doc_id: Any) -> tuple[str, str]:
    """Ids compare as text: a purchase's id is text, a transaction's an integer that a template
    may have rendered as text."""
    return collection, str(doc_id).strip()


class DocumentsRecorder:
    """Spools one line per document while the export is written (no document list in memory)."""

    def __init__(self) -> None:
        self._spool: IO[bytes] | None = None
        self.count = 0

    def add(self, collection: str, item: dict[str, Any], total: Decimal | None, ids: Collection[int]) -> None:
        if self._spool is None:
            self._spool = tempfile.TemporaryFile(prefix="cwgl-documents-")  # noqa: SIM115 - closed in write()
        line = {
            "collection": collection,
            "id": item.get("id"),
            "total": format(total, "f") if total is not None else None,
            "gl_entry_ids": sorted(ids),
        }
        self._spool.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
        self.count += 1

    def write(self, out: IO[bytes], sha256: str) -> int:
        header = {"format": DOCUMENTS_FORMAT, "sha256": sha256, "count": self.count}
        out.write(json.dumps(header).encode() + b"\n")
        if self._spool is not None:
            self._spool.seek(0)
            while chunk := self._spool.read(1 << 20):
                out.write(chunk)
            self._spool.close()
            self._spool = None
        return self.count


def read_documents(source: IO[bytes], sha256: str | None = None) -> Iterator[dict[str, Any]]:
    """The documents ``DocumentsRecorder.write`` saved; with ``sha256``, checks they are that XML's."""
    try:
        header = json.loads(source.readline())
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != DOCUMENTS_FORMAT:
        raise ValueError("not a GL documents file written by GLBatchExportOperator")
    if sha256 is not None and header.get("sha256") != sha256:
        raise ValueError(
            f"the GL documents file is of another export (sha256 {header.get('sha256')}, expected {sha256}); "
            "was the output replaced by a later run?"
        )
    seen = 0
    for line in source:
        if line.strip():
            seen += 1
            doc = json.loads(line)
            if not isinstance(doc, dict) or "collection" not in doc or "id" not in doc:
                raise ValueError(f"a GL documents line is not a document: {doc!r}")
            yield doc
    if seen != header.get("count"):
        raise ValueError(f"the GL documents file is incomplete: {seen} of {header.get('count')} documents")


def parse_documents(value: Any) -> list[tuple[str, str]] | None:
    """The ``documents`` setting: None (every document) or a list of ``{"collection", "id"}``.

    Entries may carry more keys (a loader's return value: ``xero_id``, ``number``); they are ignored,
    so a loader's output is the setting as it is. A template renders a list as its Python or JSON
    text; both are read back.
    """
    if is_blank(value):
        return None
    if isinstance(value, str):
        try:
            value = read_literal(value)
        except LITERAL_ERRORS as exc:
            raise SettingError("documents", "expected a list of {'collection': ..., 'id': ...}") from exc
    if not isinstance(value, (list, tuple)):
        raise SettingError(
            "documents",
            f"expected None or a list of {{'collection': ..., 'id': ...}}, got {type(value).__name__}",
        )
    wanted: list[tuple[str, str]] = []
    for n, entry in enumerate(value):
        # Other keys are the loader's own (e.g. the accounting package's id and number): ignored.
        if not isinstance(entry, dict) or "id" not in entry:
            raise SettingError(
                "documents", f"entry {n} is {entry!r}: expected {{'collection': <collection>, 'id': <id>}}"
            )
        collection = entry.get("collection")
        if collection not in COLLECTION_KINDS:
            raise SettingError(
                "documents",
                f"entry {n}: collection {collection!r} is not one of {', '.join(sorted(COLLECTION_KINDS))}",
            )
        if entry["id"] is None or str(entry["id"]).strip() == "":
            raise SettingError("documents", f"entry {n} has no id")
        wanted.append(doc_key(collection, entry["id"]))
    return wanted


class SelectionReport(TypedDict):
    """What a batch posted and left, by count and by name (at most ``MAX_LISTED`` each)."""

    posted_documents: int
    posted: list[DocumentRef]
    not_posted_documents: int
    not_posted: list[DocumentRef]
    without_gl_entry_ids: int
    without_gl_entry_ids_listed: list[DocumentRef]


class Selection:
    """What a batch posts: the chosen documents with their GL entry ids and totals (``contents``),
    and what stays unposted; each list holds at most ``MAX_LISTED``, its count all."""

    def __init__(self) -> None:
        self.contents = Contents()
        self.kinds: set[str] = set()  # the record types of the export's documents
        self.posted: list[DocumentRef] = []
        self.left: list[DocumentRef] = []
        self.without_ids: list[DocumentRef] = []
        self.posted_count = self.left_count = self.without_ids_count = 0

    def take(self, doc: dict[str, Any]) -> None:
        ids = [int(i) for i in doc.get("gl_entry_ids") or []]
        if not ids:  # no batch can mark it exported
            self.without_ids_count += 1
            _list(self.without_ids, doc)
            return
        total = doc.get("total")
        self.contents.add(doc["collection"], None if total is None else Decimal(total), ids)
        self.posted_count += 1
        _list(self.posted, doc)

    def leave(self, doc: dict[str, Any]) -> None:
        self.left_count += 1
        _list(self.left, doc)

    def flags(self) -> dict[str, bool]:
        """The export flags of the record types the export holds."""
        return {kind: kind in self.kinds for kind in FLAG_NAMES}

    def report(self) -> SelectionReport:
        return {
            "posted_documents": self.posted_count,
            "posted": self.posted,
            "not_posted_documents": self.left_count,
            "not_posted": self.left,
            "without_gl_entry_ids": self.without_ids_count,
            "without_gl_entry_ids_listed": self.without_ids,
        }


def _list(listed: list[DocumentRef], doc: dict[str, Any]) -> None:
    if len(listed) < MAX_LISTED:
        listed.append({"collection": doc["collection"], "id": doc["id"]})


def select_documents(docs: Iterable[dict[str, Any]], wanted: list[tuple[str, str]] | None) -> Selection:
    """Split the export's documents into posted and left; unknown wanted documents are an error."""
    remaining = set(wanted) if wanted is not None else None
    selection = Selection()
    for doc in docs:
        selection.kinds.add(COLLECTION_KINDS[doc["collection"]])
        key = doc_key(doc["collection"], doc["id"])
        if remaining is None or key in remaining:
            selection.take(doc)
            if remaining is not None:
                remaining.discard(key)
        else:
            selection.leave(doc)
    if remaining:
        listed = ", ".join(f"{c} {i}" for c, i in sorted(remaining)[:20])
        raise SettingError(
            "documents",
            f"{len(remaining)} document(s) are not in the export: {listed}; give documents of this "
            "export (collection and id as in its XML)",
        )
    return selection
