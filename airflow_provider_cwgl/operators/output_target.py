"""Turn the operator's ``output_file`` into an output target: a local file or Airflow object storage."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_cwgl.blank import is_blank
from airflow_provider_cwgl.errors import NotOnThisWorkerError, OutputStoreError, OutputStoreUnavailable
from airflow_provider_cwgl.glexport.documents import DOCUMENTS_SUFFIX
from airflow_provider_cwgl.glexport.output import LocalOutput
from airflow_provider_cwgl.glexport.request import ExportSettingError
from airflow_provider_cwgl.glexport.summary import IDS_SUFFIX
from airflow_provider_cwgl.output_settings import conn_id_or_none

LOCAL_SCHEMES = ("", "file", "local")
# The extra that brings each object-storage scheme's filesystem.
EXTRA_FOR_SCHEME = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "abfs": "azure",
    "abfss": "azure",
    "adl": "azure",
}
# Exception class names (anywhere in the class's MRO) that say the store refuses this connection
# or lacks the bucket/container: botocore's NoCredentialsError and ClientError codes as s3fs maps
# them, google-auth's DefaultCredentialsError, azure-core's ClientAuthenticationError and
# ResourceNotFoundError. Retrying cannot fix any of them.
_REFUSALS = (
    "Credential",
    "Authentication",
    "Authoriz",
    "NotFound",
    "NoSuchBucket",
    "AccessDenied",
    "Forbidden",
)

log = logging.getLogger(__name__)


def _is_refusal(exc: BaseException) -> bool:
    if isinstance(exc, (PermissionError, FileNotFoundError, NotADirectoryError)):
        return True
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    if status in (401, 403, 404):
        return True
    return any(word in cls.__name__ for cls in type(exc).__mro__ for word in _REFUSALS)


class ObjectStorageOutput:
    """An object-storage URL (``s3://``, ``gs://``, ``abfs://``). The file is written to this
    worker's temporary folder first and uploaded whole, so the object appears only when complete."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def describe(self) -> str:
        return str(self.path)

    def check(self) -> None:
        """Prove, before any ConnectWise request, that this worker's temporary folder takes the
        staged file and that the store takes an object beside the target with this connection: a
        probe object is created and removed. Never creates a bucket or container.

        Raises ``OutputStoreError`` when the store refuses (permanent), ``OutputStoreUnavailable``
        for other failures (the store unreachable, a timeout), which the task's retries cover."""
        fd, probe = tempfile.mkstemp(prefix="cwgl-upload-", suffix=".xml")
        os.close(fd)
        os.unlink(probe)
        probe_key = f"{self.path.path}.cwgl-probe-{secrets.token_hex(4)}"
        fs = self.path.fs
        try:
            fs.pipe_file(probe_key, b"")
            fs.rm_file(probe_key)
        except Exception as exc:
            conn_id = getattr(self.path, "conn_id", None)
            if not _is_refusal(exc):
                raise OutputStoreUnavailable(
                    f"output_file: could not reach the store for {self.url()} with {_connection(conn_id)}: "
                    f"{type(exc).__name__}: {_first_line(exc)}"
                ) from exc
            raise OutputStoreError(
                "output_file/output_conn_id",
                f"the store refuses a probe object beside {self.url()} with {_connection(conn_id)}"
                f": {type(exc).__name__}: {_first_line(exc)}. Check that the bucket or container "
                "exists (it is never created) and that the connection may write and delete there",
            ) from exc

    def url(self) -> str:
        """The object's URL without the connection id."""
        return f"{self.path.protocol}://{self.path.path}"

    def sibling(self, suffix: str) -> ObjectStorageOutput:
        """The object beside this one named this one's key plus ``suffix`` (the GL entry ids file)."""
        return ObjectStorageOutput(ObjectStoragePath(str(self.path) + suffix))

    @contextmanager
    def open(self) -> Iterator[IO[bytes]]:
        fd, tmp = tempfile.mkstemp(prefix="cwgl-upload-", suffix=".xml")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            log.info("Uploading %s: %d bytes staged in %s", self.url(), os.path.getsize(tmp), tmp)
            # No mkdir: object stores have no folders, and s3fs would create a missing bucket.
            # put_file uploads in one request or one multipart upload that completes only at the end.
            self.path.fs.put_file(tmp, self.path.path)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp)


def _connection(conn_id: str | None) -> str:
    return f"connection {conn_id!r}" if conn_id else "no connection (the worker's ambient credentials)"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "(no message)"


# Filesystems that exist only inside this worker process: the file would vanish with the task.
PROCESS_LOCAL_SCHEMES = ("memory",)


def resolve_file_path(location: Any, conn_id: str | None, setting: str) -> str | ObjectStoragePath:
    """The file a setting names (the output, or an export to read): a local path (``/x``, ``~/x``,
    ``file:///x``) as a plain absolute string (``~`` expanded), or an object-storage path.

    Rejected, naming ``setting``: None, an empty string, ``"None"``/``"null"`` (what a template
    renders from an empty value), a NUL byte, and a relative local path (the worker's working
    directory is not a place anyone would look for the file; give an absolute path or ``~/…``).
    An empty ``conn_id`` (``""``, ``"None"``: a template's rendering of none) means no connection.
    """
    conn_id = conn_id_or_none(conn_id)
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


def output_target(output_file: Any, output_conn_id: str | None = None) -> LocalOutput | ObjectStorageOutput:
    """Validate ``output_file`` and say where it goes, before any request is made.

    Local: the folder is created and a temporary file is created and removed there (the name
    fits, the folder is writable). Object storage: its filesystem must be installed (``s3://``
    needs the ``[s3]`` extra, ``gs://`` ``[gcs]``, ``abfs://`` ``[azure]``), the local folder for
    the upload's temporary file writable, and a probe object beside the target (and beside its
    ids file) created and removed with ``output_conn_id``.
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
                f"cannot reach {store.url()} with {_connection(conn_id_or_none(output_conn_id))}: "
                f"{type(exc).__name__}: {_first_line(exc)}",
            ) from exc
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
def open_for_reading(
    location: Any, conn_id: str | None = None, setting: str = "export_file"
) -> Iterator[IO[bytes]]:
    """Open an earlier export (local path, ``file://`` or object-storage URL) for reading.

    A local file that is not there raises ``NotOnThisWorkerError``: where workers share no disk,
    the task that wrote it most likely ran on another worker."""
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
