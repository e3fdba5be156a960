"""Turn a file setting (``output_file``, ``export_file``) into a local path or an object-storage
path, checked before any ConnectWise request: the output target to write, or a file to read."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_cwgl.blank import is_blank, text_or_none
from airflow_provider_cwgl.errors import ExportSettingError, NotOnThisWorkerError, OutputStoreError
from airflow_provider_cwgl.output.local import LocalOutput
from airflow_provider_cwgl.output.objectstore import ObjectStorageOutput, describe_connection, first_line

LOCAL_SCHEMES = ("", "file", "local")
# The extra that brings each object-storage scheme's filesystem.
EXTRA_FOR_SCHEME = dict(s3="s3", s3a="s3", gs="gcs", gcs="gcs", abfs="azure", abfss="azure", adl="azure")
# Filesystems that exist only inside this worker process: the file would vanish with the task.
PROCESS_LOCAL_SCHEMES = ("memory",)


def resolve_file_path(location: Any, conn_id: str | None, setting: str) -> str | ObjectStoragePath:
    """The file a setting names (the output, or an export to read): a local path (``/x``, ``~/x``,
    ``file:///x``) as an absolute string (``~`` expanded), or an object-storage path. A blank
    (``blank.is_blank``), a NUL byte or a relative local path is refused, naming ``setting``; a
    blank ``conn_id`` means no connection.
    """
    conn_id = text_or_none(conn_id)
    if isinstance(location, ObjectStoragePath):
        path = location
    elif isinstance(location, (str, os.PathLike)) and str(location).strip():
        text = str(location).strip()
        if is_blank(text):
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


def output_target(
    output_file: Any, output_conn_id: str | None = None, beside: Sequence[str] = ()
) -> LocalOutput | ObjectStorageOutput:
    """Validate ``output_file`` and say where it goes, before any request is made, by the target's
    ``check`` for it and for each file beside it (``beside``: their suffixes, whose longer names must
    fit too). Object storage needs its filesystem installed (``s3://`` the ``[s3]`` extra, ``gs://``
    ``[gcs]``, ``abfs://`` ``[azure]``) and a client made from ``output_conn_id``.
    """
    location = resolve_file_path(output_file, output_conn_id, "output_file")
    if isinstance(location, ObjectStoragePath):
        store = ObjectStorageOutput(location)
        target: LocalOutput | ObjectStorageOutput = store
        try:
            location.fs  # noqa: B018 - loads the filesystem: raises when its package is missing
        except Exception as exc:
            if isinstance(exc, ImportError) or "No filesystem registered" in str(exc):
                name = EXTRA_FOR_SCHEME.get(location.protocol)
                extra = f" (install 'airflow-provider-cwgl[{name}]')" if name else ""
                raise ExportSettingError(
                    "output_file", f"cannot use {str(location)!r}: {exc}{extra}"
                ) from exc
            # The filesystem is there but the connection cannot make a client (no credentials, a
            # bad key file, a missing account name).
            raise OutputStoreError(
                "output_file/output_conn_id",
                f"cannot reach {store.url()} with {describe_connection(text_or_none(output_conn_id))}: "
                f"{type(exc).__name__}: {first_line(exc)}",
            ) from exc
    else:
        target = LocalOutput(location)
    try:
        target.check()
        for suffix in beside:
            target.sibling(suffix).check()
    except OSError as exc:
        raise ExportSettingError("output_file", f"cannot write {target.describe()}: {exc}") from exc
    return target


@contextmanager
def open_for_reading(
    location: Any, conn_id: str | None = None, setting: str = "export_file"
) -> Iterator[IO[bytes]]:
    """Open an earlier export (local path, ``file://`` or object-storage URL) for reading; a local
    file that is not there is a ``NotOnThisWorkerError`` (it was likely written on another worker)."""
    resolved = resolve_file_path(location, conn_id, setting)
    if isinstance(resolved, ObjectStoragePath):
        # Airflow leaves ObjectStoragePath.open unannotated; it returns a binary file object.
        with resolved.open("rb") as handle:  # type: ignore[no-untyped-call]
            yield handle
        return
    try:
        handle = open(resolved, "rb")  # noqa: SIM115 - closed by the with below; only the open is guarded
    except FileNotFoundError as exc:
        raise NotOnThisWorkerError(setting, resolved) from exc
    with handle:
        yield handle


def sha256_of(source: IO[bytes]) -> str:
    """The SHA-256 (hex) of what is left to read in ``source``, read 1 MiB at a time."""
    digest = hashlib.sha256()
    while chunk := source.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()
