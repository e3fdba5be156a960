"""Xero's own API description as a referee: request bodies validated with openapi-core, and every
field name checked against the schemas' properties (the spec does not forbid unknown ones)."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_cwgl.xero.client import encode_json

SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "xero" / "xero_accounting.yaml"
ROOT = "https://api.xero.com"
PREFIX = "/api.xro/2.0/"


@functools.cache
def openapi() -> Any:
    from openapi_core import Config, OpenAPI

    # The file fails strict OpenAPI validation (boolean defaults written as strings): load it as it is.
    return OpenAPI.from_path(SPEC, config=Config(spec_validator_cls=None))


@functools.cache
def schemas() -> dict[str, Any]:
    with SPEC.open() as handle:
        return yaml.safe_load(handle)["components"]["schemas"]  # type: ignore[no-any-return]


def validate_put(endpoint: str, body: dict[str, Any]) -> None:
    """Raises openapi-core's error when ``PUT /{endpoint}`` with ``body`` breaks Xero's spec."""
    from openapi_core.testing import MockRequest

    request = MockRequest(
        ROOT,
        "put",
        PREFIX + endpoint,
        args={"summarizeErrors": "false"},
        data=encode_json(body),
        content_type="application/json",
        headers={"xero-tenant-id": "00000000-0000-0000-0000-000000000000", "Idempotency-Key": "k"},
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)  # OAuth2: not ours to check
        openapi().validate_request(request)


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
