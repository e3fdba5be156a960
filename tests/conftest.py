"""Test set-up: an isolated Airflow home with SQLite, and the ConnectWise sandbox fixtures."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cwgl-airflow-home-")
# Airflow reads these at import time, so they are set before anything imports it.
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"

import pytest  # noqa: E402
from fake_xero import fake_time, xero  # noqa: E402, F401  (fixtures)
from xero_books import xero_books  # noqa: E402, F401  (fixture)
from xero_openapi import xero_openapi  # noqa: E402, F401  (fixture)

from airflow_provider_cwgl.connectwise import ConnectWiseSettings, RetryPolicy  # noqa: E402
from airflow_provider_cwgl.sandbox import DEFAULT_CREDENTIALS, Sandbox  # noqa: E402
from airflow_provider_cwgl.sandbox.store import SandboxStore  # noqa: E402

pytest_plugins = ["airflow_provider_cwgl.sandbox.pytest_plugin"]

FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, default_retry_after=0.05)


def settings_for(sandbox: Sandbox, **overrides: object) -> ConnectWiseSettings:
    """Client settings that reach ``sandbox``, with retries fast enough for tests."""
    creds = sandbox.credentials
    values: dict[str, object] = {
        "site": sandbox.url,
        "company_id": creds["company_id"],
        "public_key": creds["public_key"],
        "private_key": creds["private_key"],
        "client_id": creds["client_id"],
        "timeout": 5.0,
        "retry": FAST_RETRY,
    }
    values.update(overrides)
    return ConnectWiseSettings(**values)  # type: ignore[arg-type]


def posting_days(sandbox: Sandbox) -> list[date]:
    """Three consecutive days up to the data's anchor, each with unposted GL documents."""
    dated = {d.document_date for d in sandbox.store.documents if d.gl_entry_ids}
    day = sandbox.store.today
    while day > sandbox.store.today - timedelta(days=30):
        window = [day - timedelta(days=2), day - timedelta(days=1), day]
        if all(d in dated for d in window):
            return window
        day -= timedelta(days=1)
    raise AssertionError("the sandbox data has no three consecutive days with documents")


# An S3 connection to a port nothing listens on: the store does not answer.
CLOSED_PORT_S3_CONNECTION = json.dumps(
    {"conn_type": "aws", "login": "x", "password": "y", "extra": {"endpoint_url": "http://127.0.0.1:9"}}
)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The SQLite Airflow metadata DB, created once per session, for tests that run DAGs."""
    from airflow.utils import db

    db.initdb()


def airflow_kept(run: Any) -> str:
    """What Airflow stored for the run: XCom values and rendered fields, and task log files."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        xcoms = session.scalars(select(XComModel).where(XComModel.run_id == run.run_id)).all()
        rendered = session.scalars(
            select(RenderedTaskInstanceFields).where(RenderedTaskInstanceFields.run_id == run.run_id)
        ).all()
        stored = json.dumps([x.value for x in xcoms], default=str) + json.dumps(
            [r.rendered_fields for r in rendered], default=str
        )
    logs = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    files = [p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file() and run.dag_id in str(p)]
    return stored + "\n".join(files)


def secret_fragments(text: str, secrets: Iterable[str], size: int) -> list[str]:
    """Every ``size``-character piece of one of ``secrets`` that occurs in ``text``."""
    return [s[i : i + size] for s in secrets for i in range(len(s) - size + 1) if s[i : i + size] in text]


@pytest.fixture(autouse=True)
def no_secrets_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: the sandbox's private key, Basic auth value and client id never reach a log."""
    yield
    creds = DEFAULT_CREDENTIALS
    token = base64.b64encode(f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode())
    # caplog.text is per phase; in teardown it is empty, so read the setup and call records.
    logged = "\n".join(r.getMessage() for phase in ("setup", "call") for r in caplog.get_records(phase))
    for secret in (creds["private_key"], creds["client_id"], token.decode()):
        assert secret not in logged, "a secret reached the logs"


@pytest.fixture(scope="session")
def xero_referee() -> Any:
    """The referee for Xero traffic (tests/xero_referee.py): ``check(request, response)`` for an
    httpx pair, ``check_sandbox(sandbox)`` for every exchange a ``XeroSandbox`` logged; each raises
    ``AssertionError`` listing the violations of Xero's OpenAPI description."""
    from xero_referee import XeroReferee

    return XeroReferee()


@pytest.fixture
def xero_api(xero_referee: Any) -> Callable[..., Any]:
    """``xero_api(sandbox, checked=True, tenant_id=None, api_url=None)``: a small Xero client
    (tests/xero_client.py) whose every exchange ``xero_referee`` checks; ``api_url`` puts another
    accounting root (Prism's) in front of the sandbox."""

    from xero_client import XeroApi

    def make(
        sandbox: Any, *, checked: bool = True, tenant_id: str | None = None, api_url: str | None = None
    ) -> Any:
        return XeroApi(sandbox, xero_referee if checked else None, tenant_id, api_url)

    return make


