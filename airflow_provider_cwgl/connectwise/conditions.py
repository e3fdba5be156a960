"""Values inside ConnectWise ``conditions`` query strings (``batchIdentifier = "cwgl-20260301-I"``).

ConnectWise's developer guide: text goes in double quotes, numbers and ``True`` / ``False`` bare. A
quote or backslash inside text is escaped with a backslash, so an identifier or a document number
holding one (``Smith "Jr" & Co``) cannot end the string early and change the query.
"""

from __future__ import annotations

from typing import Any


def condition_literal(value: Any) -> str:
    """``value`` as a ConnectWise ``conditions`` value, quoted and escaped as the module says."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
