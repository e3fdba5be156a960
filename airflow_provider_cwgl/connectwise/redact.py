"""Redaction of credentials from text a server sent us or that we are about to show.

Airflow's secrets masker replaces whole secrets only, but an error page that echoes the request's
headers, cut to a length, carries most of a key, and may carry it base64- or URL-encoded.
``Redactor`` removes, before text reaches an exception, a log, the connection test's message or XCom:

- ``Authorization`` / ``Proxy-Authorization`` header echoes and ``Basic``/``Bearer`` credentials;
- any run of ``FRAGMENT_LENGTH`` (8) characters of a secret (the private key, the client id, the
  ``company+public:private`` pair, its Basic value), case-insensitively, or of its URL-encoded or
  base64 forms (at every byte alignment, so a key inside a longer encoded value is found too). A
  secret shorter than 8 characters is matched whole.

``RedactTrace`` does it to what httpcore logs at DEBUG of the client's own requests, through
httpcore's per-request ``trace`` extension: no filter is put on any library's logger.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

FRAGMENT_LENGTH = 8
REDACTED = "[redacted]"

# A header echo: the name, a separator, and the value: an optional scheme word and one token.
_HEADER_ECHO = re.compile(
    r"""(?ix)
    (?P<name>(?:proxy[-_])?authori[sz]ation|cookie|x-api-key)
    (?P<sep>["']?[ \t]*[:=][ \t]*["']?)
    (?:[a-z]+[ \t]+)?[^\s"'<>,;}]+
    """
)
_SCHEME_CREDENTIAL = re.compile(
    r"\b(?P<scheme>Basic|Bearer|Digest|basic|bearer)\s+(?P<token>[A-Za-z0-9+/=._~%-]{12,})"
)
# A token, not a word: something other than lowercase letters after its first character.
_TOKEN_LIKE = re.compile(r".+[^a-z]")


def encoded_forms(secret: str) -> set[str]:
    """The secret, its URL-encoded form, and its base64 at the three byte alignments.

    Base64 of a secret preceded by 0, 1 or 2 other bytes differs; the characters at each edge
    depend on the neighbours, so they are dropped and the stable middle is kept.
    """
    forms = {secret, quote(secret, safe=""), quote(secret, safe="/")}
    raw = secret.encode()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode().rstrip("=")
        # Characters before ceil(8 * shift / 6) carry the preceding bytes; the last may carry the next.
        stable = encoded[(shift * 8 + 5) // 6 :]
        forms.update((stable, stable[:-1]))
    return {f for f in forms if f}


class Redactor:
    """Removes fragments of the given secrets (and their encodings) and header echoes from text."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._grams: dict[int, set[str]] = {}
        for secret in secrets:
            if not secret:
                continue
            for form in encoded_forms(secret):
                size = min(FRAGMENT_LENGTH, len(form))
                if size < 4:  # too short to tell apart from ordinary text
                    continue
                grams = self._grams.setdefault(size, set())
                folded = form.casefold()
                grams.update(folded[i : i + size] for i in range(len(folded) - size + 1))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        text = _HEADER_ECHO.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)
        text = _SCHEME_CREDENTIAL.sub(
            lambda m: f"{m['scheme']} {REDACTED}" if _TOKEN_LIKE.match(m["token"]) else m[0], text
        )
        # The positions must match the text's: when casefold() changes lengths ('ß'), lower(), else as is.
        folded = next((f for f in (text.casefold(), text.lower()) if len(f) == len(text)), text)
        hits = bytearray(len(text))
        for size, grams in self._grams.items():
            for i in range(len(folded) - size + 1):
                if folded[i : i + size] in grams:
                    hits[i : i + size] = b"\1" * size
        out: list[str] = []
        end = 0
        for run in re.finditer(rb"\x01+", hits):  # one REDACTED a run of hit characters
            out += (text[end : run.start()], REDACTED)
            end = run.end()
        return "".join(out) + text[end:]


NO_SECRETS = Redactor(())


class _Text(str):
    def __repr__(self) -> str:
        return str(self)


class RedactTrace:
    """httpcore's ``trace`` extension: httpcore hands each step's outcome to this hook, then logs
    that same ``info`` at DEBUG; the outcome (a response head, an error) is redacted in place."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact

    def __call__(self, name: str, info: dict[str, Any]) -> None:
        # Only the outcomes: a step's ``started`` info is also the arguments httpcore calls it with.
        for key in ("return_value", "exception"):
            if info.get(key) is not None:
                info[key] = _Text(self.redact(repr(info[key])))
