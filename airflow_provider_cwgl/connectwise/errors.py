"""The ConnectWise client's errors (defined with the package's others in ``airflow_provider_cwgl.errors``)."""

from airflow_provider_cwgl.errors import (
    MAX_SERVER_TEXT,
    RETRYABLE_STATUSES,
    ConnectWiseConfigError,
    ConnectWiseError,
)

__all__ = ["MAX_SERVER_TEXT", "RETRYABLE_STATUSES", "ConnectWiseConfigError", "ConnectWiseError"]
