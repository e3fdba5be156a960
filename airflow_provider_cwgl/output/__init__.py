"""Where an export goes: the output target protocol and its implementations.

Plain Python, importable without Airflow (the exporter in ``glexport`` writes through it):

- ``OutputTarget``: what the exporter needs of a destination (open it atomically, name it, and
  name the files beside it);
- ``local.LocalOutput``: a file on this machine, replaced in one rename;
- ``HashingWriter``: counts and hashes the bytes on their way to a target.

The Airflow half, used by the operators and the DAGs:

- ``objectstore.ObjectStorageOutput``: an object-storage URL through Airflow's ``ObjectStoragePath``;
- ``resolve``: turns an ``output_file`` / ``export_file`` setting into one of the two, checked
  before any ConnectWise request, and opens an earlier export for reading.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from typing import IO, Protocol


class OutputTarget(Protocol):
    def open(self) -> AbstractContextManager[IO[bytes]]:
        """A context manager: what is written appears at the target only if the block succeeds."""
        ...

    def describe(self) -> str: ...

    def sibling(self, suffix: str) -> OutputTarget:
        """The target beside this one, named this one's name plus ``suffix`` (the documents file)."""
        ...


class HashingWriter:
    """Counts and hashes what passes through to ``target``."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()
