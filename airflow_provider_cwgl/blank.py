"""The one rule for a setting left empty, when it arrives as text.

A template renders an empty value as ``"None"`` (or ``""``), JSON as ``"null"``, and a form leaves
blanks in an emptied text field; a DAG rendering natively passes None itself. Every optional
setting reads all of these as "not given".
"""

from __future__ import annotations

from typing import Any

BLANK_TEXTS = frozenset({"", "none", "null"})


def is_blank(value: Any) -> bool:
    """None, or text that is empty, whitespace, ``"None"`` or ``"null"`` (any case)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in BLANK_TEXTS)


def text_or_none(value: Any) -> str | None:
    """The setting's text, stripped, or None when it is blank (a connection id, an output root)."""
    return None if is_blank(value) else str(value).strip()
