"""A sandbox Xero whose books take the ConnectWise sandbox's documents
(``sandbox.xero.connectwise_books``): the fixture ``xero_books`` (registered in tests/conftest.py),
the mapping settings for that data, and a client for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from airflow_provider_cwgl.sandbox.xero import XeroSandbox
from airflow_provider_cwgl.sandbox.xero.connectwise_books import connectwise_books
from airflow_provider_cwgl.xero import XeroClient
from airflow_provider_cwgl.xero.settings import settings_from_fields


@pytest.fixture
def xero_books() -> Iterator[XeroSandbox]:
    """A started sandbox Xero with ``connectwise_books()``, Xero's limits but per second."""
    from airflow_provider_cwgl.sandbox.xero import XeroLimits

    with XeroSandbox(connectwise_books(), limits=XeroLimits(minute=1.0)) as sandbox:
        yield sandbox


def client_for(sandbox: XeroSandbox, host: str | None = None, **overrides: object) -> XeroClient:
    """A client of ``sandbox`` (through ``host``, e.g. a validating proxy) with fast retries."""
    conn = sandbox.connection(host=host)
    settings = settings_from_fields(conn["login"], conn["password"], conn["host"], conn["extra"])
    fast = {"backoff_base": 0.01, "backoff_max": 0.05, "default_retry_after": 0.05, "timeout": 5.0}
    return XeroClient(dataclasses.replace(settings, **(fast | overrides)))  # type: ignore[arg-type]
