"""The export's summary: counts, totals, the dates its documents cover and the accountant's review,
built item by item while the XML is written. The GL entry ids go to the documents file beside the
output, not to XCom (100,000 ids at 20,000 invoices); the summary has their count.
"""

from __future__ import annotations

import re
from typing import Any

from typing_extensions import NotRequired, TypedDict

from airflow_provider_cwgl.glexport.contents import PARTY_COLLECTIONS, gl_entry_ids
from airflow_provider_cwgl.glexport.documents import DocumentsRecorder
from airflow_provider_cwgl.glexport.references import ReferencesSummary
from airflow_provider_cwgl.glexport.review import Review, ReviewBuilder

# The date part of an ISO 8601 date or date-time: what ``document_dates`` compares.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class DateRange(TypedDict):
    first: str  # the earliest ``documentDate`` (its ISO date part, 2026-03-01)
    last: str


class ContentSummary(TypedDict):
    """What ``SummaryBuilder`` saw: the part of the export's summary about its documents."""

    counts: dict[str, int]  # items per root collection
    totals: dict[str, str]  # exact decimal sums of ``total`` per root collection
    gl_entry_id_count: int
    document_count: int
    document_dates: dict[str, DateRange]  # per collection with dated documents
    review: Review


class WrittenSummary(ContentSummary):
    """What the write step (``exporter.write_export``) gives: the summary of the file written."""

    output: str  # the file or object written, as ``OutputTarget.describe`` gives it
    bytes: int
    sha256: str
    gl_documents_file: str
    removed_characters: int
    dropped_list_nulls: int


class ExportSummary(WrittenSummary):
    """What ``GLBatchExportOperator`` returns to XCom (plain JSON types only)."""

    request: dict[str, Any]  # the JSON body sent to ConnectWise
    location_id: int | None
    batch_id: NotRequired[int]  # set when a past batch was re-exported
    batch_identifier: NotRequired[str]  # the operator's ``batch_identifier``, when it had one
    references: NotRequired[ReferencesSummary]  # with References To Fetch


class SummaryBuilder:
    """Fed every root item as it is written; ``result()`` gives the XCom-safe summary."""

    def __init__(self) -> None:
        self.review = ReviewBuilder()
        self.contents = self.review.contents
        self.documents = DocumentsRecorder()
        self.dates: dict[str, list[str]] = {}

    def add(self, collection: str, item: dict[str, Any]) -> None:
        if collection in PARTY_COLLECTIONS:
            self.review.add(collection, item)
            return
        ids = gl_entry_ids(collection, item)
        total = self.review.add(collection, item, ids)
        self.documents.add(collection, item, total, ids)
        day = item.get("documentDate")
        if day.__class__ is str and _ISO_DATE.match(day):
            day = day[:10]
            span = self.dates.get(collection)
            if span is None:
                self.dates[collection] = [day, day]
            elif day < span[0]:
                span[0] = day
            elif day > span[1]:
                span[1] = day

    def result(self) -> ContentSummary:
        return {
            "counts": dict(self.contents.counts),
            "totals": self.contents.formatted_totals(),
            "gl_entry_id_count": len(self.contents.ids()),
            "document_count": self.documents.count,
            "document_dates": {c: {"first": a, "last": b} for c, (a, b) in self.dates.items()},
            "review": self.review.result(),
        }
