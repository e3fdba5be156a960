"""The ConnectWise connection's form in Airflow's UI and its extras as the docs list them, both from
``connectwise.settings.CONNECTION_EXTRAS``. No Airflow import: provider discovery reads the form.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_cwgl.connectwise.settings import CONNECTION_EXTRAS

# The standard fields of the connection form.
FORM_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["port", "schema"],
    "relabeling": {"host": "Site", "login": "Public key", "password": "Private key"},
    "placeholders": {
        "host": "api-na.myconnectwise.net",
        "login": "API member public key",
        "password": "API member private key",
    },
}


def connection_form() -> dict[str, dict[str, Any]]:
    """The extras as Airflow's ``conn-fields`` (provider metadata builds the connection form)."""
    form = {}
    for extra in CONNECTION_EXTRAS:
        schema: dict[str, Any] = {"type": [extra.json_type, "null"]}
        if extra.secret:
            schema["format"] = "password"
        if extra.kind is not str:
            # The form's bound; the parsing's stricter checks (positive, finite) name the extra.
            schema["minimum"] = 1 if extra.json_type == "integer" else 0
        hint = "Required." if extra.required else "Optional."
        if extra.default is not None:  # only numbers have one
            hint += f" {extra.default:g} when empty."
        form[extra.name] = {
            "label": extra.label,
            "description": f"{hint} {extra.description}",
            "schema": schema,
        }
    return form


def extras_rows() -> list[tuple[str, str, str, str, str]]:
    """The extras for the docs: (name, label, type, default, description)."""
    return [
        (
            extra.name,
            extra.label,
            extra.json_type,
            "required" if extra.required else "" if extra.default is None else f"{extra.default:g}",
            extra.description,
        )
        for extra in CONNECTION_EXTRAS
    ]
