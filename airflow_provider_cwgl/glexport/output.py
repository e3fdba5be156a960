"""Where the XML goes: written atomically, so a failed run leaves no partial or damaged file."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Protocol


class OutputTarget(Protocol):
    def open(self) -> Iterator[IO[bytes]]:
        """A context manager: what is written appears at the target only if the block succeeds."""
        ...

    def describe(self) -> str: ...


class LocalOutput:
    """A file on this machine, replaced in one ``os.replace`` from a sibling temporary file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()

    def describe(self) -> str:
        return str(self.path)

    def sibling(self, suffix: str) -> LocalOutput:
        """The file beside this one named this one's name plus ``suffix`` (the GL entry ids file)."""
        return LocalOutput(self.path.with_name(self.path.name + suffix))

    def check(self) -> None:
        """Create the folder and make sure we can write there; raises OSError with the reason."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory")
        if not os.access(self.path.parent, os.W_OK):
            raise PermissionError(f"cannot write in {self.path.parent}")

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        self.check()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


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
