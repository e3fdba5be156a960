"""Where an export goes. Plain Python, importable without Airflow (the exporter writes through it):
``OutputTarget`` (what the exporter needs of a destination), ``HashingWriter`` (counts and hashes the
bytes on their way) and ``local.LocalOutput`` (a file on this machine, replaced in one rename).

The Airflow half, for the operators and DAGs: ``objectstore.ObjectStorageOutput`` (an object-storage
URL through Airflow's ``ObjectStoragePath``) and ``resolve`` (an ``output_file`` / ``export_file``
setting made one of the two, checked before any ConnectWise request, or an earlier export opened).
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
