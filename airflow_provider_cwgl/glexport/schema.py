"""The GLExport model as ConnectWise's OpenAPI spec (2025.8) declares it.

``glexport-schema.json`` is extracted from ConnectWise Manage's public OpenAPI description (the
``cw-api.json`` of github.com/ai-connor/connectwise, "Connectwise Manage Public Endpoints", version
2025.8; ConnectWise publishes the API at developer.connectwise.com): for every ``GLExport*`` model,
its properties in schema order as ``[name, type, nullable, ref]``, where ``nullable`` is the
property's ``"nullable": true``. The writer uses it only to decide how a JSON null is written and
which model a nested object follows; field order always comes from the data ConnectWise sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, TypeGuard

# The ConnectWise API version this provider is verified against (its GLExport models are the same in
# 2025.1 and 2025.8; the records References To Fetch reads are checked against 2025.1's).
API_VERSION = "2025.1"


def is_record_id(value: Any) -> TypeGuard[int]:
    """A ConnectWise record id as GLExport JSON carries it: an integer (``True`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    nullable: bool
    ref: str | None

    @property
    def is_string(self) -> bool:
        return self.type.startswith("string")

    @property
    def model(self) -> str | None:
        """The model an object or array-of-object field holds."""
        if self.ref and not self.ref.startswith(("items:", "additionalProperties:")):
            return self.ref
        return None


@cache
def models() -> dict[str, dict[str, Field]]:
    raw = json.loads(resources.files(__package__).joinpath("glexport-schema.json").read_text("utf-8"))
    return {model: {row[0]: Field(*row) for row in rows} for model, rows in raw.items()}


def field(model: str | None, name: str) -> Field | None:
    if model is None:
        return None
    return models().get(model, {}).get(name)


# Root collections of GLExport, in schema order, and the element each item is written as.
ROOT_COLLECTIONS: dict[str, str] = {
    "vendors": "vendor",
    "customers": "customer",
    "transactions": "transaction",
    "expenses": "expense",
    "expenseBills": "expenseBill",
    "purchaseTransactions": "purchaseTransaction",
    "adjustmentTransactions": "adjustmentTransaction",
    "inventoryTransfers": "inventoryTransfer",
}

# Collections whose item name is not the plural minus "s" (from the Zynk samples the spec shows).
_ITEM_NAMES: dict[str, str] = {
    **ROOT_COLLECTIONS,
    "detail": "detailItem",
    "purchaseDetail": "purchaseDetailItem",
    "purchaseDetailTax": "purchaseDetailTaxItem",
    "adjustmentDetail": "adjustmentDetailItem",
    "taxLevels": "taxLevel",
    "agreementAdditions": "agreementAddition",
    "purchaseOrderItems": "purchaseOrderItem",
}


def item_name(collection: str) -> str:
    """The element name of one item of a collection: ``customers`` -> ``customer``."""
    if collection in _ITEM_NAMES:
        return _ITEM_NAMES[collection]
    if collection.endswith("ies") and len(collection) > 3:
        return collection[:-3] + "y"
    if collection.endswith("s") and len(collection) > 1:
        return collection[:-1]
    return collection + "Item"
