"""Pytest fixtures for the sandboxes (ConnectWise and Xero).

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
from airflow_provider_cwgl.sandbox.serving import LoopbackServer
from airflow_provider_cwgl.sandbox.store import SandboxStore
from airflow_provider_cwgl.sandbox.xero import XeroSandbox


def _started(start: Callable[..., LoopbackServer]) -> Iterator[Callable[..., Any]]:
    """A fixture's factory: each server ``start`` gives is stopped after the test."""
    started: list[LoopbackServer] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        server = start(*args, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    def sandbox(store: SandboxStore | None = None, **kwargs: Any) -> Sandbox:
        return Sandbox(store if store is not None else generated_store(transactions=40), **kwargs)

    yield from _started(sandbox)


@pytest.fixture
def cw_sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def cw_sample_sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox(sample_store())


@pytest.fixture
def make_xero_sandbox() -> Iterator[Callable[..., XeroSandbox]]:
    yield from _started(XeroSandbox)


@pytest.fixture
def xero_sandbox(make_xero_sandbox: Callable[..., XeroSandbox]) -> XeroSandbox:
    return make_xero_sandbox()
