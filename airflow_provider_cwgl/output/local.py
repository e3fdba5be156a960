"""A file on this machine, written atomically: a failed run leaves no partial or damaged file."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


class LocalOutput:
    """A file on this machine, replaced in one ``os.replace`` from a sibling temporary file.

    Permissions: a new file gets the mode a plain write would give it (``0666 & ~umask``, so 0644
    under umask 022), and a replaced file keeps the mode it had (a chmod by its reader survives the
    next run), as a plain overwrite would; ``mkstemp``'s 0600 is never left behind.

    Leftovers: the temporary file is ``.<name>.<random>.partial`` and is locked (``flock``) while
    written. A run killed mid-write leaves it; the next run for the same target removes such files
    when no one holds their lock and they are older than ``STALE_PARTIAL_SECONDS`` (the age guards
    the instant between creating a file and locking it, and filesystems where locks are not shared).
    """

    STALE_PARTIAL_SECONDS = 60.0

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser().absolute()

    def describe(self) -> str:
        return str(self.path)

    @property
    def _prefix(self) -> str:
        return f".{self.path.name}."

    def sibling(self, suffix: str) -> LocalOutput:
        """The file beside this one named this one's name plus ``suffix`` (the documents file)."""
        return LocalOutput(self.path.with_name(self.path.name + suffix))

    def check(self) -> None:
        """Create the folder and prove a temporary file can be created there (so the name fits and
        the folder is writable), before any request; raises OSError with the reason."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a directory")
        try:
            fd, probe = tempfile.mkstemp(dir=self.path.parent, prefix=self._prefix, suffix=".partial")
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            limit = 255
            with suppress(OSError, ValueError):
                limit = os.pathconf(self.path.parent, "PC_NAME_MAX")
            raise OSError(
                exc.errno,
                f"the file name is too long: {len(os.fsencode(self.path.name))} bytes, and the temporary "
                f"file beside it needs {len(os.fsencode(self._prefix)) + 8 + len('.partial')}; the "
                f"limit here is {limit}",
            ) from exc
        os.close(fd)
        os.unlink(probe)
        self._remove_stale_partials()

    def _remove_stale_partials(self) -> None:
        """Delete temporary files of this target left by killed runs."""
        removed: list[str] = []
        now = time.time()
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:  # a folder we may write but not list
            return
        for entry in entries:
            if not (entry.name.startswith(self._prefix) and entry.name.endswith(".partial")):
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                if now - os.fstat(fd).st_mtime < self.STALE_PARTIAL_SECONDS:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live run is writing it
                with suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
            finally:
                os.close(fd)
        if removed:
            log.info("Removed %d leftover temporary file(s) of interrupted runs: %s", len(removed), removed)

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        self.check()
        try:
            mode = stat.S_IMODE(os.stat(self.path).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self._prefix, suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                yield handle
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
                os.replace(tmp, self.path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask() sets it too,
    which races with other threads creating files)."""
    with suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
