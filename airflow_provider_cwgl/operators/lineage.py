"""OpenLineage datasets for the operators; OpenLineage is imported only when lineage is asked for.

Naming (the OpenLineage conventions where one exists):

- ConnectWise: namespace ``connectwise://{host}`` (the site, with its port if any), name
  ``{company_id}/{endpoint}``, e.g. ``acme/finance/accounting/export``: one host serves many
  companies, so the company is part of the dataset.
- A local file: namespace ``file``, name the absolute path (as Airflow's common-io provider names
  a ``file://`` asset).
- An object: namespace ``{scheme}://{bucket}``, name the key (``s3://bucket`` + ``gl/…/glexport.xml``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

# No public schema document exists for our facet; OpenLineage needs only a stable identifier.
_FACET_SCHEMA = "urn:airflow-provider-cwgl:facet:ConnectWiseRequestDatasetFacet:1"


@functools.cache
def _request_facet_class() -> type:
    import attr
    from airflow.providers.common.compat.openlineage.facet import DatasetFacet

    @attr.define
    class ConnectWiseRequestDatasetFacet(DatasetFacet):
        """The ConnectWise call: its endpoint and the JSON body sent (never credentials)."""

        method: str
        endpoint: str
        request: dict[str, Any]

        @staticmethod
        def _get_schema() -> str:
            return _FACET_SCHEMA

    return ConnectWiseRequestDatasetFacet


def connectwise_namespace(site: str) -> str:
    """``connectwise://{host}`` of a site (``api-na.myconnectwise.net`` or a URL)."""
    return f"connectwise://{urlsplit(site if '://' in site else f'https://{site}').netloc}"


def connectwise_dataset(
    site: str, company_id: str, endpoint: str, *, request: dict[str, Any] | None = None
) -> Dataset:
    """The ConnectWise endpoint of this site and company, with the request POSTed as a facet if given."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    facets = {}
    if request is not None:
        facets["connectwiseRequest"] = _request_facet_class()(
            method="POST", endpoint=endpoint, request=request
        )
    return Dataset(namespace=connectwise_namespace(site), name=f"{company_id}/{endpoint}", facets=facets)


def file_dataset(location: str) -> Dataset:
    """A local path (or ``file://`` URL) or an object-storage URL as an OpenLineage dataset."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(location) if "://" in location else None
    if parts is None or parts.scheme in ("", "file", "local"):
        path = unquote(parts.path) if parts is not None else location
        return Dataset(namespace="file", name=path)
    # Drop a connection id (``s3://conn@bucket/key``, as ObjectStoragePath writes it): not the data.
    bucket = parts.netloc.rsplit("@", 1)[-1]
    return Dataset(namespace=f"{parts.scheme}://{bucket}", name=parts.path.lstrip("/"))


def operator_lineage(inputs: list[Dataset], outputs: list[Dataset]) -> OperatorLineage[Dataset, Any]:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs, outputs=outputs)
