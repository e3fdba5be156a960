"""JSON as ConnectWise's money needs it: every non-integer read as an exact ``Decimal``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Parse JSON, non-integers as ``Decimal``. ``NaN`` and ``Infinity`` are rejected, as the
    export's parser rejects them (a malformed body); lone surrogates load as such (the XML writer
    removes and counts them)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig", "surrogatepass")
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
