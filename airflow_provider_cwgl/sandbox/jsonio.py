"""The sandbox's JSON writer, with exact decimals as ConnectWise sends money (``12.50`` stays ``12.50``).

Reading uses the client's ``connectwise.jsonbody.loads``: the same exact decimals, and ``NaN`` /
``Infinity`` refused, as ConnectWise itself refuses them in a request body.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_MARK = "\x00dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``json.dumps`` that writes a ``Decimal`` as the JSON number it spells, digit for digit."""
    text = json.dumps(value, default=_mark_decimal, indent=indent, ensure_ascii=False)
    return _MARKED.sub(r"\1", text)


def _mark_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _MARK + format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
