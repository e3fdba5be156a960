"""Turn the operator's ``output_file`` into an output target: a local file or Airflow object storage."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_cwgl.glexport.output import LocalOutput
from airflow_provider_cwgl.glexport.request import ExportSettingError

LOCAL_SCHEMES = ("", "file", "local")


class ObjectStorageOutput:
    """An object-storage URL (``s3://...``). The file is written locally first and uploaded whole,
    so the object appears only when complete."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def describe(self) -> str:
        return str(self.path)

    def sibling(self, suffix: str) -> ObjectStorageOutput:
        """The object beside this one named this one's key plus ``suffix`` (the GL entry ids file)."""
        return ObjectStorageOutput(ObjectStoragePath(str(self.path) + suffix))

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        fd, tmp = tempfile.mkstemp(prefix="cwgl-upload-", suffix=".xml")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            # No mkdir: object stores have no folders, and s3fs would create a missing bucket.
            # put_file uploads in one request or one multipart upload that completes only at the end.
            self.path.fs.put_file(tmp, self.path.path)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp)


def resolve_location(location: Any, conn_id: str | None, setting: str) -> str | ObjectStoragePath:
    """A local path (``/x``, ``file:///x``) as a plain string, or an object-storage path."""
    if isinstance(location, ObjectStoragePath):
        path = location
    elif isinstance(location, (str, os.PathLike)) and str(location).strip():
        text = str(location).strip()
        scheme = urlsplit(text).scheme if "://" in text else ""
        if scheme in LOCAL_SCHEMES:
            return text.split("://", 1)[1] if scheme else text
        try:
            path = ObjectStoragePath(text, conn_id=conn_id)
        except Exception as exc:  # an unknown scheme or a missing filesystem package
            raise ExportSettingError(
                setting, f"cannot use {text!r}: {exc} (a local path, file://, or an object-storage URL)"
            ) from exc
    else:
        raise ExportSettingError(setting, f"expected a file path or URL, got {location!r}")
    return path.path if path.protocol in LOCAL_SCHEMES else path


def output_target(output_file: Any, output_conn_id: str | None = None) -> LocalOutput | ObjectStorageOutput:
    """Validate ``output_file`` and say where it goes, before any request is made."""
    location = resolve_location(output_file, output_conn_id, "output_file")
    if isinstance(location, ObjectStoragePath):
        return ObjectStorageOutput(location)
    local = LocalOutput(location)
    try:
        local.check()
    except OSError as exc:
        raise ExportSettingError("output_file", f"cannot write {local.describe()}: {exc}") from exc
    return local


@contextmanager
def open_for_reading(location: Any, conn_id: str | None = None) -> Iterator[IO[bytes]]:
    """Open an earlier export (local path, ``file://`` or object-storage URL) for reading."""
    resolved = resolve_location(location, conn_id, "export_file")
    with resolved.open("rb") if isinstance(resolved, ObjectStoragePath) else open(resolved, "rb") as handle:
        yield handle
