"""A sandbox Xero whose books take the ConnectWise sandbox's documents: the fixture ``xero_books``
(registered in tests/conftest.py), the mapping settings for that data, and a client for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal

import pytest

from airflow_provider_cwgl.sandbox.xero import XeroSandbox, XeroStore
from airflow_provider_cwgl.xero import XeroClient
from airflow_provider_cwgl.xero.settings import settings_from_fields

# The ConnectWise sandbox's GL accounts -> the sandbox Xero's chart (Xero's demo company codes).
# 6200 (expense bills) is left out on purpose in some tests: Xero refuses the unknown code.
ACCOUNT_CODES = {"4000": "200", "1300": "630", "6100": "429", "6200": "429", "2000": "2100"}
# The ConnectWise sandbox's tax codes -> TaxTypes of the same rates, added to the books below.
TAX_RATES = {"T0": ("TAX0", "0"), "T1": ("TAX20", "20"), "T5": ("TAX5", "5")}
TAX_RATES |= {"T8": ("TAX825", "8.25"), "T13": ("TAX13", "13")}
TAX_TYPES = {code: tax_type for code, (tax_type, _) in TAX_RATES.items()}


def books() -> XeroStore:
    """An organisation with the tax rates and the reimbursements account the mapping above names."""
    store = XeroStore()
    for tax_type, rate in TAX_RATES.values():
        store.add_tax_rate(tax_type, f"Sales tax {rate}%", Decimal(rate))
    store.add_account("2100", "Employee Reimbursements", "CURRLIAB")
    return store


@pytest.fixture
def xero_books() -> Iterator[XeroSandbox]:
    """A started sandbox Xero with ``books()``, Xero's limits but per second, not per minute."""
    from airflow_provider_cwgl.sandbox.xero import XeroLimits

    with XeroSandbox(books(), limits=XeroLimits(minute=1.0)) as sandbox:
        yield sandbox


def client_for(sandbox: XeroSandbox, host: str | None = None, **overrides: object) -> XeroClient:
    """A client of ``sandbox`` (through ``host``, e.g. a validating proxy) with fast retries."""
    conn = sandbox.connection(host=host)
    settings = settings_from_fields(conn["login"], conn["password"], conn["host"], conn["extra"])
    fast = {"backoff_base": 0.01, "backoff_max": 0.05, "default_retry_after": 0.05, "timeout": 5.0}
    return XeroClient(dataclasses.replace(settings, **(fast | overrides)))  # type: ignore[arg-type]
