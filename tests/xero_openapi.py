"""Xero's own OpenAPI description (tests/fixtures/xero/, vendored from XeroAPI/Xero-OpenAPI) as
the referee of what a Xero client sends and what a Xero server answers: the session fixture
``xero_openapi`` (registered in tests/conftest.py) and ``Recording``, a transport that keeps every
exchange for it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

SPEC = Path(__file__).resolve().parent / "fixtures" / "xero"


class _Request:
    """An httpx request in openapi-core's request protocol, its URL moved onto the spec's server
    (``https://api.xero.com/api.xro/2.0`` for the accounting API, ``https://api.xero.com`` for
    ``/connections``, which the identity file spells ``/Connections``; Xero's routes ignore case)."""

    def __init__(self, request: httpx.Request, accounting: bool) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        path = request.url.path
        self.host_url = "https://api.xero.com"
        if accounting:
            self.path = "/api.xro/2.0/" + path.split("/api.xro/2.0/", 1)[-1].lstrip("/")
        else:
            self.path = "/Connections" if path.lower().endswith("/connections") else path
        query = parse_qsl(request.url.query.decode(), keep_blank_values=True)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = dict(response.headers)
        self.content_type = response.headers.get("content-type", "")
        self.data = response.content


@dataclass
class XeroOpenAPI:
    """``validate(request, response=None)`` checks an httpx request (and its answer) against
    ``xero_accounting.yaml``, or ``xero-identity.yaml`` for ``/connections``; it raises
    openapi-core's error naming what is wrong."""

    accounting: Any
    identity: Any

    def validate(self, request: httpx.Request, response: httpx.Response | None = None) -> None:
        is_accounting = "/api.xro/2.0/" in request.url.path
        spec = self.accounting if is_accounting else self.identity
        wrapped = _Request(request, is_accounting)
        # openapi-core casts "False" to a boolean; Prism (and so CI) refuses all but true/false.
        for name, value in wrapped.parameters.query.items(multi=True):
            if value.lower() in ("true", "false") and value not in ("true", "false"):
                raise AssertionError(f"query parameter {name}={value}: booleans are written true or false")
        with warnings.catch_warnings():
            # openapi-core checks no OAuth 2 scheme and says so on every call; the token is ours to check.
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            spec.validate_request(wrapped)
            if response is not None:
                spec.validate_response(wrapped, _Response(response))


@pytest.fixture(scope="session")
def xero_openapi() -> XeroOpenAPI:
    from openapi_core import Config, OpenAPI

    # The accounting file fails strict validation on 23 `default: 'false'` strings (SOURCE.md).
    config = Config(spec_validator_cls=None)
    return XeroOpenAPI(
        OpenAPI.from_file_path(str(SPEC / "xero_accounting.yaml"), config=config),
        OpenAPI.from_file_path(str(SPEC / "xero-identity.yaml"), config=config),
    )


class Recording(httpx.BaseTransport):
    """httpx's own transport, keeping every request and its answer (body read) for the referee."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        content = response.read()
        kept = httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )
        self.exchanges.append((request, kept))
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )
