"""airflow-provider-cwgl: export ConnectWise Manage general-ledger batches from Apache Airflow."""

from __future__ import annotations

from typing import Any

# The only copy of the version: pyproject.toml reads it at build time, get_provider_info() below.
__version__ = "0.1.0"

DISTRIBUTION_NAME = "airflow-provider-cwgl"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's provider discovery (entry point ``apache_airflow_provider``).

    ``package-name`` must equal the distribution name exactly, or Airflow's discovery of every
    provider fails. The connection form is declared here (``ui-field-behaviour``, ``conn-fields``)
    because Airflow 3.2+ builds it from provider metadata, not from hook methods.
    """
    return {
        "package-name": DISTRIBUTION_NAME,
        "name": "ConnectWise GL export",
        "description": "Export unposted invoices, expenses and procurement from ConnectWise Manage "
        "as GLExport XML, and mark them exported.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "connectwise",
                "hook-class-name": "airflow_provider_cwgl.hooks.connectwise.ConnectWiseHook",
                "hook-name": "ConnectWise Manage",
                "ui-field-behaviour": {
                    "hidden-fields": ["port", "schema"],
                    "relabeling": {"host": "Site", "login": "Public key", "password": "Private key"},
                    "placeholders": {
                        "host": "api-na.myconnectwise.net",
                        "login": "API member public key",
                        "password": "API member private key",
                    },
                },
                "conn-fields": {
                    "company_id": {
                        "label": "Company ID",
                        "description": "The login company, as typed on ConnectWise's sign-in page.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_id": {
                        "label": "Client ID",
                        "description": "The integration's clientId GUID from developer.connectwise.com.",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "codebase": {
                        "label": "Codebase",
                        "description": "Optional, e.g. v2025_1/. Discovered from login/companyinfo when empty.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_version": {
                        "label": "API version",
                        "description": "Optional, e.g. 2025.1. Pins the response models ConnectWise sends.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "Optional per-request timeout; 60 when empty.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                },
            }
        ],
    }
