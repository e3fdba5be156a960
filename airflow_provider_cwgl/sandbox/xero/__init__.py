"""A local Xero for the demo, the tests and the benchmark: OAuth 2 client credentials, the tenants,
and the accounting API's contacts, invoices, bills, credit notes and manual journals, with Xero's
validation, totals, limits and idempotency keys. Example::

    from airflow_provider_cwgl.sandbox.xero import XeroSandbox
    with XeroSandbox() as xero:
        print(xero.url, xero.connection())

Command line: ``python -m airflow_provider_cwgl.sandbox.xero --port 8124``.
Needs the ``sandbox`` extra, as the ConnectWise sandbox does.
"""

from airflow_provider_cwgl.sandbox.faults import Faults, RequestLog
from airflow_provider_cwgl.sandbox.xero.limits import XeroLimits
from airflow_provider_cwgl.sandbox.xero.server import API_PREFIX, DEFAULT_XERO_CREDENTIALS, XeroSandbox
from airflow_provider_cwgl.sandbox.xero.store import XeroStore

__all__ = [
    "API_PREFIX",
    "DEFAULT_XERO_CREDENTIALS",
    "Faults",
    "RequestLog",
    "XeroLimits",
    "XeroSandbox",
    "XeroStore",
]
