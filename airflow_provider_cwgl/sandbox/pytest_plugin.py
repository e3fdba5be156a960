"""Pytest fixtures for the ConnectWise sandbox.

Enable in a ``conftest.py`` with ``pytest_plugins = ["airflow_provider_cwgl.sandbox.pytest_plugin"]``.

- ``cw_sandbox``: a running sandbox with 40 generated invoices (and expenses, procurement); use its
  ``url``, ``store`` (the data), ``faults`` and ``log`` (the request log).
- ``cw_sample_sandbox``: a running sandbox holding exactly the spec's two sample documents.
- ``make_sandbox(store, **kwargs)``: start another one; all are stopped after the test.
- ``xero_sandbox``: a running sandbox Xero (``airflow_provider_cwgl.sandbox.xero``) with one empty
  organisation; ``make_xero_sandbox(store, **kwargs)`` starts others (limits, faults, tenants).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_cwgl.sandbox.data import generated_store, sample_store
from airflow_provider_cwgl.sandbox.server import Sandbox
from airflow_provider_cwgl.sandbox.store import SandboxStore
from airflow_provider_cwgl.sandbox.xero import XeroSandbox, XeroStore


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def make(store: SandboxStore | None = None, **kwargs: Any) -> Sandbox:
        sandbox = Sandbox(store if store is not None else generated_store(transactions=40), **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def cw_sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def cw_sample_sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox(sample_store())


@pytest.fixture
def make_xero_sandbox() -> Iterator[Callable[..., XeroSandbox]]:
    started: list[XeroSandbox] = []

    def make(store: XeroStore | None = None, **kwargs: Any) -> XeroSandbox:
        sandbox = XeroSandbox(store, **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def xero_sandbox(make_xero_sandbox: Callable[..., XeroSandbox]) -> XeroSandbox:
    return make_xero_sandbox()
