"""A plain-Python client for Xero's Accounting API: no Airflow imports below this package. Its
errors (``XeroError``, ``XeroAuthError``, ``XeroLimitError``, ``XeroTenantError``,
``XeroConfigError``) are in ``airflow_provider_cwgl.errors`` with the rest."""

from airflow_provider_cwgl.xero.client import XeroClient
from airflow_provider_cwgl.xero.settings import XeroSettings, settings_from_fields

__all__ = ["XeroClient", "XeroSettings", "settings_from_fields"]
