"""An object-storage URL (``s3://``, ``gs://``, ``abfs://``) as an output target, through Airflow's
``ObjectStoragePath`` and the connection it carries."""

from __future__ import annotations

import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

from airflow.sdk import ObjectStoragePath

from airflow_provider_cwgl.errors import OutputStoreError, OutputStoreUnavailable

log = logging.getLogger(__name__)

# Exception class names (anywhere in the class's MRO) that say the store refuses this connection
# or lacks the bucket/container: botocore's NoCredentialsError and ClientError codes as s3fs maps
# them, google-auth's DefaultCredentialsError, azure-core's ClientAuthenticationError and
# ResourceNotFoundError. Retrying cannot fix any of them.
_REFUSALS = re.compile("Credential|Authentication|Authoriz|NotFound|NoSuchBucket|AccessDenied|Forbidden")


def _is_refusal(exc: BaseException) -> bool:
    if isinstance(exc, (PermissionError, FileNotFoundError, NotADirectoryError)):
        return True
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    if status in (401, 403, 404):
        return True
    return any(_REFUSALS.search(cls.__name__) for cls in type(exc).__mro__)


class ObjectStorageOutput:
    """An object-storage URL (``s3://``, ``gs://``, ``abfs://``). The file is written to this
    worker's temporary folder first and uploaded whole, so the object appears only when complete."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path

    def describe(self) -> str:
        return str(self.path)

    def check(self) -> None:
        """Prove, before any ConnectWise request, that this worker's temporary folder takes the
        staged file and that the store takes a probe object beside the target (created, removed;
        never a bucket): ``OutputStoreError`` when the store refuses, else ``OutputStoreUnavailable``."""
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
                    f"output_file: could not reach the store for {self.url()} with {describe_connection(conn_id)}: "
                    f"{type(exc).__name__}: {first_line(exc)}"
                ) from exc
            raise OutputStoreError(
                "output_file/output_conn_id",
                f"the store refuses a probe object beside {self.url()} with {describe_connection(conn_id)}"
                f": {type(exc).__name__}: {first_line(exc)}. Check that the bucket or container "
                "exists (it is never created) and that the connection may write and delete there",
            ) from exc

    def url(self) -> str:
        """The object's URL without the connection id."""
        return f"{self.path.protocol}://{self.path.path}"

    def sibling(self, suffix: str) -> ObjectStorageOutput:
        """The object beside this one named this one's key plus ``suffix`` (the documents file)."""
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


def describe_connection(conn_id: str | None) -> str:
    return f"connection {conn_id!r}" if conn_id else "no connection (the worker's ambient credentials)"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "(no message)"
