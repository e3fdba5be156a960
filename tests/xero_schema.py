"""Xero's own API description as a referee of payloads not sent yet (the mapping's): a ``PUT`` of a
body validated by the ``xero_openapi`` fixture (openapi-core), and every field name checked against
the schemas' properties with ``xero_referee.unknown_fields`` (the spec does not forbid unknown
fields, so a misspelt one would pass openapi-core). What was sent to a sandbox is refereed whole by
``XeroReferee.check_sandbox``."""

from __future__ import annotations

import functools
from typing import Any

import httpx
from xero_openapi import XeroOpenAPI
from xero_referee import XeroReferee, unknown_fields

from airflow_provider_cwgl.xero.client import encode_json

TENANT = "00000000-0000-0000-0000-000000000000"


def validate_put(referee: XeroOpenAPI, endpoint: str, body: dict[str, Any]) -> None:
    """Raises openapi-core's error when ``PUT /{endpoint}`` with ``body`` breaks Xero's spec."""
    request = httpx.Request(
        "PUT",
        f"https://api.xero.com/api.xro/2.0/{endpoint}",
        params={"summarizeErrors": "false"},
        headers={"xero-tenant-id": TENANT, "Idempotency-Key": "k", "Content-Type": "application/json"},
        content=encode_json(body),
    )
    referee.validate(request)


@functools.cache
def referee() -> XeroReferee:
    return XeroReferee()


def unknown_request_fields(endpoint: str, body: dict[str, Any]) -> list[str]:
    """The keys of a ``PUT /{endpoint}`` body (``{"Invoices": [...]}``) its schemas do not declare."""
    spec = referee().accounting
    return unknown_fields(spec, {"$ref": f"#/components/schemas/{endpoint}"}, body, endpoint, request=True)
