"""References To Fetch: fetch the ConnectWise records an export refers to and put them in place.

The package, by responsibility:

- ``paths``: ``REFERENCE_PATHS``, the paths the setting accepts (the spec's list).
- ``plan``: the requested paths as trees of ``Node`` steps (``NodeKind`` says how each finds its
  records), and the tables of endpoints, derived links and containers they are read with.
- ``keys``: which record a reference points at, one small type per way of asking for it
  (``RecordById``, ``RecordByField``, ``SubCollectionOf``).
- ``fetch``: ``RecordFetcher`` notes every distinct record the export's items want (one pass over
  the JSON) and fetches them in breadth-first rounds, one per nesting depth. In a round every
  endpoint is asked at once (bounded by ``concurrency``), each for many ids with
  ``conditions=id in (...)``, chunked so no URL exceeds ConnectWise's 2,000 characters. Each
  distinct record is fetched once per run.
- ``write``: ``RecordPlacer`` hands the XML writer each reference's record, nested paths in place.
- ``resolver``: ``ReferenceResolver`` ties them together for one export; it is what the exporter
  and the XML writer use.

An item without the reference a path reads is counted per path (``skipped_by_path``, debug log); a
path whose field the API's GLExport model does not have as a reference (API 2025.1 has no
``inventoryTransfer/taxCode``, for one) and which no item carried gets one warning per run. A record
that no longer exists leaves its reference as it was and is counted and logged as a warning.
"""

from __future__ import annotations

from airflow_provider_cwgl.errors import ReferenceValueTooLongError
from airflow_provider_cwgl.glexport.references.fetch import (
    MAX_URL_LENGTH,
    FetchStats,
    ListRequest,
    RecordCache,
    RecordFetcher,
    chunk_values,
)
from airflow_provider_cwgl.glexport.references.keys import (
    RecordByField,
    RecordById,
    RecordKey,
    SubCollectionOf,
)
from airflow_provider_cwgl.glexport.references.plan import (
    FIELD_ALIASES,
    FIELD_ENDPOINTS,
    SITES,
    SUB_COLLECTIONS,
    Node,
    NodeKind,
    ReferencePlan,
)
from airflow_provider_cwgl.glexport.references.resolver import ReferenceResolver, ReferencesSummary
from airflow_provider_cwgl.glexport.references.write import RecordPlacer

__all__ = [
    "FIELD_ALIASES",
    "FIELD_ENDPOINTS",
    "MAX_URL_LENGTH",
    "SITES",
    "SUB_COLLECTIONS",
    "FetchStats",
    "ListRequest",
    "Node",
    "NodeKind",
    "RecordById",
    "RecordByField",
    "RecordCache",
    "RecordFetcher",
    "RecordKey",
    "RecordPlacer",
    "ReferencePlan",
    "ReferenceResolver",
    "ReferencesSummary",
    "ReferenceValueTooLongError",
    "SubCollectionOf",
    "chunk_values",
]
