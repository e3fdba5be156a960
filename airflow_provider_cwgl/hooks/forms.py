"""The connections' forms in Airflow's UI, and their extras as the docs list them, each from its
one table of extras (``connectwise.settings.CONNECTION_EXTRAS``, ``xero.settings.XERO_EXTRAS``).
No Airflow import: provider discovery reads the forms, when importing ``airflow`` is circular.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_cwgl.connectwise.settings import CONNECTION_EXTRAS
from airflow_provider_cwgl.xero.settings import DEFAULT_HOST

# The standard fields of each connection's form.
FORM_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"host": "Site", "login": "Public key", "password": "Private key"},
    "placeholders": {
        "host": "api-na.myconnectwise.net",
        "login": "API member public key",
        "password": "API member private key",
    },
}
XERO_FORM_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"host": "API host", "login": "Client ID", "password": "Client secret"},
    "placeholders": {
        "host": f"{DEFAULT_HOST} when empty",
        "login": "The Custom Connection app's client id",
        "password": "The Custom Connection app's client secret",
    },
}


def _default(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def connection_form(extras: Iterable[Any] = CONNECTION_EXTRAS) -> dict[str, dict[str, Any]]:
    """The extras as Airflow's ``conn-fields`` (provider metadata builds the connection form)."""
    form = {}
    for extra in extras:
        schema: dict[str, Any] = {"type": [extra.json_type, "null"]}
        if getattr(extra, "secret", False):
            schema["format"] = "password"
        if extra.kind is not str:
            # The form's bound; the parsing's stricter checks (positive, finite) name the extra.
            schema["minimum"] = 1 if extra.json_type == "integer" else 0
        hint = "Required." if getattr(extra, "required", False) else "Optional."
        if extra.default is not None:
            hint += f" {_default(extra.default)} when empty."
        form[extra.name] = {
            "label": extra.label,
            "description": f"{hint} {extra.description}",
            "schema": schema,
        }
    return form


def extras_rows() -> list[tuple[str, str, str, str, str]]:
    """The ConnectWise extras for the docs: (name, label, type, default, description)."""
    return [
        (
            extra.name,
            extra.label,
            extra.json_type,
            "required" if extra.required else "" if extra.default is None else _default(extra.default),
            extra.description,
        )
        for extra in CONNECTION_EXTRAS
    ]
