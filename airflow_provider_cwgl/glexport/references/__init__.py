"""References To Fetch: fetch the ConnectWise records an export refers to and put them in place.

``paths`` lists what the setting accepts; ``plan`` turns them into trees of ``Node`` steps;
``keys`` says which record a reference points at; ``fetch`` collects and fetches them in one
round per nesting depth; ``write`` hands the XML writer each record; ``resolver`` ties them
together for one export. A record that no longer exists leaves its reference as it was (counted,
and logged as a warning); a path whose field the API's model lacks and no item carried is warned
about once per run.
"""

from __future__ import annotations

from airflow_provider_cwgl.glexport.references.fetch import ListRequest, chunk_values
from airflow_provider_cwgl.glexport.references.keys import RecordKey, SubCollectionOf
from airflow_provider_cwgl.glexport.references.plan import (
    FIELD_ALIASES,
    SUB_COLLECTIONS,
    Node,
    NodeKind,
    ReferencePlan,
)
from airflow_provider_cwgl.glexport.references.resolver import ReferenceResolver, ReferencesSummary

__all__ = [
    "FIELD_ALIASES",
    "SUB_COLLECTIONS",
    "ListRequest",
    "Node",
    "NodeKind",
    "RecordKey",
    "ReferencePlan",
    "ReferenceResolver",
    "ReferencesSummary",
    "SubCollectionOf",
    "chunk_values",
]
