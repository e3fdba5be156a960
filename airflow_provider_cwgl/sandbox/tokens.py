"""The token reader the sandboxes' query languages share (ConnectWise ``conditions``, Xero ``where``)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any


class TokenReader:
    """``text`` cut into ``(kind, text)`` tokens by ``pattern``'s named groups, read front to back.
    A group named ``bad`` (any character nothing else reads) stops the scan with ``error``."""

    def __init__(self, pattern: re.Pattern[str], text: str, error: type[Exception], language: str) -> None:
        self.error = error
        self.language = language
        self.position = 0
        self.tokens: list[tuple[str, str]] = []
        for match in pattern.finditer(text):
            kind = match.lastgroup or ""
            if kind == "bad":
                raise error(f"cannot read {language} near {text[match.start() : match.start() + 20]!r}")
            self.tokens.append((kind, match.group(kind)))

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.error(f"{self.language} end too early")
        self.position += 1
        return token


def quoted_or_number(kind: str, text: str) -> Any:
    """A ``string`` token's text unquoted, a ``number`` token's value; None for other kinds."""
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "number":
        return Decimal(text)
    return None
