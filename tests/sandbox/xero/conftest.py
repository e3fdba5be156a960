"""Fixtures of the sandbox Xero's tests: ``xero_api(sandbox, checked=True)`` and ``xero``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_cwgl.sandbox.xero import XeroSandbox

from .xero_client import XeroApi


@pytest.fixture
def xero_api(xero_referee: Any) -> Callable[..., XeroApi]:
    """``xero_api(sandbox, checked=True, tenant_id=None, api_url=None)``: a client whose traffic the
    referee checks; ``api_url`` puts another accounting root (Prism's) in front of the sandbox."""

    def make(
        sandbox: XeroSandbox,
        *,
        checked: bool = True,
        tenant_id: str | None = None,
        api_url: str | None = None,
    ) -> XeroApi:
        return XeroApi(sandbox, xero_referee if checked else None, tenant_id, api_url)

    return make


@pytest.fixture
def xero(xero_sandbox: XeroSandbox, xero_api: Callable[..., XeroApi]) -> XeroApi:
    return xero_api(xero_sandbox)
