"""Referees we did not write for Xero traffic: Xero's own OpenAPI description (tests/fixtures/xero/,
vendored from XeroAPI/Xero-OpenAPI) through openapi-core, plus a walk of every answer's field names
against the schemas (the spec does not forbid unknown fields, so a misspelt one passes openapi-core).

``XeroReferee.violations`` lists what is wrong with one exchange; ``check`` raises with the list.
The token endpoint is described in neither file and is not checked. A status the spec does not
declare (401, 403, 404, 429, 5xx: Xero's gateway answers) has no schema, so only its request is
checked.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from airflow_provider_cwgl.sandbox.faults import RequestRecord

XERO_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "xero"
ACCOUNTING_SPEC = XERO_FIXTURES / "xero_accounting.yaml"
IDENTITY_SPEC = XERO_FIXTURES / "xero-identity.yaml"
API_PREFIX = "/api.xro/2.0"
# Fields Xero sends that the spec's examples show but its schemas do not declare: the envelope
# around every collection, and the ISO twins of a document's dates.
ENVELOPE_KEYS = frozenset({"Id", "Status", "ProviderName", "DateTimeUTC"})
EXAMPLE_ONLY_KEYS = {
    "Invoice": {"DateString", "DueDateString"},
    "CreditNote": {"DateString", "DueDateString"},
}


def load_spec(path: Path) -> dict[str, Any]:
    """The description as openapi-core should read it: the accounting file's one known defect (23
    booleans whose ``default`` is the string ``'false'``) removed, and nothing else. openapi-core
    fills a default into every object lacking the field, then refuses it (a string, not a boolean;
    or a read-only field in a request); a default is documentation only for a validator."""
    with path.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    spec["x-removed-defaults"] = _remove_string_boolean_defaults(spec)
    return spec


def _remove_string_boolean_defaults(node: Any) -> int:
    removed = 0
    if isinstance(node, dict):
        if node.get("type") == "boolean" and isinstance(node.get("default"), str):
            del node["default"]
            removed += 1
        for value in node.values():
            removed += _remove_string_boolean_defaults(value)
    elif isinstance(node, list):
        for value in node:
            removed += _remove_string_boolean_defaults(value)
    return removed


@dataclass
class Exchange:
    """One request and its answer, as the referee reads them."""

    method: str
    path: str  # the URL path as sent (``/api.xro/2.0/Invoices``, ``/connections``)
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    status: int
    response_headers: Mapping[str, str]
    response_body: bytes

    @classmethod
    def from_record(cls, record: RequestRecord) -> Exchange:
        """A request the Xero sandbox logged (its secret header left out: a placeholder stands in)."""
        path = record.path if record.path.startswith("/") else f"{API_PREFIX}/{record.path}"
        headers = dict(record.headers) | {"authorization": "Bearer (not logged)"}
        query = list(httpx.QueryParams(record.query).multi_items())
        return cls(
            record.method,
            path,
            query,
            headers,
            record.body,
            record.status,
            record.response_headers,
            record.response_body,
        )

    @classmethod
    def from_httpx(cls, request: httpx.Request, response: httpx.Response) -> Exchange:
        return cls(
            request.method,
            request.url.path,
            list(request.url.params.multi_items()),
            dict(request.headers),
            request.content,
            response.status_code,
            dict(response.headers),
            response.content,
        )


class XeroReferee:
    """Xero's accounting and identity descriptions, loaded once (openapi-core needs
    ``spec_validator_cls=None``: the accounting file has 23 ``default: 'false'`` strings on booleans)."""

    @cached_property
    def accounting(self) -> dict[str, Any]:
        return load_spec(ACCOUNTING_SPEC)

    @cached_property
    def identity(self) -> dict[str, Any]:
        return load_spec(IDENTITY_SPEC)

    @cached_property
    def _openapi(self) -> dict[str, OpenAPI]:
        config = Config(spec_validator_cls=None)
        return {
            "accounting": OpenAPI.from_dict(self.accounting, config=config),
            "identity": OpenAPI.from_dict(self.identity, config=config),
        }

    def check(self, request: httpx.Request, response: httpx.Response) -> None:
        """Raise ``AssertionError`` listing every way the pair departs from Xero's description."""
        problems = self.violations(Exchange.from_httpx(request, response))
        if problems:
            raise AssertionError(f"{request.method} {request.url.path}: " + "; ".join(problems))

    def check_all(self, exchanges: Iterable[Exchange]) -> int:
        """Check each exchange; raise listing every violation. Returns how many were checked."""
        problems, count = [], 0
        for exchange in exchanges:
            count += 1
            problems += [f"{exchange.method} {exchange.path}: {p}" for p in self.violations(exchange)]
        if problems:
            raise AssertionError(f"{len(problems)} violations:\n" + "\n".join(problems))
        return count

    def check_sandbox(self, sandbox: Any) -> int:
        """Check every exchange a ``XeroSandbox`` logged; returns how many."""
        return self.check_all(Exchange.from_record(r) for r in sandbox.requests)

    def violations(self, exchange: Exchange) -> list[str]:
        if exchange.path.startswith(API_PREFIX + "/"):
            which, spec, host = "accounting", self.accounting, "https://api.xero.com"
            path = exchange.path
        elif exchange.path.lower() == "/connections":
            which, spec, host, path = "identity", self.identity, "https://api.xero.com", "/Connections"
        else:
            return []  # the token endpoint: described in neither file
        openapi = self._openapi[which]
        content_type = exchange.headers.get("content-type", "application/json")
        request = MockRequest(
            host,
            exchange.method,
            path,
            args=exchange.query,  # type: ignore[arg-type]
            headers=dict(exchange.headers),
            data=exchange.body or None,
            content_type=content_type.split(";")[0],
        )
        problems = _described(openapi.unmarshal_request(request).errors)
        operation = _operation(
            spec, path.removeprefix(API_PREFIX) if which == "accounting" else path, exchange.method
        )
        collection = path.removeprefix(API_PREFIX).strip("/").split("/")[0]
        sent = (operation or {}).get("requestBody", {}).get("content", {}).get("application/json", {})
        if "schema" in sent and exchange.body:
            with contextlib.suppress(ValueError):  # not JSON: openapi-core has said so
                problems += unknown_fields(
                    spec, sent["schema"], json.loads(exchange.body), collection, request=True
                )
        if operation is None or str(exchange.status) not in operation.get("responses", {}):
            return problems
        response_type = exchange.response_headers.get("content-type", "application/json").split(";")[0]
        response = MockResponse(exchange.response_body, exchange.status, content_type=response_type)
        problems += _described(openapi.unmarshal_response(request, response).errors)
        answer = operation["responses"][str(exchange.status)]
        if "$ref" in answer:
            answer = _resolve(spec, answer)
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None and exchange.response_body:
            problems += unknown_fields(spec, schema, json.loads(exchange.response_body), collection)
        return problems


