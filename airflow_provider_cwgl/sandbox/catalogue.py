"""ConnectWise Manage API 2025.1 as data: its models and endpoints, for the sandbox and its tests.

``fixtures/connectwise-api-2025.1.json`` is a trimmed copy of the catalogue taken from the
OpenAPI-generated Go client of ConnectWise's public OpenAPI description (its ``source`` line says
which). Nobody here wrote its contents: the sandbox builds its records from it (``record``) and the
conformance tests hold everything the sandbox serves to it (``check``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

API_VERSION = "2025.1"
CATALOGUE_FILE = "fixtures/connectwise-api-2025.1.json"


@dataclass(frozen=True)
class ModelField:
    name: str
    type: str  # "integer", "number", "string", "string(date-time)", "boolean", "object", a model name
    array: bool  # a JSON array of ``type``
    nullable: bool
    required: bool


@cache
def raw() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text("utf-8")
    return json.loads(text)


@cache
def models() -> dict[str, dict[str, ModelField]]:
    out: dict[str, dict[str, ModelField]] = {}
    for name, rows in raw()["models"].items():
        fields = {}
        for row in rows:
            kind = row["type"]
            array = isinstance(kind, dict)
            fields[row["name"]] = ModelField(
                row["name"], kind["array"] if array else kind, array, row["nullable"], row["required"]
            )
        out[name] = fields
    return out


@cache
def _routes() -> list[tuple[re.Pattern[str], str, str, str]]:
    """(pattern, method, template, returns), literal segments before placeholders."""
    routes = []
    for endpoint in raw()["endpoints"]:
        template = endpoint["path"].strip("/")
        pattern = re.escape(template)
        pattern = re.sub(r"\\\{\w+\\\}", r"[^/]+", pattern)
        routes.append((re.compile(pattern), endpoint["method"], template, endpoint["returns"] or ""))
    # "batches/count" must win over "batches/{id}": fewer placeholders first.
    routes.sort(key=lambda r: r[2].count("{"))
    return routes


def endpoint(method: str, path: str) -> tuple[str, str] | None:
    """The catalogue's (template, returned model) for a concrete API path, e.g.
    ``GET company/companies/8/sites/7`` -> ``("company/companies/{parentId}/sites/{id}", "CompanySite")``;
    a list endpoint returns ``"[]Model"``."""
    path = path.strip("/")
    for pattern, verb, template, returns in _routes():
        if verb == method and pattern.fullmatch(path):
            return template, returns
    return None


def check(value: Any, model: str, where: str = "") -> list[str]:
    """Everything in ``value`` that a ``model`` from the real API would not hold: fields the model
    lacks, values of the wrong JSON type (recursively into nested models), missing required fields.
    An empty list means it conforms."""
    fields = models().get(model)
    if fields is None:
        return [f"{where or '.'}: unknown model {model}"]
    if not isinstance(value, dict):
        return [f"{where or '.'}: {model} must be an object, got {type(value).__name__}"]
    problems = []
    for name, item in value.items():
        spec = fields.get(name)
        at = f"{where}/{name}"
        if spec is None:
            problems.append(f"{at}: unknown field ({model} has no {name!r})")
            continue
        if item is None:
            if not spec.nullable:
                problems.append(f"{at}: null, but {model}.{name} is not nullable (ConnectWise omits it)")
            continue
        if spec.array:
            if not isinstance(item, list):
                problems.append(f"{at}: wrong type, {model}.{name} is an array of {spec.type}")
                continue
            for i, element in enumerate(item):
                problems.extend(_check_value(element, spec, f"{at}[{i}]", model))
        else:
            problems.extend(_check_value(item, spec, at, model))
    for name, spec in fields.items():
        if spec.required and name not in value:
            problems.append(f"{where}/{name}: required field missing ({model})")
    return problems


def _check_value(value: Any, spec: ModelField, at: str, model: str) -> list[str]:
    kind = spec.type
    if kind in models():
        return check(value, kind, at)
    if _is_type(value, kind):
        return []
    return [f"{at}: wrong type, {model}.{spec.name} is {kind}, got {type(value).__name__} {value!r:.40}"]


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind.startswith("string"):
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    return True  # interface{} and friends: anything


def record(model: str, values: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """A record of ``model``: ``values`` in the model's field order, plus every required field the
    values lack, filled with a value of the right type (deterministic per ``seed``)."""
    fields = models()[model]
    unknown = set(values) - set(fields)
    if unknown:
        raise KeyError(f"{model} has no field(s) {sorted(unknown)}")
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in values:
            if values[name] is not None or spec.nullable:
                out[name] = values[name]
        elif spec.required:
            out[name] = [] if spec.array else _filler(spec, seed)
    return out


def _filler(spec: ModelField, seed: int) -> Any:
    kind = spec.type
    if kind == "integer":
        return 1 + seed % 9
    if kind == "number":
        return Decimal(0)
    if kind == "boolean":
        return False
    if kind == "string(date-time)":
        return f"{date(2020, 1, 1 + seed % 28).isoformat()}T00:00:00Z"
    if kind.startswith("string"):
        return f"{spec.name[:1].upper()}{spec.name[1:]} {1 + seed % 9}"
    if kind in models():  # a reference: id and the display fields it has
        ref_fields = models()[kind]
        out: dict[str, Any] = {"id": 1 + seed % 9} if "id" in ref_fields else {}
        for label in ("identifier", "name"):
            if label in ref_fields:
                out[label] = f"{spec.name[:1].upper()}{spec.name[1:]} {1 + seed % 9}"
        return out
    return {}
