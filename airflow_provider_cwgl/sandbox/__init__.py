"""A local ConnectWise Manage for the demo, the tests and the benchmark (as moto is for AWS). Example::

    from airflow_provider_cwgl.sandbox import Sandbox, generated_store
    with Sandbox(generated_store(transactions=500)) as cw:
        print(cw.url, cw.connection())

Command line: ``python -m airflow_provider_cwgl.sandbox --port 8123``.
Needs the ``sandbox`` extra (its HTTP server): ``pip install 'airflow-provider-cwgl[sandbox]'``.
"""

from importlib.util import find_spec

from airflow_provider_cwgl.sandbox.data import generated_store, sample_store
from airflow_provider_cwgl.sandbox.faults import Faults, RequestLog
from airflow_provider_cwgl.sandbox.store import SandboxStore

# The server's dependencies are an extra, not forced on production installs: say what is missing
# and how to get it, rather than fail deep inside server.py.
try:
    from airflow_provider_cwgl.sandbox.server import DEFAULT_CREDENTIALS, Sandbox
except ModuleNotFoundError as error:
    requirements = ("starlette", "uvicorn")
    if (error.name or "").partition(".")[0] not in requirements:
        raise
    missing = " and ".join(name for name in requirements if find_spec(name) is None)
    raise ModuleNotFoundError(
        f"The ConnectWise sandbox needs {missing}, which is not installed: "
        "pip install 'airflow-provider-cwgl[sandbox]'",
        name=error.name,
    ) from error

__all__ = [
    "DEFAULT_CREDENTIALS",
    "Faults",
    "RequestLog",
    "Sandbox",
    "SandboxStore",
    "generated_store",
    "sample_store",
]