@pytest.fixture
def sandbox_api(xero_sandbox: Any, xero_api: Callable[..., Any]) -> Any:
    """``xero_api(xero_sandbox)`` (``xero`` is tests/fake_xero.py's scripted Xero)."""
    return xero_api(xero_sandbox)


@pytest.fixture(scope="session")
def xero_prism_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy of Xero's description Prism validates with (tests/xero_prism.py says why a copy)."""
    from xero_prism import write_prism_copy

    return write_prism_copy(tmp_path_factory.mktemp("prism") / "xero_accounting.prism.json")


@pytest.fixture
def xero_prism(xero_prism_spec: Path, tmp_path: Path) -> Iterator[Any]:
    """``xero_prism(sandbox)``: Stoplight Prism validating every request and answer in front of a
    ``XeroSandbox``; use ``proxy.url`` as the connection's host (``sandbox.connection(host=...)``)
    and assert ``proxy.violations() == []``. Skips where Prism is not installed (``make prism``),
    except under CI, where a missing referee fails."""
    from xero_prism import prism_missing, start_prism

    missing = prism_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    started: list[Any] = []

    def start(sandbox: Any) -> Any:
        proxy = start_prism(xero_prism_spec, sandbox.url, tmp_path / f"prism-{len(started)}.log")
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def fixtures_dir() -> Path:
    return REPO / "tests" / "fixtures"


def without_adjustments(store: SandboxStore) -> SandboxStore:
    """``store`` without inventory adjustments. They carry no GL entry id, so no batch holds them
    and a batch's re-export lacks them (docs/design.md, "Known gaps"): posting tests that compare a day's
    file with its re-export leave them out."""
    store.documents = [d for d in store.documents if d.section != "adjustmentTransactions"]
    return store


class TaskFailure:
    """What ``fails_task`` caught: ``task_error`` failed the task, ``value`` is the package error
    that caused it (its ``__cause__``)."""

    task_error: BaseException
    value: Any


@contextlib.contextmanager
def fails_task(error: type[BaseException], match: str | None = None) -> Iterator[TaskFailure]:
    """The block fails its task without retries (``AirflowFailException``) because of an ``error``
    whose message matches ``match``; the failure carries that message as its own."""
    from airflow.sdk.exceptions import AirflowFailException

    failure = TaskFailure()
    with pytest.raises(AirflowFailException, match=match) as info:
        yield failure
    cause = info.value.__cause__
    assert isinstance(cause, error), f"caused by {cause!r}, not a {error.__name__}"
    assert str(info.value) == str(cause)
    assert match is None or re.search(match, str(cause))
    failure.task_error, failure.value = info.value, cause


# -- S3 on loopback (moto's server mode), for the object-storage tests ---------------------------

BUCKET = "gl-exports"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    # One line per request otherwise, in every failure report.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty ``BUCKET``, and the connection ``aws_s3_test`` to it."""
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_S3_TEST", json.dumps(connection))
    return client


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the S3 API at ``endpoint`` with moto's keys (it accepts any); the code
    under test gets them only through an Airflow connection."""
    boto3 = pytest.importorskip("boto3")
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def bucket_keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


# -- Runs of the operators and the writer, shared by several modules ------------------------------


def export_every_collection(tmp_path: Path, name: str = "glexport.xml", **settings: object) -> dict:
    """Run the export operator for thru date 2026-03-01 with all three collections into
    ``tmp_path / name``, through the connection ``connectwise_default``; return its summary."""
    from airflow_provider_cwgl.operators.gl_export import GLBatchExportOperator

    settings = {
        "export_unposted_expenses": True,
        "export_unposted_procurement": True,
        "thru_date": "2026-03-01",
        **settings,
    }
    return GLBatchExportOperator(task_id="export", output_file=str(tmp_path / name), **settings).execute({})


def summary_ids(summary: dict) -> list[int]:
    """The GL entry ids of a local export's summary: the union of its documents file's ids,
    checked against the summary's sha256 (as the batch step reads them)."""
    from airflow_provider_cwgl.glexport.documents import read_documents

    with open(summary["gl_documents_file"], "rb") as source:
        docs = list(read_documents(source, summary["sha256"]))
    return sorted(set().union(*(d["gl_entry_ids"] for d in docs)))


def xml_ids(source: Any) -> tuple[list[int], dict[str, bool]]:
    """The GL entry ids and export flags of a GLExport XML file, read back as the batch step does."""
    from airflow_provider_cwgl.glexport.documents import select_documents
    from airflow_provider_cwgl.glexport.xml_reader import documents_from_xml

    selection = select_documents(documents_from_xml(source), None)
    return selection.contents.ids().tolist(), selection.flags()


def write_xml(document: str | dict) -> tuple[bytes, Any]:
    """The writer's XML for a JSON export body (text or dict), and the writer, for its counts."""
    import io

    from airflow_provider_cwgl.glexport.xml_writer import GLExportXmlWriter

    text = document if isinstance(document, str) else json.dumps(document)
    out = io.BytesIO()
    writer = GLExportXmlWriter()
    writer.write(io.BytesIO(text.encode()), out)
    return out.getvalue(), writer
