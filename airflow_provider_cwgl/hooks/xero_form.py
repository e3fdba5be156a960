"""The Xero connection's form in Airflow's UI, as provider metadata (``ui-field-behaviour`` and
``conn-fields``), built from ``xero.settings.XERO_EXTRAS``.

Plain Python, apart from the hook: ``get_provider_info()`` runs while Airflow discovers its
providers, when importing ``airflow`` (as the hook module does) is a circular import.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_cwgl.xero.settings import DEFAULT_HOST, XERO_EXTRAS

# The standard fields of the connection form.
FORM_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"host": "API host", "login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "host": f"{DEFAULT_HOST} when empty",
        "login": "The Custom Connection app's client id",
        "password": "The Custom Connection app's client secret",
    },
}


def connection_form() -> dict[str, dict[str, Any]]:
    """The extras as Airflow's ``conn-fields``, from ``XERO_EXTRAS``."""
    form = {}
    for extra in XERO_EXTRAS:
        schema: dict[str, Any] = {"type": [extra.json_type, "null"]}
        if extra.kind is not str:
            schema["minimum"] = 1 if extra.kind is int else 0
        default = extra.default
        hint = "Optional."
        if default is not None:
            hint = f"Optional; {default if isinstance(default, str) else f'{default:g}'} when empty."
        form[extra.name] = {
            "label": extra.label,
            "description": f"{hint} {extra.description}",
            "schema": schema,
        }
    return form
