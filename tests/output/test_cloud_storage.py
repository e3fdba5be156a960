"""Every major cloud's object storage through Airflow's ObjectStoragePath, each against a local
emulator on loopback, with its credentials only in an Airflow connection (``AIRFLOW_CONN_…``):

- S3: moto's server (``[s3]`` extra);
- Google Cloud Storage: gcp-storage-emulator (``[gcs]`` extra; the ``cloud-test`` group);
- Azure Blob Storage: Azurite from npm (``[azure]`` extra; ``make azurite`` installs it).

For each: the export and its GL entry ids object land beside each other, a failed run keeps the
previous object, the asset URI and lineage name the object without the connection, the batch step
reads back through the connection, and the preflight refuses a missing bucket or bad credentials
before any ConnectWise request, in one try. Without a cloud's packages its tests skip, saying why
(the lowest-Airflow venv installs only ``[s3]``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from conftest import CLOSED_PORT_S3_CONNECTION, REPO, fails_task

from airflow_provider_cwgl.errors import ConnectWiseError, ElementNameError, OutputStoreError
from airflow_provider_cwgl.operators.gl_batch import GLBatchCreateOperator
from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator
from airflow_provider_cwgl.sandbox import Sandbox

# gcsfs's default file system first asks a gRPC endpoint whether a bucket is zonal, which an
# emulator does not serve (a 60 s timeout per bucket); set before gcsfs is first imported.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

AZURITE = REPO / ".azurite" / "node_modules" / ".bin" / "azurite-blob"
BUCKET = "gl-exports"
# Azurite's documented development account: public, and accepted only by the emulator.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WRONG_AZURITE_KEY = AZURITE_KEY[:-12] + "AAAAAAAAAAA="
KEY = "gl/2026-03-01/glexport.xml"
DOCS_KEY = KEY + ".gl-docs.jsonl"  # which GL entry ids belong to which document


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _missing(*modules: str) -> str | None:
    absent = [m for m in modules if not _installed(m)]
    return f"needs {', '.join(absent)}" if absent else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


@dataclass
class Store:
    """One emulated object store: a URL scheme, a bucket behind a connection, an independent
    client (an fsspec filesystem built from the emulator's own credentials, not from Airflow) to
    check what landed, and a connection with wrong credentials where the emulator checks them."""

    name: str
    scheme: str
    conn_id: str
    raw: Any
    bad_conn_id: str | None = None
    secrets: list[str] = field(default_factory=list)
    auth_on: Callable[[], None] | None = None
    auth_off: Callable[[], None] | None = None

    def url(self, key: str, bucket: str = BUCKET) -> str:
        return f"{self.scheme}://{bucket}/{key}"

    def keys(self) -> list[str]:
        self.raw.invalidate_cache()
        found = self.raw.find(BUCKET)
        return sorted(p.split("/", 1)[1] for p in found)

    def read(self, key: str) -> bytes:
        self.raw.invalidate_cache()
        return bytes(self.raw.cat_file(f"{BUCKET}/{key}"))

    def put(self, key: str, data: bytes) -> None:
        self.raw.pipe_file(f"{BUCKET}/{key}", data)

    def bucket_exists(self, bucket: str) -> bool:
        self.raw.invalidate_cache()
        return bool(self.raw.exists(bucket))

    def empty(self) -> None:
        for key in self.keys():
            self.raw.rm_file(f"{BUCKET}/{key}")


# -- the emulators, one per module run -------------------------------------------------------


@pytest.fixture(scope="module")
def s3_store() -> Iterator[Store]:
    if reason := _missing("moto.server", "s3fs", "airflow.providers.amazon"):
        pytest.skip(f"S3: {reason} (the [s3] extra and the test group)")
    import boto3
    import s3fs
    from moto import server as moto_server

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    raw = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        client_kwargs={"endpoint_url": endpoint, "region_name": "us-east-1"},
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    connections = {
        "AIRFLOW_CONN_CLOUD_S3": {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": extra,
        },
        "AIRFLOW_CONN_CLOUD_S3_BAD": {
            "conn_type": "aws",
            "login": "wrong",
            "password": "wrong",
            "extra": extra,
        },
    }

    def auth(count: str) -> Callable[[], None]:
        # moto checks signatures only when asked to (after this many unchecked requests).
        def post() -> None:
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{endpoint}/moto-api/reset-auth",
                    data=count.encode(),
                    headers={"Content-Type": "text/plain"},
                    method="POST",
                )
            ).close()

        return post

    with _connections(connections):
        yield Store(
            "s3", "s3", "cloud_s3", raw, bad_conn_id="cloud_s3_bad", auth_on=auth("0"), auth_off=auth("inf")
        )
    server.stop()


@pytest.fixture(scope="module")
def gcs_store() -> Iterator[Store]:
    if reason := _missing("gcp_storage_emulator", "gcsfs", "airflow.providers.google"):
        pytest.skip(f"Google Cloud Storage: {reason} (the [gcs] extra and the cloud-test group)")
    import gcsfs
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    _wait_for_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    raw = gcsfs.GCSFileSystem(
        token="anon", project="test", endpoint_url=endpoint, skip_instance_cache=True, cache_timeout=0
    )
    # The emulator checks no credentials: the connection is anonymous (the Google provider's
    # is_anonymous) and names the endpoint (gcs.endpoint), as one would for any GCS-compatible API.
    connection = {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": "test", "gcs.endpoint": endpoint},
    }
    # And one with no credentials at all: the provider falls back to Application Default
    # Credentials, which this machine has none of.
    no_credentials = {
        "conn_type": "google_cloud_platform",
        "extra": {"project": "test", "gcs.endpoint": endpoint},
    }
    connections = {"AIRFLOW_CONN_CLOUD_GCS": connection, "AIRFLOW_CONN_CLOUD_GCS_NONE": no_credentials}
    with _connections(connections):
        yield Store("gcs", "gs", "cloud_gcs", raw, bad_conn_id="cloud_gcs_none")
    server.stop()


@pytest.fixture(scope="module")
def azure_store() -> Iterator[Store]:
    if reason := _missing("adlfs", "airflow.providers.microsoft.azure", "azure.storage.blob"):
        pytest.skip(f"Azure: {reason} (the [azure] extra)")
    if not AZURITE.exists() or shutil.which("node") is None:
        missing = f"Azure: Azurite is not installed at {AZURITE.relative_to(REPO)} (make azurite)"
        if os.environ.get("CI"):
            pytest.fail(missing)  # under CI a missing referee is a failure, not a skip
        pytest.skip(missing)
    import adlfs

    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="cwgl-azurite-")
    proc = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc)
        endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"

        def connection_string(key: str) -> str:
            return (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={endpoint};"
            )

        raw = adlfs.AzureBlobFileSystem(
            connection_string=connection_string(AZURITE_KEY), skip_instance_cache=True
        )
        raw.mkdir(BUCKET)
        connections = {
            "AIRFLOW_CONN_CLOUD_AZURE": {
                "conn_type": "wasb",
                "extra": {"connection_string": connection_string(AZURITE_KEY)},
            },
            "AIRFLOW_CONN_CLOUD_AZURE_BAD": {
                "conn_type": "wasb",
                "extra": {"connection_string": connection_string(WRONG_AZURITE_KEY)},
            },
        }
        with _connections(connections):
            yield Store(
                "azure",
                "abfs",
                "cloud_azure",
                raw,
                bad_conn_id="cloud_azure_bad",
                secrets=[AZURITE_KEY, WRONG_AZURITE_KEY],
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


class _connections:
    """Set ``AIRFLOW_CONN_*`` variables for a module's run, and remove them after."""

    def __init__(self, connections: dict[str, dict[str, Any]]) -> None:
        self.connections = connections

    def __enter__(self) -> None:
        for name, value in self.connections.items():
            os.environ[name] = json.dumps(value)

    def __exit__(self, *exc: object) -> None:
        for name in self.connections:
            os.environ.pop(name, None)


@pytest.fixture(params=["s3", "gcs", "azure"])
def store(request: pytest.FixtureRequest) -> Store:
    emulated: Store = request.getfixturevalue(f"{request.param}_store")
    emulated.empty()
    return emulated


@pytest.fixture
def connected(cw_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("AIRFLOW_CONN_CONNECTWISE_DEFAULT", json.dumps(cw_sandbox.connection()))
    return cw_sandbox


def export(output_file: str, conn_id: str, **settings: Any) -> tuple[GLBatchExportOperator, dict[str, Any]]:
    operator = GLBatchExportOperator(
        task_id="export",
        output_file=output_file,
        output_conn_id=conn_id,
        export_unposted_procurement=True,
        thru_date=settings.pop("thru_date", "2026-03-01"),
        **settings,
    )
    return operator, operator.execute({})


# -- what lands in the store -----------------------------------------------------------------


def test_the_export_and_its_documents_object_land_beside_each_other(
    connected: Sandbox, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, local = export(str(tmp_path / "glexport.xml"), "")
    _, remote = export(store.url(KEY), store.conn_id)
    assert store.keys() == sorted([KEY, DOCS_KEY])  # no probe object or temporary file left
    assert store.read(KEY) == (tmp_path / "glexport.xml").read_bytes()
    assert store.read(DOCS_KEY) == (tmp_path / "glexport.xml.gl-docs.jsonl").read_bytes()
    assert remote["sha256"] == local["sha256"]
    assert remote["gl_documents_file"].endswith(f"{BUCKET}/{DOCS_KEY}")
    # The local disk the upload took is logged (the deployment guide sizes workers by it).
    logged = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith(f"Uploading {store.url(KEY)}: {remote['bytes']} bytes staged in ") for m in logged
    )
    assert any(m.startswith("Received ") and "bytes of GLExport JSON (staged in" in m for m in logged)


def test_the_batch_step_reads_the_ids_through_the_connection(connected: Sandbox, store: Store) -> None:
    _, summary = export(store.url(KEY), store.conn_id)
    result = GLBatchCreateOperator(
        task_id="mark", export_summary=summary, export_file_conn_id=store.conn_id, batch_identifier="CLOUD-1"
    ).execute({})
    assert result["created"] is True and result["records"] == summary["gl_entry_id_count"] > 0
    from_file = GLBatchCreateOperator(
        task_id="again",
        export_file=store.url(KEY),
        export_file_conn_id=store.conn_id,
        batch_identifier="CLOUD-1",
    ).execute({})
    assert (from_file["batch_id"], from_file["created"]) == (result["batch_id"], False)


def test_a_second_run_replaces_the_object_whole(connected: Sandbox, store: Store) -> None:
    export(store.url(KEY), store.conn_id, thru_date="2026-01-15")
    first = store.read(KEY)
    _, second = export(store.url(KEY), store.conn_id, thru_date="2030-01-01")
    body = store.read(KEY)
    assert body != first and len(body) == second["bytes"]
    assert store.keys() == sorted([KEY, DOCS_KEY])


def test_a_failed_run_keeps_the_previous_object(connected: Sandbox, store: Store) -> None:
    store.put(KEY, b"previous export")
    connected.faults.add(path="finance/accounting/export", status=400)
    with pytest.raises(ConnectWiseError):
        export(store.url(KEY), store.conn_id)
    connected.faults.clear()
    # Failing half way through the XML (a field no XML element can be named).
    [d for d in connected.store.documents if d.section == "transactions"][-1].body["bad name"] = 1
    with fails_task(ElementNameError):
        export(store.url(KEY), store.conn_id, thru_date="2030-01-01")
    assert store.read(KEY) == b"previous export"
    assert store.keys() == [KEY]


def test_asset_uri_and_lineage_name_the_object_not_the_connection(connected: Sandbox, store: Store) -> None:
    from airflow.sdk import AssetAlias

    operator, summary = export(store.url(KEY), store.conn_id)
    lineage = operator.get_openlineage_facets_on_complete(None)
    [output] = lineage.outputs
    assert (output.namespace, output.name) == (f"{store.scheme}://{BUCKET}", KEY)
    # The asset event a DAG run records for the file.
    events: dict[Any, Any] = {}

    class Outlet:
        def __init__(self) -> None:
            self.added: list[tuple[str, dict[str, Any]]] = []

        def add(self, asset: Any, extra: dict[str, Any]) -> None:
            self.added.append((asset.uri, extra))

    alias = AssetAlias("cwgl_cloud_test")
    events[alias] = Outlet()
    GLBatchExportOperator(
        task_id="export_with_alias",
        output_file=store.url(KEY),
        output_conn_id=store.conn_id,
        thru_date="2026-03-01",
        outlets=[alias],
    ).execute({"outlet_events": events})
    [(uri, extra)] = events[alias].added
    assert uri == store.url(KEY) and store.conn_id not in uri
    assert extra["sha256"] != summary["sha256"]  # invoices only this time, not procurement too
    assert extra["sha256"] == __import__("hashlib").sha256(store.read(KEY)).hexdigest()


# -- the preflight: refused before any ConnectWise request, in one try -----------------------


def _refused(store: Store, connected: Sandbox, url: str, conn_id: str) -> OutputStoreError:
    with fails_task(OutputStoreError) as failure:  # Airflow fails the task without retries
        export(url, conn_id)
    error = failure.value
    assert str(error).startswith("output_file/output_conn_id: ")
    assert repr(conn_id) in str(error)
    assert len(connected.log) == 0, connected.log.counts()
    for secret in store.secrets:
        assert secret not in str(error)
    return error


def test_a_missing_bucket_is_refused_and_never_created(connected: Sandbox, store: Store) -> None:
    error = _refused(store, connected, store.url(KEY, bucket="no-such-bucket"), store.conn_id)
    assert "no-such-bucket" in str(error) and "is never created" in str(error)
    assert not store.bucket_exists("no-such-bucket")


def test_wrong_or_no_credentials_are_refused(
    connected: Sandbox, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.bad_conn_id is not None
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    if store.auth_on is not None:
        store.auth_on()
    try:
        _refused(store, connected, store.url(KEY), store.bad_conn_id)
    finally:
        if store.auth_off is not None:
            store.auth_off()
    assert store.keys() == []


def test_a_dag_run_ends_in_one_try_with_no_connectwise_request(
    airflow_db: None, connected: Sandbox, store: Store
) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone

    dag = DagBag(dag_folder=str(REPO / "dags")).dags["cwgl_daily_gl_export"]
    run = dag.test(
        logical_date=timezone.datetime(2026, 3, 1),
        run_conf={"output_root": f"{store.scheme}://no-such-bucket/exports", "output_conn_id": store.conn_id},
    )
    ti = run.get_task_instance("export_gl_batch")
    assert (run.state, ti.state, ti.try_number) == ("failed", "failed", 1)  # despite retries=2
    assert len(connected.log) == 0
    assert not store.bucket_exists("no-such-bucket")


def test_a_store_that_does_not_answer_keeps_the_retries(
    connected: Sandbox, s3_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a setting error: an unreachable store (here a closed port) may answer on the next try."""
    from airflow_provider_cwgl.errors import OutputStoreUnavailable

    monkeypatch.setenv("AIRFLOW_CONN_CLOUD_S3_CLOSED", CLOSED_PORT_S3_CONNECTION)
    with pytest.raises(
        OutputStoreUnavailable, match="^output_file: could not reach the store for s3://"
    ) as info:
        export(s3_store.url(KEY), "cloud_s3_closed")
    assert not isinstance(info.value, AirflowFailException)
    assert len(connected.log) == 0
