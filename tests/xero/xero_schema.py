"""Xero's own API description as a referee of payloads: a ``PUT`` of a body validated by the
``xero_openapi`` fixture (openapi-core), and every field name checked against the schemas'
properties (the spec does not forbid unknown ones, so a misspelt field would pass the first)."""

from __future__ import annotations

import functools
from typing import Any

import httpx
import yaml
from xero_openapi import SPEC, XeroOpenAPI

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
def schemas() -> dict[str, Any]:
    with (SPEC / "xero_accounting.yaml").open() as handle:
        return yaml.safe_load(handle)["components"]["schemas"]  # type: ignore[no-any-return]


def unknown_fields(value: Any, schema_name: str) -> list[str]:
    """Paths of the keys in ``value`` that ``schema_name`` (and its nested schemas) does not define."""
    return _unknown(value, {"$ref": f"#/components/schemas/{schema_name}"}, schema_name)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = schemas()[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _unknown(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    schema = _resolve(schema)
    out: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, inner in value.items():
            if key not in properties:
                out.append(f"{path}.{key}")
            else:
                out += _unknown(inner, properties[key], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for n, inner in enumerate(value):
            out += _unknown(inner, schema["items"], f"{path}[{n}]")
    return out
