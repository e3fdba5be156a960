"""A plain-Python ConnectWise Manage REST client: no Airflow imports below this package. Its errors
(``ConnectWiseError``, ``ConnectWiseConfigError``) are in ``airflow_provider_cwgl.errors`` with the rest."""

from airflow_provider_cwgl.connectwise.client import ConnectWiseClient
from airflow_provider_cwgl.connectwise.settings import ConnectWiseSettings, RetryPolicy

__all__ = ["ConnectWiseClient", "ConnectWiseSettings", "RetryPolicy"]
