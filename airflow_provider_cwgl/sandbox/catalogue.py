"""ConnectWise Manage API 2025.1 as data: its models and endpoints, for the sandbox and its tests.

``fixtures/connectwise-api-2025.1.json`` is a trimmed copy of the catalogue taken from the
OpenAPI-generated Go client of ConnectWise's public OpenAPI description (its ``source`` line says
which). Nobody here wrote its contents: the sandbox builds its records from it (``record``) and the
conformance tests hold everything the sandbox serves to it (``check``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from airflow_provider_cwgl.glexport.schema import (
    API_VERSION as API_VERSION,  # the one version the provider is verified on
)

CATALOGUE_FILE = f"fixtures/connectwise-api-{API_VERSION}.json"


@dataclass(frozen=True)
class ModelField:
    name: str
    type: str  # "integer", "number", "string", "string(date-time)", "boolean", "object", a model name
    array: bool  # a JSON array of ``type``
    nullable: bool
    required: bool


_OMIT = object()  # a field left out of a record


@cache
def raw() -> dict[str, Any]:
    text = resources.files(__package__).joinpath(CATALOGUE_FILE).read_text("utf-8")
    catalogue: dict[str, Any] = json.loads(text)
    return catalogue


@cache
def models() -> dict[str, dict[str, ModelField]]:
    def field(row: dict[str, Any]) -> ModelField:
        kind, array = row["type"], isinstance(row["type"], dict)  # {"array": "Model"} for a list
        return ModelField(
            row["name"], kind["array"] if array else kind, array, row["nullable"], row["required"]
        )

    return {name: {row["name"]: field(row) for row in rows} for name, rows in raw()["models"].items()}


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


@functools.lru_cache(maxsize=4096)
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


# JSON type -> (the Python types a value of it has, the value ``document`` writes when none is given)
_SCALARS: dict[str, tuple[tuple[type, ...], Any]] = {"integer": ((int,), 0), "boolean": ((bool,), False)}
_SCALARS |= {"number": ((int, float, Decimal), 0), "string": ((str,), ""), "object": ((dict,), _OMIT)}


def _scalar(kind: str) -> tuple[tuple[type, ...], Any]:
    """``_SCALARS`` for a type; ``string(date-time)`` is a string; ``interface{}`` and friends: any."""
    return _SCALARS.get("string" if kind.startswith("string") else kind, ((object,), ""))


def _is_type(value: Any, kind: str) -> bool:
    types = _scalar(kind)[0]
    if isinstance(value, bool):  # an int to Python, not to JSON
        return bool in types or object in types
    return isinstance(value, types)


def record(model: str, values: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """A record of ``model``: ``values`` in the model's field order, plus every required field the
    values lack, filled with a value of the right type (deterministic per ``seed``). A null the
    model does not allow is left out, as ConnectWise leaves out what a record does not have."""
    return _build(
        model, values, lambda spec, given: _OMIT if given or not spec.required else _filler(spec, seed)
    )


def document(model: str, values: dict[str, Any]) -> dict[str, Any]:
    """A GLExport record of ``model`` as ConnectWise sends one: every scalar field in schema order
    (empty or zero where not given), references only where given (ConnectWise omits absent ones)."""
    return _build(model, values, lambda spec, given: _default(spec))


def _build(model: str, values: dict[str, Any], fill: Callable[[ModelField, bool], Any]) -> dict[str, Any]:
    """``values`` in ``model``'s field order; a field without a value, or with a null the model does
    not allow, gets ``fill(field, given)`` (left out where that is ``_OMIT``)."""
    fields = models()[model]
    unknown = set(values).difference(fields)
    if unknown:
        raise KeyError(f"{model} has no field(s) {sorted(unknown)}")
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        value = values.get(name, _OMIT)
        if value is _OMIT or (value is None and not spec.nullable):
            value = fill(spec, value is None)
        if value is not _OMIT:
            out[name] = value
    return out


def _default(spec: ModelField) -> Any:
    """What ConnectWise writes for a field a GLExport record does not fill: references and objects
    are left out."""
    if spec.array:
        return []
    default = _scalar(spec.type)[1]
    if spec.type in models() or default is _OMIT:
        return _OMIT
    return None if spec.nullable else default


def _filler(spec: ModelField, seed: int) -> Any:
    """A value of the right type for a required field (a reference: its id and display fields)."""
    label = f"{spec.name[:1].upper()}{spec.name[1:]} {1 + seed % 9}"
    if spec.array:
        return []
    if spec.type == "string(date-time)":
        return f"{date(2020, 1, 1 + seed % 28).isoformat()}T00:00:00Z"
    if spec.type in models():
        ref_fields = models()[spec.type]
        out: dict[str, Any] = {"id": 1 + seed % 9} if "id" in ref_fields else {}
        return out | {key: label for key in ("identifier", "name") if key in ref_fields}
    fillers = {"integer": 1 + seed % 9, "number": Decimal(0), "boolean": False, "object": {}}
    return label if spec.type.startswith("string") else fillers.get(spec.type, {})
