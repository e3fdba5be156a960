"""A plain-Python ConnectWise Manage REST client: no Airflow imports below this package."""

from airflow_provider_cwgl.connectwise.client import ConnectWiseClient
from airflow_provider_cwgl.connectwise.errors import ConnectWiseConfigError, ConnectWiseError
from airflow_provider_cwgl.connectwise.settings import ConnectWiseSettings, RetryPolicy

__all__ = [
    "ConnectWiseClient",
    "ConnectWiseConfigError",
    "ConnectWiseError",
    "ConnectWiseSettings",
    "RetryPolicy",
]