def _described(errors: Iterable[Exception]) -> list[str]:
    """openapi-core's errors, with each schema error's place and message."""
    described = []
    for error in errors:
        cause = error.__cause__
        schema_errors = getattr(cause, "schema_errors", None) or getattr(error, "schema_errors", None)
        if schema_errors:
            described += [
                f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in schema_errors
            ]
        else:
            described.append(f"{type(error).__name__}: {error}{f' ({cause})' if cause else ''}")
    return described


def _operation(spec: Mapping[str, Any], path: str, method: str) -> dict[str, Any] | None:
    for template, item in spec["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in item:
            operation: dict[str, Any] = item[method.lower()]
            return operation
    return None


def _resolve(spec: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return dict(node)


def unknown_fields(
    spec: Mapping[str, Any], schema: Mapping[str, Any], value: Any, collection: str, *, request: bool = False
) -> list[str]:
    """Every key of ``value`` that its schema does not declare (nor, in an answer, the spec's
    examples show)."""
    problems: list[str] = []

    def walk(schemas: list[Mapping[str, Any]], item: Any, where: str, top: bool) -> None:
        resolved = [(s["$ref"].rsplit("/", 1)[-1] if "$ref" in s else "", _resolve(spec, s)) for s in schemas]
        if isinstance(item, list):
            items = [s["items"] for _, s in resolved if "items" in s]
            for index, element in enumerate(item):
                walk(items, element, f"{where}[{index}]", False)
            return
        if not isinstance(item, dict):
            return
        declared: dict[str, list[Mapping[str, Any]]] = {}
        allowed: set[str] = set(ENVELOPE_KEYS) if top and not request else set()
        for name, node in resolved:
            allowed |= set() if request else EXAMPLE_ONLY_KEYS.get(name, set())
            for key, sub in node.get("properties", {}).items():
                declared.setdefault(key, []).append(sub)
        if not declared:
            return  # an open object (e.g. a free-form map): nothing to hold it to
        for key, sub in item.items():
            if key in declared:
                extra: list[Mapping[str, Any]] = []
                if key == "Elements" and "Error" in name_of(resolved).split("/"):
                    # Xero's validation errors echo each refused element, of the collection's type.
                    wrapper = spec["components"]["schemas"].get(collection, {}).get("properties", {})
                    extra = [{"items": wrapper[collection]["items"]}] if collection in wrapper else []
                walk(declared[key] + extra, sub, f"{where}.{key}", False)
            elif key not in allowed:
                side = "sent" if request else "answered"
                problems.append(f"{side} {where}.{key}: not a field of {name_of(resolved) or 'this object'}")

    walk([schema], value, "(body)", True)
    return problems


def name_of(resolved: list[tuple[str, dict[str, Any]]]) -> str:
    return "/".join(name for name, _ in resolved if name)
