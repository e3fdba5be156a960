"""airflow-provider-cwgl: export ConnectWise Manage general-ledger batches from Apache Airflow."""

from __future__ import annotations

from typing import Any

# The only copy of the version: pyproject.toml reads it at build time, get_provider_info() below.
__version__ = "0.1.0"

DISTRIBUTION_NAME = "airflow-provider-cwgl"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's provider discovery (entry point ``apache_airflow_provider``).

    ``package-name`` must equal the distribution name exactly, or Airflow's discovery of every
    provider fails. The connection forms are declared here because Airflow 3.2+ builds them from
    provider metadata, not from hook methods (``hooks.forms``).
    """
    from airflow_provider_cwgl.hooks.forms import FORM_BEHAVIOUR, XERO_FORM_BEHAVIOUR, connection_form
    from airflow_provider_cwgl.xero.settings import XERO_EXTRAS

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
                "ui-field-behaviour": FORM_BEHAVIOUR,
                "conn-fields": connection_form(),
            },
            {
                "connection-type": "xero",
                "hook-class-name": "airflow_provider_cwgl.hooks.xero.XeroHook",
                "hook-name": "Xero",
                "ui-field-behaviour": XERO_FORM_BEHAVIOUR,
                "conn-fields": connection_form(XERO_EXTRAS),
            },
        ],
    }
