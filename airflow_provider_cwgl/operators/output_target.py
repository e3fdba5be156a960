"""Turn the operator's ``output_file`` into an output target: a local file or Airflow object storage."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_cwgl.glexport.documents import DOCUMENTS_SUFFIX
from airflow_provider_cwgl.glexport.output import LocalOutput
from airflow_provider_cwgl.glexport.request import ExportSettingError
from airflow_provider_cwgl.glexport.summary import IDS_SUFFIX

LOCAL_SCHEMES = ("", "file", "local")


class ObjectStorageOutput:
    """An object-storage URL (``s3://...``). The file is written locally first and uploaded whole,
    so the object appears only when complete."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def describe(self) -> str:
        return str(self.path)

    def check(self) -> None:
        """The upload is written to a local temporary file first: that folder must be writable."""
        fd, probe = tempfile.mkstemp(prefix="cwgl-upload-", suffix=".xml")
        os.close(fd)
        os.unlink(probe)

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


# Filesystems that exist only inside this worker process: the file would vanish with the task.
PROCESS_LOCAL_SCHEMES = ("memory",)


def resolve_file_path(location: Any, conn_id: str | None, setting: str) -> str | ObjectStoragePath:
    """The file a setting names (the output, or an export to read): a local path (``/x``, ``~/x``,
    ``file:///x``) as a plain absolute string (``~`` expanded), or an object-storage path.

    Rejected, naming ``setting``: None, an empty string, ``"None"``/``"null"`` (what a template
    renders from an empty value), a NUL byte, and a relative local path (the worker's working
    directory is not a place anyone would look for the file; give an absolute path or ``~/…``).
    """
    if isinstance(location, ObjectStoragePath):
        path = location
    elif isinstance(location, (str, os.PathLike)) and str(location).strip():
        text = str(location).strip()
        if text.lower() in ("none", "null"):
            raise ExportSettingError(
                setting,
                f"got the text {text!r}, which is what a template renders from an empty value, not a file "
                "name; give a file path or URL",
            )
        if "\0" in text:
            raise ExportSettingError(setting, f"contains a NUL byte, which no file name can: {text!r}")
        scheme = urlsplit(text).scheme if "://" in text else ""
        if scheme in LOCAL_SCHEMES:
            local = os.path.expanduser(text.split("://", 1)[1] if scheme else text)
            if not os.path.isabs(local):
                raise ExportSettingError(
                    setting,
                    f"{text!r} is a relative path; give an absolute path (or ~/…): a relative one would land "
                    "in the worker's working directory",
                )
            return local
        if scheme in PROCESS_LOCAL_SCHEMES:
            raise ExportSettingError(
                setting, f"{text!r} is in this worker's memory and would vanish when the task ends"
            )
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
    """Validate ``output_file`` and say where it goes, before any request is made.

    Local: the folder is created and a temporary file is created and removed there (the name
    fits, the folder is writable). Object storage: its filesystem must be installed (``s3://``
    needs the ``[s3]`` extra) and the local folder for the upload's temporary file writable.
    """
    location = resolve_file_path(output_file, output_conn_id, "output_file")
    if isinstance(location, ObjectStoragePath):
        try:
            location.fs  # noqa: B018 - loads the filesystem: raises when its package is missing
        except Exception as exc:
            extra = " (install 'airflow-provider-cwgl[s3]')" if location.protocol in ("s3", "s3a") else ""
            raise ExportSettingError("output_file", f"cannot use {str(location)!r}: {exc}{extra}") from exc
        target: LocalOutput | ObjectStorageOutput = ObjectStorageOutput(location)
    else:
        target = LocalOutput(location)
    try:
        target.check()
        # The files beside it have longer names: they must fit as well.
        target.sibling(IDS_SUFFIX).check()
        target.sibling(DOCUMENTS_SUFFIX).check()
    except OSError as exc:
        raise ExportSettingError("output_file", f"cannot write {target.describe()}: {exc}") from exc
    return target


@contextmanager
def open_for_reading(location: Any, conn_id: str | None = None) -> Iterator[IO[bytes]]:
    """Open an earlier export (local path, ``file://`` or object-storage URL) for reading."""
    resolved = resolve_file_path(location, conn_id, "export_file")
    with resolved.open("rb") if isinstance(resolved, ObjectStoragePath) else open(resolved, "rb") as handle:
        yield handle
